job "example" {
  datacenters = ["dc1"]

  group "g" {
    task "t" {
      driver = "exec"
      user   = "domain\qadmin"
    }
  }
}
