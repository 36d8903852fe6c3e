job "nightly-report" {
  type        = "batch"
  datacenters = ["dc1"]

  periodic {
    cron             = "0 3 * * *"
    prohibit_overlap = true
    time_zone        = "America/New_York"
  }

  group "report" {
    task "generate" {
      driver = "exec"

      config {
        command = "/usr/local/bin/report"
      }
    }
  }
}
