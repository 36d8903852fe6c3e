"""ACLs and namespaces as Nomad v0.7.1 applies them to the Jobs endpoints."""

from __future__ import annotations

from typing import Any, Callable

import pytest

from nomadjobs import Cluster, QueryOptions, WriteOptions
from nomadjobs import codec
from nomadjobs import fsm
from nomadjobs import structs as s
from nomadjobs.acl import PolicyError, parse_rules
from test_jobs_helpers import BATCH, PARAM, PERIODIC, SERVICE, job, register, rejected

DENIED = "Permission denied"
NO_TOKEN = "ACL token not found"
INVALID = "2 error(s) occurred:\n\n* Missing job datacenters\n* Missing job task groups"


class Env:
    """A cluster with ACLs on, a few jobs, and helpers to mint policies and tokens."""

    def __init__(self) -> None:
        self.cluster = Cluster(acl=True, seed=9)
        self.mgmt = self.cluster.bootstrap_token.SecretID
        register(self.cluster, job(SERVICE), WriteOptions(token=self.mgmt))
        register(self.cluster, job(PARAM), WriteOptions(token=self.mgmt))
        register(self.cluster, job(PERIODIC), WriteOptions(token=self.mgmt))

    def policy(self, name: str, rules: str) -> None:
        self.cluster.apply(fsm.ACLPolicyUpsert([s.ACLPolicy(Name=name, Rules=rules)]))

    def token(self, *policies: str) -> str:
        tok = s.ACLToken(AccessorID=self.cluster.new_id(), SecretID=self.cluster.new_id(), Name="test",
                         Type=s.ACL_CLIENT_TOKEN, Policies=list(policies))
        self.cluster.apply(fsm.ACLTokenUpsert([tok]))
        return tok.SecretID

    def q(self, token: str, **kw: Any) -> QueryOptions:
        return QueryOptions(token=token, **kw)

    def w(self, token: str, **kw: Any) -> WriteOptions:
        return WriteOptions(token=token, **kw)


@pytest.fixture
def env() -> Env:
    return Env()


def reads(env: Env, token: str) -> dict[str, Callable[[], Any]]:
    jobs, q = env.cluster.jobs, env.q(token)
    return {
        "get": lambda: jobs.get_job("web", q),
        "versions": lambda: jobs.job_versions("web", True, q),
        "allocations": lambda: jobs.job_allocations("web", True, q),
        "evaluations": lambda: jobs.job_evaluations("web", q),
        "deployments": lambda: jobs.job_deployments("web", q),
        "deployment": lambda: jobs.job_latest_deployment("web", q),
        "summary": lambda: jobs.job_summary("web", q),
        "validate": lambda: jobs.validate_job(s.JobValidateRequest(Job=job(SERVICE)), env.w(token)),
    }


def writes(env: Env, token: str) -> dict[str, Callable[[], Any]]:
    jobs, w = env.cluster.jobs, env.w(token)
    return {
        "register": lambda: register(env.cluster, job(SERVICE, Priority=61), w),
        "plan": lambda: jobs.plan_job(s.JobPlanRequest(Job=job(SERVICE, Priority=62)), w),
        "deregister": lambda: jobs.deregister_job("web", False, w),
        "revert": lambda: jobs.revert_job("web", s.JobRevertRequest(JobID="web", JobVersion=0), w),
        "stable": lambda: jobs.stable_job("web", s.JobStabilityRequest(JobID="web", JobVersion=0, Stable=True), w),
        "force": lambda: jobs.periodic_force("cron", w),
    }


def dispatch(env: Env, token: str) -> Any:
    return env.cluster.jobs.dispatch_job("param", s.JobDispatchRequest(Meta={"who": "x"}), env.w(token))


# --- ACLs off ------------------------------------------------------------------------------------------------

