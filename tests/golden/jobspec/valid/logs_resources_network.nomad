job "network-heavy" {
  datacenters = ["dc1"]

  group "g" {
    task "gateway" {
      driver = "docker"

      logs {
        max_files     = 5
        max_file_size = 15
      }

      resources {
        cpu    = 1200
        memory = 512
        disk   = 100
        iops   = 20

        network {
          mbits = 50

          port "http" {
            static = 80
          }

          port "https" {
            static = 443
          }

          port "metrics" {}

          port "admin_ui" {}
        }
      }
    }
  }
}
