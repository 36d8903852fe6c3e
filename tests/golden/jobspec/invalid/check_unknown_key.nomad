job "example" {
  datacenters = ["dc1"]

  group "g" {
    task "web" {
      driver = "exec"

      service {
        name = "web"

        check {
          type     = "tcp"
          interval = "10s"
          timeout  = "2s"
          retries  = 3
        }
      }
    }
  }
}