def test_acls_off_by_default_tokens_ignored() -> None:
    cluster = Cluster(seed=1)
    assert cluster.acl_enabled is False and cluster.bootstrap_token is None
    w, q = WriteOptions(token="not-a-real-secret"), QueryOptions(token="not-a-real-secret")
    resp = register(cluster, job(SERVICE), w)
    assert resp.EvalID
    assert [j.ID for j in cluster.jobs.list_jobs(q)[0]] == ["web"]
    assert cluster.jobs.get_job("web", q)[0].ID == "web"
    # body-carried secrets are ignored too
    register(cluster, job(BATCH), SecretID="bogus")
    assert cluster.jobs.deregister_job("web", True, w).EvalID


# --- tokens ----------------------------------------------------------------------------------------------------

def test_management_token_can_do_everything(env: Env) -> None:
    assert env.cluster.bootstrap_token.Type == "management"
    assert {j.ID for j in env.cluster.jobs.list_jobs(env.q(env.mgmt))[0]} == {"web", "param", "cron"}
    for call in reads(env, env.mgmt).values():
        call()
    assert dispatch(env, env.mgmt).DispatchedJobID
    for call in writes(env, env.mgmt).values():
        call()
    register(env.cluster, job(SERVICE, Priority=77), env.w(env.mgmt), PolicyOverride=True)
    env.cluster.jobs.evaluate_job("web", env.w(env.mgmt))


UNKNOWN = "00000000-0000-4000-8000-00000000dead"  # well-formed, never issued


def test_unknown_secret_is_403_token_not_found(env: Env) -> None:
    c = env.cluster
    rejected(c, lambda: c.jobs.list_jobs(env.q(UNKNOWN)), 403, NO_TOKEN)
    for call in {**reads(env, UNKNOWN), **writes(env, UNKNOWN)}.values():
        rejected(c, call, 403, NO_TOKEN)
    rejected(c, lambda: dispatch(env, UNKNOWN), 403, NO_TOKEN)
    rejected(c, lambda: c.jobs.evaluate_job("web", env.w(UNKNOWN)), 403, NO_TOKEN)


def test_a_secret_that_is_not_a_uuid_fails_the_lookup_with_a_500(env: Env) -> None:
    # memdb's UUID index refuses it before any token is looked at (nomad/state/schema.go).
    c = env.cluster
    message = "acl token lookup failed: index error: UUID must be 36 characters"
    rejected(c, lambda: c.jobs.list_jobs(env.q("nope")), 500, message)
    for call in {**reads(env, "nope"), **writes(env, "nope")}.values():
        rejected(c, call, 500, message)


def test_anonymous_denied_without_anonymous_policy(env: Env) -> None:
    c = env.cluster
    rejected(c, lambda: c.jobs.list_jobs(env.q("")), 403, DENIED)
    for call in {**reads(env, ""), **writes(env, "")}.values():
        rejected(c, call, 403, DENIED)
    rejected(c, lambda: dispatch(env, ""), 403, DENIED)


def test_anonymous_policy_grants_to_callers_without_token(env: Env) -> None:
    env.policy("anonymous", 'namespace "default" { policy = "read" }')
    c = env.cluster
    assert {j.ID for j in c.jobs.list_jobs(env.q(""))[0]} == {"web", "param", "cron"}
    for call in reads(env, "").values():
        call()
    rejected(c, writes(env, "")["register"], 403, DENIED)
    # the anonymous policy does not help a token that is not found
    rejected(c, lambda: c.jobs.list_jobs(env.q(UNKNOWN)), 403, NO_TOKEN)


def test_read_policy(env: Env) -> None:
    env.policy("ro", 'namespace "default" { policy = "read" }')
    tok, c = env.token("ro"), env.cluster
    assert len(c.jobs.list_jobs(env.q(tok))[0]) == 3
    for call in reads(env, tok).values():
        call()
    for call in writes(env, tok).values():
        rejected(c, call, 403, DENIED)
    rejected(c, lambda: dispatch(env, tok), 403, DENIED)


