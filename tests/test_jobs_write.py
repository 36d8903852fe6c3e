"""Jobs service writes: register/update, deregister, evaluate, revert, stable, periodic force,
validate. Every rejected request must leave the store exactly as it was."""

from __future__ import annotations

import pytest

from nomadjobs import Cluster, WriteOptions
from nomadjobs import codec
from nomadjobs import structs as s
from test_jobs_helpers import (BATCH, PARAM, PERIODIC, Q, SERVICE, fingerprint, golden_body, job, register,
                               rejected)


@pytest.fixture
def cluster() -> Cluster:
    return Cluster(seed=5)


def versions(cluster: Cluster, job_id: str) -> list[int]:
    return [v.Version for v in cluster.jobs.job_versions(job_id, False, Q)[0].Versions]


# --- register: HTTP-layer and validation errors ------------------------------------------------

def test_register_http_errors(cluster: Cluster) -> None:
    jobs = cluster.jobs
    rejected(cluster, lambda: jobs.register_job(s.JobRegisterRequest()), 400, "Job must be specified")
    no_id = codec.from_wire({"Name": "x", "Datacenters": ["dc1"]}, s.Job)
    rejected(cluster, lambda: jobs.register_job(s.JobRegisterRequest(Job=no_id)), 400,
             "Job ID hasn't been provided")
    rejected(cluster, lambda: jobs.register_job(s.JobRegisterRequest(Job=job(SERVICE)), path_id="other"), 400,
             "Job ID does not match name")


def test_register_invalid_job_multierror(cluster: Cluster) -> None:
    body = codec.from_wire(golden_body("24_register_invalid_job.json"), s.JobRegisterRequest)
    rejected(cluster, lambda: cluster.jobs.register_job(body), 500,
             "2 error(s) occurred:\n\n* Missing job datacenters\n* Missing job task groups")


def test_register_new_job(cluster: Cluster) -> None:
    before = cluster.index
    resp = register(cluster, job(SERVICE))
    assert resp.JobModifyIndex == before + 1
    assert resp.EvalCreateIndex == resp.Index == before + 2
    assert resp.Warnings == ""
    got = cluster.jobs.get_job("web", Q)[0]
    assert (got.Version, got.JobModifyIndex, got.CreateIndex) == (0, resp.JobModifyIndex, resp.JobModifyIndex)
    assert got.SubmitTime == cluster.now_ns()
    ev = cluster.snapshot().eval_by_id(resp.EvalID)
    assert (ev.TriggeredBy, ev.JobModifyIndex, ev.Priority, ev.Type) == ("job-register", resp.JobModifyIndex,
                                                                         50, "service")


def test_register_on_path_id(cluster: Cluster) -> None:
    resp = cluster.jobs.register_job(s.JobRegisterRequest(Job=job(SERVICE)), path_id="web")
    assert resp.EvalID


def test_register_uses_body_namespace_other_namespace_fails(cluster: Cluster) -> None:
    rejected(cluster, lambda: register(cluster, job(SERVICE, Namespace="prod")), 500,
             'job "web" is in non-existent namespace "prod"')
    # the namespace option is ignored by register: the job lands in its own namespace
    register(cluster, job(SERVICE), WriteOptions(namespace="prod"))
    assert cluster.jobs.get_job("web", Q)[0].Namespace == "default"


def test_register_vault_disabled(cluster: Cluster) -> None:
    body = job(SERVICE)
    tg = body.TaskGroups[0]
    task = codec.from_wire({**codec.to_wire(tg.Tasks[0]), "Vault": {"Policies": ["p"]}}, s.Task)
    with_vault = codec.from_wire({**codec.to_wire(body),
                                  "TaskGroups": [{**codec.to_wire(tg), "Tasks": [codec.to_wire(task)]}]}, s.Job)
    rejected(cluster, lambda: register(cluster, with_vault), 500, "Vault not enabled and Vault policies requested")


# --- register: EnforceIndex ----------------------------------------------------------------------

