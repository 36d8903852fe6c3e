job "example" {
  datacenters = ["dc1"]

  group "g" {
    task "t" {
      driver = "exec"

      service {
        check {
          type     = "script"
          command  = "true"
          interval = "10s"
          timeout  = "2s"

          check_restart {
            limit    = 3
            cooldown = "1m"
          }
        }
      }
    }
  }
}