def test_evaluate_needs_only_read_job(env: Env) -> None:
    env.policy("ro", 'namespace "default" { capabilities = ["read-job"] }')
    tok, c = env.token("ro"), env.cluster
    resp = c.jobs.evaluate_job("web", env.w(tok))
    assert c.snapshot().eval_by_id(resp.EvalID).TriggeredBy == "job-register"
    env.policy("lister", 'namespace "default" { capabilities = ["list-jobs"] }')
    lister = env.token("lister")
    rejected(c, lambda: c.jobs.evaluate_job("web", env.w(lister)), 403, DENIED)
    rejected(c, lambda: c.jobs.get_job("web", env.q(lister)), 403, DENIED)
    assert len(c.jobs.list_jobs(env.q(lister))[0]) == 3


def test_submit_job_capability(env: Env) -> None:
    env.policy("submit", 'namespace "default" { capabilities = ["submit-job"] }')
    tok, c = env.token("submit"), env.cluster
    for call in writes(env, tok).values():
        call()
    # submit-job alone does not read, list or dispatch
    rejected(c, lambda: c.jobs.get_job("web", env.q(tok)), 403, DENIED)
    rejected(c, lambda: c.jobs.list_jobs(env.q(tok)), 403, DENIED)
    rejected(c, lambda: dispatch(env, tok), 403, DENIED)


def test_dispatch_job_capability(env: Env) -> None:
    env.policy("dispatch", 'namespace "default" { capabilities = ["dispatch-job"] }')
    tok, c = env.token("dispatch"), env.cluster
    assert dispatch(env, tok).DispatchedJobID.startswith("param/dispatch-")
    rejected(c, writes(env, tok)["register"], 403, DENIED)
    # the body's AuthToken is used when no token option is given
    resp = c.jobs.dispatch_job("param", s.JobDispatchRequest(Meta={"who": "y"}, AuthToken=tok))
    assert resp.EvalID


def test_write_policy_and_body_secret(env: Env) -> None:
    env.policy("rw", 'namespace "default" { policy = "write" }')
    tok, c = env.token("rw"), env.cluster
    assert register(c, job(BATCH), SecretID=tok).JobModifyIndex
    assert dispatch(env, tok).EvalID
    for call in writes(env, tok).values():
        call()
    # plan takes the token from the request options only, never from the body
    rejected(c, lambda: c.jobs.plan_job(s.JobPlanRequest(Job=job(SERVICE), SecretID=tok)), 403, DENIED)


def test_validate_takes_the_token_from_the_header_only(env: Env) -> None:
    # v0.7.1 command/agent/job_endpoint.go ValidateJobRequest copies the body's Region but
    # not its SecretID, so a body token alone is the anonymous token there.
    env.policy("ro", 'namespace "default" { policy = "read" }')
    tok, c = env.token("ro"), env.cluster
    rejected(c, lambda: c.jobs.validate_job(s.JobValidateRequest(Job=job(SERVICE), SecretID=tok)), 403, DENIED)
    assert c.jobs.validate_job(s.JobValidateRequest(Job=job(SERVICE), SecretID="bogus"),
                               env.w(tok)).DriverConfigValidated


def test_policy_override_requires_sentinel_override(env: Env) -> None:
    env.policy("rw", 'namespace "default" { policy = "write" }')
    env.policy("override", 'namespace "default" { capabilities = ["sentinel-override"] }')
    rw, both, c = env.token("rw"), env.token("rw", "override"), env.cluster
    rejected(c, lambda: register(c, job(SERVICE, Priority=70), env.w(rw), PolicyOverride=True), 403, DENIED)
    rejected(c, lambda: c.jobs.plan_job(s.JobPlanRequest(Job=job(SERVICE), PolicyOverride=True), env.w(rw)),
             403, DENIED)
    assert register(c, job(SERVICE, Priority=70), env.w(both), PolicyOverride=True).EvalID
    assert c.jobs.plan_job(s.JobPlanRequest(Job=job(SERVICE), PolicyOverride=True), env.w(both)).Annotations
    assert register(c, job(SERVICE, Priority=71), env.w(rw), PolicyOverride=False).EvalID


