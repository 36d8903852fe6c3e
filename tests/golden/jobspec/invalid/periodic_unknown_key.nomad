job "example" {
  type        = "batch"
  datacenters = ["dc1"]

  periodic {
    cron     = "*/5 * * * *"
    schedule = "daily"
  }

  group "g" {
    task "t" {
      driver = "exec"
    }
  }
}
