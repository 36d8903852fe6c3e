job "web-checks" {
  datacenters = ["dc1"]

  group "g" {
    task "web" {
      driver = "docker"

      service {
        name         = "web"
        tags         = ["http", "v2"]
        port         = "http"
        address_mode = "host"

        check {
          name     = "alive"
          type     = "http"
          path     = "/health"
          protocol = "https"
          port     = "http"
          method   = "POST"
          interval = "10s"
          timeout  = "2s"

          initial_status  = "warning"
          tls_skip_verify = true

          header {
            Authorization = ["Bearer xyz"]
            X-Trace       = ["a", "b"]
          }

          check_restart {
            limit           = 3
            grace           = "90s"
            ignore_warnings = true
          }
        }

        check {
          type     = "tcp"
          port     = "http"
          interval = "15s"
          timeout  = "1s"
        }

        check {
          name     = "script-check"
          type     = "script"
          command  = "/usr/local/bin/check.sh"
          args     = ["-v", "--quick"]
          interval = "1m"
          timeout  = "5s"

          check_restart {
            limit = 1
          }
        }
      }

      resources {
        network {
          port "http" {}
        }
      }
    }
  }
}
