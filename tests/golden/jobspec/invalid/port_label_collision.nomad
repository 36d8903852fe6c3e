job "example" {
  datacenters = ["dc1"]

  group "g" {
    task "t" {
      driver = "docker"

      resources {
        network {
          port "Admin" {}
          port "admin" {
            static = 9000
          }
        }
      }
    }
  }
}
