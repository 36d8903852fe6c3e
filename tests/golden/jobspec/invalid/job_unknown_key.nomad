job "example" {
  datacenters = ["dc1"]
  colour      = "blue"

  group "g" {
    task "t" {
      driver = "exec"
    }
  }
}
