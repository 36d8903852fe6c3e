job {
  datacenters = ["dc1"]

  group "g" {
    task "t" {
      driver = "exec"
    }
  }
}
