job "billing-api" {
  region      = "eu-west"
  namespace   = "finance"
  type        = "service"
  priority    = 75
  all_at_once = true
  datacenters = ["eu-west-1a", "eu-west-1b"]
  vault_token = "s.fake-token-for-tests"

  meta {
    owner = "payments-team"
    tier  = "gold"
  }

  group "api" {
    task "web" {
      driver = "docker"
    }
  }
}
