job "weakly-typed" {
  datacenters = ["dc1"]
  priority    = "70"
  all_at_once = "true"

  update {
    max_parallel = "2"
    canary       = "1"
    auto_revert  = 1
  }

  meta {
    replicas = 3
    ratio    = 0.25
    enabled  = true
    disabled = false
  }

  group "g" {
    count = "3"

    restart {
      attempts = "4"
    }

    ephemeral_disk {
      sticky = "true"
      size   = "500"
    }

    task "t" {
      driver = "docker"
      leader = "true"

      logs {
        max_files     = "2"
        max_file_size = "8"
      }

      resources {
        cpu    = "500"
        memory = "256"
        iops   = 5.0

        network {
          mbits = "10"

          port "db" {
            static = "8080"
          }
        }
      }

      service {
        port = "db"

        check {
          type            = "tcp"
          interval        = "10s"
          timeout         = "2s"
          tls_skip_verify = "1"

          check_restart {
            limit           = "2"
            ignore_warnings = "false"
          }
        }
      }
    }
  }
}
