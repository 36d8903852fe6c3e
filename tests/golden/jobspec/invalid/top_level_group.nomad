group "orphan" {
  task "t" {
    driver = "exec"
  }
}
