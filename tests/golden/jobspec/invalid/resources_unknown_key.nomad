job "example" {
  datacenters = ["dc1"]

  group "g" {
    task "web" {
      driver = "exec"

      resources {
        cpu    = 100
        memory = 128
        gpu    = 1
      }
    }
  }
}