def test_enforce_index_three_messages(cluster: Cluster) -> None:
    rejected(cluster, lambda: register(cluster, job(SERVICE), EnforceIndex=True, JobModifyIndex=5), 500,
             "Enforcing job modify index 5: job does not exist")
    first = register(cluster, job(SERVICE), EnforceIndex=True, JobModifyIndex=0)
    current = first.JobModifyIndex
    rejected(cluster, lambda: register(cluster, job(SERVICE, Priority=60), EnforceIndex=True, JobModifyIndex=0),
             500, "Enforcing job modify index 0: job already exists")
    rejected(cluster, lambda: register(cluster, job(SERVICE, Priority=60), EnforceIndex=True,
                                       JobModifyIndex=current + 1000),
             500, f"Enforcing job modify index {current + 1000}: job exists with conflicting job modify index: "
                  f"{current}")
    resp = register(cluster, job(SERVICE, Priority=60), EnforceIndex=True, JobModifyIndex=current)
    assert resp.JobModifyIndex > current and versions(cluster, "web") == [1, 0]


def test_enforce_index_ignored_when_off(cluster: Cluster) -> None:
    register(cluster, job(SERVICE))
    register(cluster, job(SERVICE, Priority=60), EnforceIndex=False, JobModifyIndex=12345)
    assert versions(cluster, "web") == [1, 0]


# --- register: transitions --------------------------------------------------------------------------

def test_type_transition(cluster: Cluster) -> None:
    register(cluster, job(SERVICE))
    batch = job(BATCH, "web")
    rejected(cluster, lambda: register(cluster, batch), 500, 'cannot update job from type "service" to "batch"')


def test_periodic_transitions(cluster: Cluster) -> None:
    register(cluster, job(PERIODIC))
    rejected(cluster, lambda: register(cluster, job(BATCH, "cron")), 500,
             "cannot update periodic job to being non-periodic")
    register(cluster, job(BATCH, "plain"))
    rejected(cluster, lambda: register(cluster, job(PERIODIC, "plain")), 500,
             "cannot update non-periodic job to being periodic")


def test_parameterized_transitions_keep_swapped_messages(cluster: Cluster) -> None:
    register(cluster, job(PARAM))
    # v0.7.1 prints these two the wrong way round
    rejected(cluster, lambda: register(cluster, job(BATCH, "param")), 500,
             "cannot update non-parameterized job to being parameterized")
    register(cluster, job(BATCH, "plain"))
    rejected(cluster, lambda: register(cluster, job(PARAM, "plain")), 500,
             "cannot update parameterized job to being non-parameterized")


# --- register: SpecChanged, warnings, periodic/parameterized -------------------------------------------

def test_identical_resubmission_new_eval_no_new_version(cluster: Cluster) -> None:
    first = register(cluster, job(SERVICE))
    row = cluster.jobs.get_job("web", Q)[0]
    cluster.advance(5)
    second = register(cluster, job(SERVICE))
    assert second.EvalID and second.EvalID != first.EvalID
    assert second.JobModifyIndex == first.JobModifyIndex
    assert second.EvalCreateIndex > first.EvalCreateIndex
    assert versions(cluster, "web") == [0]
    again = cluster.jobs.get_job("web", Q)[0]
    assert again.SubmitTime == row.SubmitTime and again.JobModifyIndex == row.JobModifyIndex
    assert cluster.snapshot().eval_by_id(second.EvalID).JobModifyIndex == first.JobModifyIndex


def test_changed_spec_new_version(cluster: Cluster) -> None:
    register(cluster, job(SERVICE))
    resp = register(cluster, job(SERVICE, Meta={"a": "b"}))
    got = cluster.jobs.get_job("web", Q)[0]
    assert got.Version == 1 and got.JobModifyIndex == resp.JobModifyIndex
    assert versions(cluster, "web") == [1, 0]


def test_register_warnings_text(cluster: Cluster) -> None:
    body = job(SERVICE, Update={"MaxParallel": 3, "MinHealthyTime": 10 * 10**9, "HealthyDeadline": 180 * 10**9})
    resp = register(cluster, body)
    assert resp.Warnings == (
        '1 warning(s):\n\n* Group "cache" has warnings: 1 error(s) occurred:\n\n'
        "* Update max parallel count is greater than task group count (3 > 1). A destructive change would "
        "result in the simultaneous replacement of all allocations.")
    assert resp.EvalID


