job "rolling" {
  datacenters = ["dc1"]

  update {
    stagger          = "30s"
    max_parallel     = 2
    health_check     = "checks"
    min_healthy_time = "15s"
    healthy_deadline = "1h30m"
    auto_revert      = true
    canary           = 1
  }

  group "web" {
    count = 4

    task "nginx" {
      driver = "docker"
    }
  }
}
