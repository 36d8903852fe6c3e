job "example" {
  datacenters = ["dc1"]

  group "g" {
    task "t" {
      driver = "exec"

      logs {
        max_files = 3
        compress  = true
      }
    }
  }
}