@pytest.mark.parametrize("template", [PERIODIC, PARAM], ids=["periodic", "parameterized"])
def test_periodic_and_parameterized_register_no_eval(cluster: Cluster, template: dict) -> None:
    evals_before = cluster.snapshot().table_index("evals")
    resp = register(cluster, job(template))
    assert (resp.EvalID, resp.EvalCreateIndex, resp.Index) == ("", 0, 0)
    assert resp.JobModifyIndex == cluster.index
    assert cluster.snapshot().table_index("evals") == evals_before
    assert cluster.jobs.get_job(template["ID"], Q)[0].Status == "running"


def test_disabled_periodic_register_still_no_eval(cluster: Cluster) -> None:
    body = job(PERIODIC, Periodic={**PERIODIC["Periodic"], "Enabled": False})
    resp = register(cluster, body)
    assert (resp.EvalID, resp.Index) == ("", 0)


# --- deregister ---------------------------------------------------------------------------------------

def test_deregister_stop(cluster: Cluster) -> None:
    register(cluster, job(SERVICE))
    cluster.advance(2)
    row = cluster.jobs.get_job("web", Q)[0]
    assert row.Status == "running"
    resp = cluster.jobs.deregister_job("web")
    assert resp.EvalCreateIndex == resp.Index == resp.JobModifyIndex + 1
    stopped = cluster.jobs.get_job("web", Q)[0]
    assert stopped.Stop is True and stopped.Version == 1 and stopped.JobModifyIndex == resp.JobModifyIndex
    assert stopped.SubmitTime == row.SubmitTime
    assert versions(cluster, "web") == [1, 0]
    ev = cluster.snapshot().eval_by_id(resp.EvalID)
    assert (ev.TriggeredBy, ev.Status, ev.JobModifyIndex) == ("job-deregister", "complete", resp.JobModifyIndex)
    assert stopped.Status == "dead"
    assert all(a.DesiredStatus == "stop" for a in cluster.snapshot().allocs_by_job("default", "web"))


def test_deregister_eval_is_service_priority_50_whatever_the_job(cluster: Cluster) -> None:
    register(cluster, job(BATCH, Priority=80))
    resp = cluster.jobs.deregister_job("batch")
    ev = cluster.snapshot().eval_by_id(resp.EvalID)
    assert (ev.Type, ev.Priority) == ("service", 50)


def test_deregister_purge(cluster: Cluster) -> None:
    register(cluster, job(SERVICE))
    resp = cluster.jobs.deregister_job("web", purge=True)
    assert resp.EvalID
    rejected(cluster, lambda: cluster.jobs.get_job("web", Q), 404, "job not found")
    rejected(cluster, lambda: cluster.jobs.job_versions("web", False, Q), 404, "job versions not found")
    rejected(cluster, lambda: cluster.jobs.job_summary("web", Q), 404, "job not found")


def test_deregister_unknown_job_succeeds_with_eval(cluster: Cluster) -> None:
    before = cluster.index
    resp = cluster.jobs.deregister_job("ghost")
    assert resp.JobModifyIndex == before + 1 and resp.EvalCreateIndex == resp.Index == before + 2
    assert cluster.snapshot().eval_by_id(resp.EvalID).TriggeredBy == "job-deregister"
    assert cluster.snapshot().job_by_id("default", "ghost") is None


def test_deregister_periodic_no_eval(cluster: Cluster) -> None:
    register(cluster, job(PERIODIC))
    resp = cluster.jobs.deregister_job("cron")
    assert (resp.EvalID, resp.Index) == ("", 0) and resp.JobModifyIndex == cluster.index
    assert cluster.jobs.get_job("cron", Q)[0].Status == "dead"


def test_deregister_missing_id(cluster: Cluster) -> None:
    rejected(cluster, lambda: cluster.jobs.deregister_job(""), 500, "missing job ID for deregistering")


# --- evaluate -------------------------------------------------------------------------------------------

def test_evaluate(cluster: Cluster) -> None:
    register(cluster, job(SERVICE))
    cluster.advance(1)
    row = cluster.jobs.get_job("web", Q)[0]
    assert row.ModifyIndex != row.JobModifyIndex  # status change moved ModifyIndex
    resp = cluster.jobs.evaluate_job("web")
    assert resp.JobModifyIndex == row.ModifyIndex
    assert resp.EvalCreateIndex == resp.Index == cluster.snapshot().eval_by_id(resp.EvalID).CreateIndex
    ev = cluster.snapshot().eval_by_id(resp.EvalID)
    assert (ev.TriggeredBy, ev.JobModifyIndex) == ("job-register", row.ModifyIndex)


