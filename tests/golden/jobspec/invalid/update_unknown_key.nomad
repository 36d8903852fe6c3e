job "example" {
  datacenters = ["dc1"]

  update {
    max_parallel = 1
    batch_size   = 5
  }

  group "g" {
    task "t" {
      driver = "exec"
    }
  }
}
