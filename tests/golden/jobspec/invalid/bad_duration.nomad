job "example" {
  datacenters = ["dc1"]

  group "g" {
    task "t" {
      driver       = "exec"
      kill_timeout = "10 seconds"
    }
  }
}
