# hash comment at the top of the file
// double-slash comment
/* block comment
   spanning several lines */
job "commented" { # trailing hash comment
  datacenters = ["dc1"] // trailing slash comment

  /* block comment before a group */
  group "g" {
    task "t" {
      driver = "exec" /* inline block comment */

      config {
        command = "/bin/sh"
        args = ["-c", <<SCRIPT
echo "first line"
echo 'second line'  # not a comment inside a heredoc
SCRIPT
        ]
      }

      template {
        data = <<-INDENTED
          key = "value"
            nested = true
          INDENTED
        destination = "local/indented.conf"
      }

      env {
        BANNER = <<EOF
multi
line
EOF
      }
    }
  }
}
