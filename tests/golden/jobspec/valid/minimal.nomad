job "minimal" {
  datacenters = ["dc1"]

  group "app" {
    task "server" {
      driver = "raw_exec"
    }
  }
}
