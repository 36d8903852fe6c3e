job "operators" {
  datacenters = ["dc1"]

  group "g" {
    task "t" {
      driver = "exec"

      // explicit operator spellings instead of the shortcut keys
      constraint {
        attribute = "${attr.os.version}"
        operator  = "version"
        value     = "~> 16.04"
      }

      constraint {
        attribute = "${attr.arch}"
        operator  = "regexp"
        value     = "amd64|arm64"
      }

      constraint {
        operator = "distinct_hosts"
        value    = "true"
      }

      constraint {
        distinct_hosts = "true"
      }

      constraint {
        distinct_property = "${node.datacenter}"
        value             = "2"
      }

      constraint {
        attribute = "${meta.zone}"
        operator  = "<"
        value     = "c"
      }
    }
  }
}
