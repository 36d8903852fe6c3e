job "fetcher" {
  datacenters = ["dc1"]

  group "g" {
    task "t" {
      driver = "exec"

      artifact {
        source = "https://example.com/releases/tool.tar.gz"
      }

      artifact {
        source      = "https://example.com/configs/app.conf"
        destination = "local/etc"
        mode        = "file"
      }

      artifact {
        source      = "git::https://example.com/repo.git"
        destination = "local/repo"
        mode        = "dir"

        options {
          ref   = "v1.2.0"
          depth = 1
        }
      }

      artifact {
        source = "s3::https://bucket.s3.amazonaws.com/blob.zip"

        options {
          checksum           = "sha256:0123456789abcdef"
          aws_access_key_id  = "AKIAEXAMPLE"
        }
      }
    }
  }
}
