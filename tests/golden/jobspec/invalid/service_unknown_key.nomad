job "example" {
  datacenters = ["dc1"]

  group "g" {
    task "web" {
      driver = "exec"

      service {
        name    = "web"
        enabled = true
      }
    }
  }
}
