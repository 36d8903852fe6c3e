job "first" {
  datacenters = ["dc1"]
}

job "second" {
  datacenters = ["dc1"]
}
