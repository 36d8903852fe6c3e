job "example" {
  datacenters = ["dc1"]

  group "g" {
    ephemeral_disk {
      size = 300
      type = "ssd"
    }

    task "t" {
      driver = "exec"
    }
  }
}
