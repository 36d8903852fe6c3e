job "example" {
  datacenters = ["dc1"]

  group "g" {
    restart {
      attempts = 3
      backoff  = "exponential"
    }

    task "t" {
      driver = "exec"
    }
  }
}