def test_evaluate_errors(cluster: Cluster) -> None:
    register(cluster, job(PERIODIC))
    register(cluster, job(PARAM))
    rejected(cluster, lambda: cluster.jobs.evaluate_job("nope"), 500, "job not found")
    rejected(cluster, lambda: cluster.jobs.evaluate_job("cron"), 500, "can't evaluate periodic job")
    rejected(cluster, lambda: cluster.jobs.evaluate_job("param"), 500, "can't evaluate parameterized job")
    rejected(cluster, lambda: cluster.jobs.evaluate_job(""), 500, "missing job ID for evaluation")


def test_evaluate_stopped_job_allowed(cluster: Cluster) -> None:
    register(cluster, job(SERVICE))
    cluster.jobs.deregister_job("web")
    assert cluster.jobs.evaluate_job("web").EvalID


# --- revert -----------------------------------------------------------------------------------------------

def _three_versions(cluster: Cluster) -> None:
    for prio in (50, 60, 70):
        register(cluster, job(SERVICE, Priority=prio))


def test_revert(cluster: Cluster) -> None:
    _three_versions(cluster)
    resp = cluster.jobs.revert_job("web", s.JobRevertRequest(JobID="web", JobVersion=0, EnforcePriorVersion=2))
    got = cluster.jobs.get_job("web", Q)[0]
    assert got.Version == 3 and got.Priority == 50 and got.JobModifyIndex == resp.JobModifyIndex
    assert cluster.snapshot().eval_by_id(resp.EvalID).TriggeredBy == "job-register"


def test_revert_errors(cluster: Cluster) -> None:
    _three_versions(cluster)
    jobs = cluster.jobs
    rejected(cluster, lambda: jobs.revert_job("web", s.JobRevertRequest(JobID="web", JobVersion=2)), 500,
             "can't revert to current version")
    rejected(cluster, lambda: jobs.revert_job("web", s.JobRevertRequest(JobID="web", JobVersion=1,
                                                                         EnforcePriorVersion=7)),
             500, "Current job has version 2; enforcing version 7")
    rejected(cluster, lambda: jobs.revert_job("web", s.JobRevertRequest(JobID="web", JobVersion=42)), 500,
             'job "web" in namespace "default" at version 42 not found')
    rejected(cluster, lambda: jobs.revert_job("ghost", s.JobRevertRequest(JobID="ghost", JobVersion=0)), 500,
             'job "ghost" not found')
    rejected(cluster, lambda: jobs.revert_job("web", s.JobRevertRequest(JobID="other")), 400,
             "Job ID does not match")
    rejected(cluster, lambda: jobs.revert_job("web", s.JobRevertRequest()), 400, "JobID must be specified")


def test_revert_to_stopped_version_stops_the_job(cluster: Cluster) -> None:
    register(cluster, job(SERVICE))
    cluster.jobs.deregister_job("web")  # v1: Stop
    register(cluster, job(SERVICE, Priority=60))  # v2
    cluster.jobs.revert_job("web", s.JobRevertRequest(JobID="web", JobVersion=1))
    got = cluster.jobs.get_job("web", Q)[0]
    assert got.Version == 3 and got.Stop is True


# --- stable -------------------------------------------------------------------------------------------------

def test_stable_current_version(cluster: Cluster) -> None:
    _three_versions(cluster)
    row = cluster.jobs.get_job("web", Q)[0]
    resp = cluster.jobs.stable_job("web", s.JobStabilityRequest(JobID="web", JobVersion=2, Stable=True))
    assert resp.Index == cluster.index
    got = cluster.jobs.get_job("web", Q)[0]
    assert got.Stable is True and got.Version == 2
    assert got.ModifyIndex == resp.Index and got.JobModifyIndex == row.JobModifyIndex
    # setting the same value again still consumes an index but writes nothing else
    before = fingerprint(cluster)
    again = cluster.jobs.stable_job("web", s.JobStabilityRequest(JobID="web", JobVersion=2, Stable=True))
    assert again.Index == resp.Index + 1
    after = fingerprint(cluster)
    assert after[3:] == before[3:]


