job "example" {
  type        = "batch"
  datacenters = ["dc1"]

  parameterized {}

  group "g" {
    task "t" {
      driver = "exec"

      dispatch_payload {
        file   = "input.txt"
        format = "json"
      }
    }
  }
}
