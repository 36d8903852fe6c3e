job "example" {
  type        = "batch"
  datacenters = ["dc1"]

  parameterized {
    payload      = "optional"
    meta_default = ["x"]
  }

  group "g" {
    task "t" {
      driver = "exec"
    }
  }
}
