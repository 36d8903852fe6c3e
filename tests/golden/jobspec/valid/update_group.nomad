job "rolling-groups" {
  datacenters = ["dc1"]

  update {
    max_parallel = 1
    health_check = "task_states"
  }

  group "front" {
    # durations written as plain numbers are nanoseconds
    update {
      stagger          = 5000000000
      max_parallel     = 3
      min_healthy_time = 10000000000
      healthy_deadline = "2m"
      auto_revert      = false
      canary           = 0
    }

    task "proxy" {
      driver = "docker"
    }
  }

  group "back" {
    update {
      health_check = "manual"
      canary       = 2
    }

    task "worker" {
      driver = "exec"
    }
  }
}
