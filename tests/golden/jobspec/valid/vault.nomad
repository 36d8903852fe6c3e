job "secrets" {
  datacenters = ["dc1"]

  vault {
    policies = ["job-default"]
  }

  group "inherits-job" {
    task "a" {
      driver = "exec"
    }
  }

  group "has-own" {
    vault {
      policies      = ["group-policy", "shared"]
      change_mode   = "signal"
      change_signal = "SIGUSR1"
    }

    task "b" {
      driver = "exec"
    }

    task "c" {
      driver = "exec"

      vault {
        policies    = ["task-only"]
        env         = false
        change_mode = "noop"
      }
    }
  }
}
