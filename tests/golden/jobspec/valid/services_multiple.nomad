job "multi-service" {
  datacenters = ["dc1"]

  group "g" {
    task "app" {
      driver = "docker"

      service {
        port = "api"
      }

      service {
        name         = "app-grpc"
        tags         = ["grpc"]
        port         = "grpc"
        address_mode = "driver"

        check {
          type         = "tcp"
          port         = "grpc"
          address_mode = "driver"
          interval     = 5000000000
          timeout      = 1000000000
          initial_status = "critical"
        }

        check {
          type     = "http"
          path     = "/ready"
          port     = "api"
          interval = "30s"
          timeout  = "3s"

          header {
            Accept = ["application/json"]
          }

          header {
            Accept  = ["text/plain"]
            X-Other = ["1"]
          }

          check_restart {
            grace = 60000000000
          }
        }
      }

      service {
        name         = "app-auto"
        address_mode = "auto"
      }

      resources {
        network {
          port "api" {}
          port "grpc" {}
        }
      }
    }
  }
}
