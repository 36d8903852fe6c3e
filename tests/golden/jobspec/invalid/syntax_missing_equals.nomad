job "example" {
  datacenters = ["dc1"]

  group "g" {
    count 3

    task "t" {
      driver = "exec"
    }
  }
}
