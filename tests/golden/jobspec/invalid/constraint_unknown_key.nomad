job "example" {
  datacenters = ["dc1"]

  constraint {
    attribute = "${attr.kernel.name}"
    equals    = "linux"
  }

  group "g" {
    task "t" {
      driver = "exec"
    }
  }
}
