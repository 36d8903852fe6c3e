job "example" {
  datacenters = ["dc1"]

  group "cache" {
    count     = 1
    instances = 2

    task "t" {
      driver = "exec"
    }
  }
}
