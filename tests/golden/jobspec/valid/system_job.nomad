job "node-agent" {
  type        = "system"
  datacenters = ["dc1", "dc2", "dc3"]
  priority    = 90

  constraint {
    attribute = "${attr.kernel.name}"
    operator  = "="
    value     = "linux"
  }

  group "agent" {
    task "collector" {
      driver = "raw_exec"
      user   = "root"

      config {
        command = "/opt/collector/bin/collector"
        args    = ["-config", "/etc/collector.hcl"]
      }

      resources {
        cpu    = 50
        memory = 32

        network {
          mbits = 1
          port "stats" {
            static = 9100
          }
        }
      }

      logs {
        max_files = 1
      }
    }
  }
}
