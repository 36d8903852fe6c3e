job "hourly" {
  type        = "batch"
  datacenters = ["dc1"]

  periodic {
    enabled          = "false"
    cron             = "@hourly"
    prohibit_overlap = false
  }

  group "g" {
    task "t" {
      driver = "raw_exec"
    }
  }
}
