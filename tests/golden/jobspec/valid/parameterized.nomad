job "video-encode" {
  type        = "batch"
  datacenters = ["dc1"]

  parameterized {
    payload       = "required"
    meta_required = ["input_url", "codec"]
    meta_optional = ["bitrate"]
  }

  group "encode" {
    task "ffmpeg" {
      driver = "exec"

      dispatch_payload {
        file = "job-input.json"
      }

      config {
        command = "ffmpeg"
        args    = ["-i", "${NOMAD_META_INPUT_URL}"]
      }
    }
  }
}
