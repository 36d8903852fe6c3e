job "example" {
  datacenters = ["dc1"]

  group "g" {
    count = "three"

    task "t" {
      driver = "exec"
    }
  }
}
