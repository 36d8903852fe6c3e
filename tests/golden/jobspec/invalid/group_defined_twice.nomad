job "example" {
  datacenters = ["dc1"]

  group "web" {
    task "a" {
      driver = "exec"
    }
  }

  group "web" {
    task "b" {
      driver = "exec"
    }
  }
}
