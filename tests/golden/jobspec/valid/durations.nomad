job "timing" {
  datacenters = ["dc1"]

  update {
    stagger          = "1m30s"
    min_healthy_time = "250ms"
    healthy_deadline = "1.5h"
  }

  group "g" {
    restart {
      attempts = 2
      interval = "1h30m"
      delay    = 15000000000
      mode     = "delay"
    }

    task "slow" {
      driver         = "exec"
      kill_timeout   = 20000000000
      shutdown_delay = "2m"

      template {
        data        = "x"
        destination = "local/x"
        splay       = "1m"
        vault_grace = "10s"
      }

      service {
        check {
          type     = "script"
          command  = "true"
          interval = "2m30s"
          timeout  = 500000000

          check_restart {
            grace = "1h"
          }
        }
      }
    }

    task "fast" {
      driver         = "exec"
      kill_timeout   = "100ms"
      shutdown_delay = 0
    }
  }
}
