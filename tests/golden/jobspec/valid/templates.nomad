job "templated" {
  datacenters = ["dc1"]

  group "g" {
    task "t" {
      driver = "exec"

      template {
        source      = "local/app.conf.tpl"
        destination = "local/app.conf"
      }

      template {
        data = <<EOT
listen {{ env "NOMAD_ADDR_http" }}
upstream = {{ key "service/app/upstream" }}
EOT

        destination     = "local/nginx.conf"
        change_mode     = "signal"
        change_signal   = "SIGHUP"
        splay           = "10s"
        perms           = "0600"
        left_delimiter  = "[["
        right_delimiter = "]]"
      }

      template {
        data        = "DB_PASSWORD={{ with secret \"secret/db\" }}{{ .Data.password }}{{ end }}"
        destination = "secrets/db.env"
        env         = true
        change_mode = "noop"
        vault_grace = "15m"
        splay       = 0
      }

      template {
        data        = "static"
        destination = "local/static.txt"
        change_mode = "restart"
        perms       = 755
        vault_grace = 300000000000
      }
    }
  }
}