def test_stable_non_current_version_quirk(cluster: Cluster) -> None:
    _three_versions(cluster)
    v0 = cluster.jobs.job_versions("web", False, Q)[0].Versions[-1]
    resp = cluster.jobs.stable_job("web", s.JobStabilityRequest(JobID="web", JobVersion=0, Stable=True))
    got = cluster.jobs.get_job("web", Q)[0]
    # golden 43: the jobs row now is version 0 (Stable, its own JobModifyIndex, new ModifyIndex)
    assert (got.Version, got.Stable, got.Priority) == (0, True, 50)
    assert got.JobModifyIndex == v0.JobModifyIndex and got.ModifyIndex == resp.Index
    stable = [(v.Version, v.Stable) for v in cluster.jobs.job_versions("web", False, Q)[0].Versions]
    assert stable == [(2, False), (1, False), (0, True)]


def test_stable_errors(cluster: Cluster) -> None:
    _three_versions(cluster)
    rejected(cluster, lambda: cluster.jobs.stable_job("web", s.JobStabilityRequest(JobID="web", JobVersion=42,
                                                                                     Stable=True)),
             500, 'job "web" in namespace "default" at version 42 not found')
    rejected(cluster, lambda: cluster.jobs.stable_job("ghost", s.JobStabilityRequest(JobID="ghost")), 500,
             'job "ghost" in namespace "default" at version 0 not found')
    rejected(cluster, lambda: cluster.jobs.stable_job("web", s.JobStabilityRequest(JobID="x")), 400,
             "Job ID does not match")
    rejected(cluster, lambda: cluster.jobs.stable_job("web", s.JobStabilityRequest()), 400,
             "JobID must be specified")


# --- periodic force ------------------------------------------------------------------------------------------

def test_periodic_force(cluster: Cluster) -> None:
    register(cluster, job(PERIODIC))
    resp = cluster.jobs.periodic_force("cron")
    ev = cluster.snapshot().eval_by_id(resp.EvalID)
    assert resp.EvalCreateIndex == resp.Index == ev.CreateIndex
    assert ev.TriggeredBy == "periodic-job"
    child = cluster.snapshot().job_by_id("default", ev.JobID)
    assert child.ParentID == "cron" and child.ID == f"cron/periodic-{cluster.now_ns() // 10**9}"
    assert child.Periodic is None


def test_periodic_force_errors(cluster: Cluster) -> None:
    register(cluster, job(SERVICE))
    register(cluster, job(PERIODIC, "off", Periodic={**PERIODIC["Periodic"], "Enabled": False}))
    rejected(cluster, lambda: cluster.jobs.periodic_force("web"), 500, "can't force launch non-periodic job")
    rejected(cluster, lambda: cluster.jobs.periodic_force("nope"), 500, "job not found")
    rejected(cluster, lambda: cluster.jobs.periodic_force("off"), 500,
             'force launch for job "off" failed: can\'t force run non-tracked job "off" (default)')


# --- validate ----------------------------------------------------------------------------------------------------

def test_validate_invalid(cluster: Cluster) -> None:
    before = fingerprint(cluster)
    resp = cluster.jobs.validate_job(s.JobValidateRequest(Job=codec.from_wire({"ID": "x"}, s.Job)))
    assert resp.DriverConfigValidated is True
    assert resp.ValidationErrors == ["Missing job datacenters", "Missing job task groups"]
    assert resp.Error == "2 error(s) occurred:\n\n* Missing job datacenters\n* Missing job task groups"
    assert resp.Warnings == ""
    assert fingerprint(cluster) == before


def test_validate_valid_with_warnings(cluster: Cluster) -> None:
    ok = cluster.jobs.validate_job(s.JobValidateRequest(Job=job(SERVICE)))
    assert (ok.DriverConfigValidated, ok.ValidationErrors, ok.Error, ok.Warnings) == (True, None, "", "")
    warn = job(SERVICE, Update={"MaxParallel": 2})
    resp = cluster.jobs.validate_job(s.JobValidateRequest(Job=warn))
    assert resp.ValidationErrors is None
    assert resp.Warnings.startswith('1 warning(s):\n\n* Group "cache" has warnings:')
    assert "(2 > 1)" in resp.Warnings


def test_validate_no_job(cluster: Cluster) -> None:
    rejected(cluster, lambda: cluster.jobs.validate_job(s.JobValidateRequest()), 400, "Job must be specified")
