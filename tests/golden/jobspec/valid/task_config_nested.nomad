job "docker-config" {
  datacenters = ["dc1"]

  group "g" {
    task "app" {
      driver = "docker"

      config {
        image      = "example/app:2.1"
        command    = "/bin/app"
        args       = ["--port", "8080", "--verbose"]
        privileged = false
        dns_servers = ["10.0.0.2", "10.0.0.3"]

        port_map {
          http  = 8080
          admin = 9000
        }

        labels {
          team = "platform"
        }

        logging {
          type = "syslog"

          config {
            tag = "app"
          }
        }

        auth {
          username = "ci"
          password = "secret"
        }
      }
    }
  }
}
