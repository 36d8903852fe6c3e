job "example" {
  datacenters = ["dc1"]

  group "g" {
    task "web" {
      driver = "exec"

      resources {
        network {
          mbits     = 10
          bandwidth = 20
        }
      }
    }
  }
}
