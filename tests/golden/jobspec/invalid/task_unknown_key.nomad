job "example" {
  datacenters = ["dc1"]

  group "g" {
    task "web" {
      driver = "exec"
      image  = "nginx:1.13"
    }
  }
}
