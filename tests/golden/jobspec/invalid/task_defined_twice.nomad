job "example" {
  datacenters = ["dc1"]

  group "g" {
    task "worker" {
      driver = "exec"
    }

    task "worker" {
      driver = "docker"
    }
  }
}
