job "example" {
  datacenters = ["dc1"]

  group "g" {
    task "t" {
      driver = "exec"

      artifact {
        source   = "https://example.com/file.tgz"
        checksum = "md5:abc"
      }
    }
  }
}
