job "example" {
  datacenters = ["dc1"]

  group "g" {
    task "t" {
      driver = "exec"

      template {
        data        = "hello"
        destination = "local/hello.txt"
        owner       = "root"
      }
    }
  }
}
