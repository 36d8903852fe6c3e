job "example" {
  datacenters = ["dc1"]

  group "g" {
    task "t" {
      driver = "exec"

      vault {
        policies = ["p1"]
        role     = "r1"
      }
    }
  }
}