def test_deny_wins_over_other_policies(env: Env) -> None:
    env.policy("rw", 'namespace "default" { policy = "write" }')
    env.policy("nope", 'namespace "default" { policy = "deny" }')
    env.policy("capdeny", 'namespace "default" { capabilities = ["deny"] }')
    c = env.cluster
    for tok in (env.token("rw", "nope"), env.token("nope", "rw"), env.token("capdeny", "rw")):
        rejected(c, lambda: c.jobs.list_jobs(env.q(tok)), 403, DENIED)
        rejected(c, lambda: c.jobs.get_job("web", env.q(tok)), 403, DENIED)
        rejected(c, writes(env, tok)["register"], 403, DENIED)
    # a deny in another namespace leaves default alone
    env.policy("deny-prod", 'namespace "prod" { policy = "deny" }')
    assert len(c.jobs.list_jobs(env.q(env.token("rw", "deny-prod")))[0]) == 3


def test_missing_policy_is_skipped(env: Env) -> None:
    env.policy("ro", 'namespace "default" { policy = "read" }')
    tok = env.token("ro", "does-not-exist")
    assert len(env.cluster.jobs.list_jobs(env.q(tok))[0]) == 3
    lone = env.token("does-not-exist")
    rejected(env.cluster, lambda: env.cluster.jobs.list_jobs(env.q(lone)), 403, DENIED)


def test_policy_in_json_form(env: Env) -> None:
    env.policy("json", '{"namespace": {"default": {"policy": "read"}}}')
    assert len(env.cluster.jobs.list_jobs(env.q(env.token("json")))[0]) == 3


def test_stored_policy_that_does_not_parse_fails_the_request(env: Env) -> None:
    env.policy("broken", 'namespace "default" { policy = "superuser" }')
    env.policy("ro", 'namespace "default" { policy = "read" }')
    tok, c = env.token("ro", "broken"), env.cluster
    err = rejected(c, lambda: c.jobs.list_jobs(env.q(tok)), 500,
                   "failed to parse \"broken\": Invalid namespace policy: "
                   '&acl.NamespacePolicy{Name:"default", Policy:"superuser", Capabilities:[]string(nil)}')
    assert err.message.startswith('failed to parse "broken": ')
    # a token that does not name it is unaffected
    assert len(c.jobs.list_jobs(env.q(env.token("ro")))[0]) == 3


def test_bad_policy_text_is_rejected() -> None:
    with pytest.raises(PolicyError):
        parse_rules('namespace "default" { policy = "superuser" }')
    with pytest.raises(PolicyError):
        parse_rules('namespace "default" { capabilities = ["fly"] }')
    assert parse_rules('namespace "a" { policy = "read" }\nnamespace "b" { policy = "write" }')["a"] == \
        frozenset({"list-jobs", "read-job"})


# --- order of checks ------------------------------------------------------------------------------------------

def test_register_and_plan_validate_before_acl(env: Env) -> None:
    c = env.cluster
    invalid = codec.from_wire({"ID": "bad"}, s.Job)
    for token in ("", "nope"):
        rejected(c, lambda: register(c, invalid, env.w(token)), 500, INVALID)
        rejected(c, lambda: c.jobs.plan_job(s.JobPlanRequest(Job=invalid), env.w(token)), 500, INVALID)
    # but the ACL check comes before EnforceIndex and transition checks
    rejected(c, lambda: register(c, job(BATCH, "web"), env.w("")), 403, DENIED)
    rejected(c, lambda: register(c, job(SERVICE), env.w(""), EnforceIndex=True, JobModifyIndex=1), 403, DENIED)


