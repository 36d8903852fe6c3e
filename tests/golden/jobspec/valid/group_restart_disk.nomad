job "stateful" {
  datacenters = ["dc1"]

  group "db" {
    count = 3

    restart {
      attempts = 5
      interval = "10m"
      delay    = "25s"
      mode     = "delay"
    }

    ephemeral_disk {
      sticky  = true
      migrate = true
      size    = 2048
    }

    meta {
      role = "primary"
    }

    meta {
      backup = "daily"
    }

    task "postgres" {
      driver = "docker"
    }
  }

  group "sidecar" {
    restart {
      attempts = 0
      mode     = "fail"
    }

    ephemeral_disk {
      size = 150
    }

    task "exporter" {
      driver = "exec"
    }
  }
}
