job "example" {
  datacenters = ["dc1"]

  group "g" {
    task "t" {
      driver = "exec"

      # 0.7.1 only accepts check_restart inside a check block
      service {
        name = "svc"

        check_restart {
          limit = 2
        }
      }
    }
  }
}
