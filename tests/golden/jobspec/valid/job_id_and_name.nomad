# The block label becomes the ID; "name" and "id" keys are also accepted
# and decoded over it.
job "label-value" {
  id          = "explicit-id"
  name        = "Human Readable Name"
  datacenters = ["dc2"]

  group "g1" {
    task "t1" {
      driver = "exec"
    }
  }
}
