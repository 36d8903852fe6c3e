job "loose-tasks" {
  datacenters = ["dc1"]

  task "alpha" {
    driver = "exec"

    resources {
      cpu    = 100
      memory = 64
    }
  }

  task "beta" {
    driver = "raw_exec"
  }

  group "grouped" {
    task "gamma" {
      driver = "exec"
    }
  }

  vault {
    policies = ["loose"]
    env      = true
  }
}
