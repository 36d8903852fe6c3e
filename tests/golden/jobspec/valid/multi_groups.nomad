job "shop" {
  datacenters = ["us-east-1", "us-west-2"]
  type        = "service"

  meta {
    a = "1"
  }

  meta {
    b = "2"
  }

  group "frontend" {
    count = 2

    task "ui" {
      driver = "docker"
    }

    task "cdn-sync" {
      driver = "exec"
    }
  }

  group "backend" {
    count = 5

    task "api" {
      driver = "java"

      config {
        jar_path    = "local/api.jar"
        jvm_options = ["-Xmx512m", "-Xms256m"]
      }
    }
  }

  group "empty-group" {}
}