def test_other_endpoints_check_acl_first(env: Env) -> None:
    env.policy("ro", 'namespace "default" { policy = "read" }')
    c, ro = env.cluster, env.token("ro")
    # a caller without rights cannot tell whether "ghost" exists
    rejected(c, lambda: c.jobs.deregister_job("ghost", False, env.w(ro)), 403, DENIED)
    rejected(c, lambda: c.jobs.evaluate_job("ghost", env.w("")), 403, DENIED)
    rejected(c, lambda: c.jobs.get_job("ghost", env.q("")), 403, DENIED)
    rejected(c, lambda: c.jobs.revert_job("ghost", s.JobRevertRequest(JobID="ghost"), env.w(ro)), 403, DENIED)
    rejected(c, lambda: c.jobs.stable_job("ghost", s.JobStabilityRequest(JobID="ghost"), env.w(ro)), 403, DENIED)
    rejected(c, lambda: c.jobs.periodic_force("ghost", env.w(ro)), 403, DENIED)
    rejected(c, lambda: c.jobs.dispatch_job("ghost", s.JobDispatchRequest(), env.w(ro)), 403, DENIED)
    # with rights the real answers come back
    rejected(c, lambda: c.jobs.evaluate_job("ghost", env.w(ro)), 500, "job not found")
    rejected(c, lambda: c.jobs.get_job("ghost", env.q(ro)), 404, "job not found")


# --- namespaces ---------------------------------------------------------------------------------------------------

def test_other_namespace_reads_find_nothing(env: Env) -> None:
    c, q = env.cluster, env.q(env.mgmt, namespace="prod")
    assert c.jobs.list_jobs(q)[0] == []
    rejected(c, lambda: c.jobs.get_job("web", q), 404, "job not found")
    rejected(c, lambda: c.jobs.job_versions("web", False, q), 404, "job versions not found")
    rejected(c, lambda: c.jobs.job_summary("web", q), 404, "job not found")
    assert c.jobs.job_allocations("web", True, q)[0] == []
    assert c.jobs.job_evaluations("web", q)[0] == []
    assert c.jobs.job_deployments("web", q)[0] == []
    assert c.jobs.job_latest_deployment("web", q)[0] is None


def test_other_namespace_writes_fail(env: Env) -> None:
    env.policy("prod-rw", 'namespace "prod" { policy = "write" }')
    c, prod = env.cluster, env.token("prod-rw")
    for token in (env.mgmt, prod):
        rejected(c, lambda: register(c, job(SERVICE, "api", Namespace="prod"), env.w(token)), 500,
                 'job "api" is in non-existent namespace "prod"')
    # rights in prod do not reach default, and vice versa
    rejected(c, lambda: register(c, job(SERVICE, "api"), env.w(prod)), 403, DENIED)
    rejected(c, lambda: c.jobs.list_jobs(env.q(prod)), 403, DENIED)
    assert c.jobs.list_jobs(env.q(prod, namespace="prod"))[0] == []
    w = env.w(env.mgmt, namespace="prod")
    rejected(c, lambda: c.jobs.evaluate_job("web", w), 500, "job not found")
    rejected(c, lambda: c.jobs.revert_job("web", s.JobRevertRequest(JobID="web"), w), 500, 'job "web" not found')
    rejected(c, lambda: c.jobs.dispatch_job("param", s.JobDispatchRequest(), w), 500, "parameterized job not found")


def test_an_unknown_region_is_reported_before_the_token_is_checked() -> None:
    """Every v0.7.1 RPC handler forwards (or fails with "No path to region") before it
    resolves the token (found by the differential harness)."""
    env = Env()
    reader = env.token()  # a token with no policy: denied everywhere
    elsewhere = env.q(reader, region="nowhere")
    calls: list[Callable[[], Any]] = [
        lambda: env.cluster.services.list_allocs(elsewhere),
        lambda: env.cluster.services.list_evals(elsewhere),
        lambda: env.cluster.services.list_nodes(elsewhere),
        lambda: env.cluster.jobs.list_jobs(elsewhere),
        lambda: env.cluster.jobs.get_job("web", elsewhere),
    ]
    for call in calls:
        rejected(env.cluster, call, 500, "No path to region")
    rejected(env.cluster, lambda: env.cluster.services.list_allocs(env.q(reader)), 403, DENIED)
