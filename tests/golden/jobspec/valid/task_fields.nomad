job "task-fields" {
  datacenters = ["dc1"]

  group "g" {
    task "main" {
      driver         = "exec"
      user           = "nobody"
      leader         = true
      kill_timeout   = "45s"
      kill_signal    = "SIGINT"
      shutdown_delay = "5s"

      env {
        APP_ENV   = "production"
        LOG_LEVEL = "info"
        WORKERS   = 8
      }

      meta {
        version = "1.4.2"
        commit  = "abc1234"
      }
    }

    task "helper" {
      driver = "exec"
      leader = false

      env {
        ONE = "1"
      }

      env {
        TWO = "2"
      }
    }
  }
}
