job "placement" {
  datacenters = ["dc1"]

  constraint {
    attribute = "${attr.kernel.name}"
    value     = "linux"
  }

  constraint {
    attribute = "${attr.nomad.version}"
    version   = ">= 0.7.0, < 0.8"
  }

  constraint {
    distinct_hosts = true
  }

  group "cache" {
    constraint {
      attribute = "${node.class}"
      operator  = "!="
      value     = "spot"
    }

    constraint {
      distinct_property = "${meta.rack}"
    }

    # distinct_hosts = false is dropped by the parser
    constraint {
      distinct_hosts = false
    }

    task "redis" {
      driver = "docker"

      constraint {
        attribute = "${attr.unique.hostname}"
        regexp    = "^cache-[0-9]+$"
      }

      constraint {
        attribute    = "${meta.features}"
        set_contains = "ssd,avx2"
      }

      constraint {
        attribute = "${attr.cpu.numcores}"
        operator  = ">="
        value     = "4"
      }
    }
  }
}
