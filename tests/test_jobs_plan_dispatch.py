"""Plan (a true dry run) and dispatch (parameterized children and their payloads)."""

from __future__ import annotations

import base64
import re

import pytest

from nomadjobs import Cluster
from nomadjobs import codec
from nomadjobs import structs as s
from nomadjobs.jobs import snappy_decode
from test_jobs_helpers import BATCH, PARAM, PERIODIC, Q, SERVICE, fingerprint, job, register, rejected


@pytest.fixture
def cluster() -> Cluster:
    return Cluster(seed=21)


def plan(cluster: Cluster, j: s.Job, diff: bool = True, **kw) -> s.JobPlanResponse:
    before = fingerprint(cluster)
    resp = cluster.jobs.plan_job(s.JobPlanRequest(Job=j, Diff=diff, **kw))
    assert fingerprint(cluster) == before, "plan must not write"
    return resp


# --- plan ---------------------------------------------------------------------------------------------------

def test_plan_new_job(cluster: Cluster) -> None:
    resp = plan(cluster, job(SERVICE))
    assert resp.JobModifyIndex == resp.Index == 0
    assert resp.Diff.Type == "Added" and resp.Diff.ID == "web"
    assert resp.Diff.TaskGroups[0].Updates == {"create": 1}
    place = resp.Annotations.DesiredTGUpdates["cache"]
    assert (place.Place, place.Ignore, place.Stop, place.DestructiveUpdate) == (1, 0, 0, 0)
    assert resp.FailedTGAllocs is None and resp.CreatedEvals is None
    assert resp.NextPeriodicLaunch == "0001-01-01T00:00:00Z" and resp.Warnings == ""
    # nothing was inserted: the job is still unknown
    rejected(cluster, lambda: cluster.jobs.get_job("web", Q), 404, "job not found")


def test_plan_unchanged_job(cluster: Cluster) -> None:
    reg = register(cluster, job(SERVICE))
    resp = plan(cluster, job(SERVICE))
    assert resp.JobModifyIndex == resp.Index == reg.JobModifyIndex
    assert resp.Diff.Type == "None"
    assert resp.Annotations.DesiredTGUpdates["cache"].Ignore == 1
    assert resp.Annotations.DesiredTGUpdates["cache"].Place == 0


def test_plan_edited_job_destructive_and_in_place(cluster: Cluster) -> None:
    reg = register(cluster, job(SERVICE))
    resp = plan(cluster, job(SERVICE, Meta={"k": "v"}))
    assert resp.JobModifyIndex == reg.JobModifyIndex
    assert resp.Diff.Type == "Edited"
    assert resp.Annotations.DesiredTGUpdates["cache"].DestructiveUpdate == 1
    assert resp.Diff.TaskGroups[0].Updates == {"create/destroy update": 1}
    resp = plan(cluster, job(SERVICE, Priority=99), diff=False)
    assert resp.Diff is None
    # a priority change alone is an in-place update
    assert resp.Annotations.DesiredTGUpdates["cache"].InPlaceUpdate == 1
    # the stored job is untouched by both plans
    assert cluster.jobs.get_job("web", Q)[0].Version == 0


def test_plan_failed_allocs_and_created_evals_on_golden_fleet() -> None:
    cluster = Cluster(fleet="golden", seed=2)  # no docker on the only node
    resp = plan(cluster, job(SERVICE))
    assert set(resp.FailedTGAllocs) == {"cache"}
    metric = resp.FailedTGAllocs["cache"]
    assert metric.NodesEvaluated == 1 and metric.NodesFiltered == 1
    assert metric.ConstraintFiltered == {"missing drivers": 1}
    assert len(resp.CreatedEvals) == 1
    blocked = resp.CreatedEvals[0]
    assert blocked.Status == "blocked" and blocked.CreateIndex == 0 and blocked.JobID == "web"
    assert cluster.snapshot().eval_by_id(blocked.ID) is None  # never persisted


def test_plan_periodic_next_launch(cluster: Cluster) -> None:
    register(cluster, job(PERIODIC))
    resp = plan(cluster, job(PERIODIC))
    # virtual clock starts at 2026-01-01T00:00:00Z; "0 0 1 1 *" next fires a year later
    assert cluster.now_ns() == 1767225600 * 10**9
    assert resp.NextPeriodicLaunch == "2027-01-01T00:00:00Z"
    disabled = job(PERIODIC, "off", Periodic={**PERIODIC["Periodic"], "Enabled": False})
    assert plan(cluster, disabled).NextPeriodicLaunch == "0001-01-01T00:00:00Z"


def test_plan_errors_write_nothing(cluster: Cluster) -> None:
    register(cluster, job(SERVICE))
    jobs = cluster.jobs
    rejected(cluster, lambda: jobs.plan_job(s.JobPlanRequest(Job=job(SERVICE)), path_id="other"), 400,
             "Job ID does not match")
    rejected(cluster, lambda: jobs.plan_job(s.JobPlanRequest()), 400, "Job must be specified")
    rejected(cluster, lambda: jobs.plan_job(s.JobPlanRequest(Job=codec.from_wire({"Name": "x"}, s.Job))), 400,
             "Job must have a valid ID")
    rejected(cluster, lambda: jobs.plan_job(s.JobPlanRequest(Job=codec.from_wire({"ID": "x"}, s.Job))), 500,
             "2 error(s) occurred:\n\n* Missing job datacenters\n* Missing job task groups")


def test_plan_warnings(cluster: Cluster) -> None:
    resp = plan(cluster, job(SERVICE, Update={"MaxParallel": 4}))
    assert "(4 > 1)" in resp.Warnings and resp.Warnings.startswith("1 warning(s):")


def test_plan_is_repeatable(cluster: Cluster) -> None:
    register(cluster, job(SERVICE))
    a = plan(cluster, job(SERVICE, Meta={"x": "1"}))
    b = plan(cluster, job(SERVICE, Meta={"x": "1"}))
    assert a == b


# --- dispatch --------------------------------------------------------------------------------------------------

def dispatch(cluster: Cluster, job_id: str = "param", **kw) -> s.JobDispatchResponse:
    return cluster.jobs.dispatch_job(job_id, s.JobDispatchRequest(**kw))


def test_dispatch_creates_child(cluster: Cluster) -> None:
    register(cluster, job(PARAM, Meta={"base": "1", "who": "parent"}))
    before = cluster.index
    resp = dispatch(cluster, Payload=b"hello world", Meta={"who": "alice"})
    now_s = cluster.now_ns() // 10**9
    assert re.fullmatch(rf"param/dispatch-{now_s}-[0-9a-f]{{8}}", resp.DispatchedJobID)
    assert resp.JobCreateIndex == before + 1 and resp.EvalCreateIndex == resp.Index == before + 2
    child = cluster.jobs.get_job(resp.DispatchedJobID, Q)[0]
    assert child.ParentID == "param" and child.ParameterizedJob is None and child.Name == child.ID
    assert child.Meta == {"base": "1", "who": "alice"}
    # GET returns the decompressed payload; versions keep the stored (snappy) form
    assert child.Payload == b"hello world"
    stored = cluster.jobs.job_versions(resp.DispatchedJobID, False, Q)[0].Versions[0].Payload
    assert stored != b"hello world" and snappy_decode(stored) == b"hello world"
    assert codec.to_wire(child)["Payload"] == base64.b64encode(b"hello world").decode()
    ev = cluster.snapshot().eval_by_id(resp.EvalID)
    assert ev.JobID == resp.DispatchedJobID and ev.TriggeredBy == "job-register"
    parent = cluster.jobs.job_summary("param", Q)[0]
    assert parent.Children.Pending + parent.Children.Running == 1


def test_dispatch_payload_limits(cluster: Cluster) -> None:
    register(cluster, job(PARAM))
    big = b"a" * (16 * 1024 + 1)
    rejected(cluster, lambda: dispatch(cluster, Payload=big, Meta={"who": "x"}), 500,
             "Payload exceeds maximum size; 16385 > 16384")
    exact = dispatch(cluster, Payload=b"a" * 16384, Meta={"who": "x"})
    assert cluster.jobs.get_job(exact.DispatchedJobID, Q)[0].Payload == b"a" * 16384


def test_dispatch_required_and_forbidden_payload(cluster: Cluster) -> None:
    register(cluster, job(PARAM, "need", ParameterizedJob={"Payload": "required"}))
    register(cluster, job(PARAM, "deny", ParameterizedJob={"Payload": "forbidden"}))
    rejected(cluster, lambda: dispatch(cluster, "need"), 500,
             "Payload is not provided but required by parameterized job")
    rejected(cluster, lambda: dispatch(cluster, "deny", Payload=b"x"), 500,
             "Payload provided but forbidden by parameterized job")
    assert dispatch(cluster, "need", Payload=b"x").DispatchedJobID.startswith("need/dispatch-")
    child = dispatch(cluster, "deny").DispatchedJobID
    assert cluster.jobs.get_job(child, Q)[0].Payload is None


def test_dispatch_meta_errors(cluster: Cluster) -> None:
    register(cluster, job(PARAM))
    rejected(cluster, lambda: dispatch(cluster), 500, "Dispatch did not provide required meta keys: [who]")
    rejected(cluster, lambda: dispatch(cluster, Meta={"who": "x", "bogus": "1"}), 500,
             "Dispatch request included unpermitted metadata keys: [bogus]")
    assert dispatch(cluster, Meta={"who": "x", "note": "optional ok"}).EvalID


def test_dispatch_job_errors(cluster: Cluster) -> None:
    register(cluster, job(BATCH))
    register(cluster, job(PARAM))
    cluster.jobs.deregister_job("param")
    rejected(cluster, lambda: dispatch(cluster, "nope"), 500, "parameterized job not found")
    rejected(cluster, lambda: dispatch(cluster, "batch"), 500, 'Specified job "batch" is not a parameterized job')
    rejected(cluster, lambda: dispatch(cluster, "param", Meta={"who": "x"}), 500,
             'Specified job "param" is stopped')
    rejected(cluster, lambda: dispatch(cluster, "param", JobID="other"), 400, "Job ID does not match")
    rejected(cluster, lambda: dispatch(cluster, ""), 500, "missing parameterized job ID")


def test_two_dispatches_same_second_get_distinct_ids(cluster: Cluster) -> None:
    register(cluster, job(PARAM))
    a = dispatch(cluster, Meta={"who": "a"}).DispatchedJobID
    b = dispatch(cluster, Meta={"who": "b"}).DispatchedJobID
    assert a != b and a[:-8] == b[:-8]



def test_each_plan_draws_fresh_ids_reproducibly() -> None:
    """Nomad generates new UUIDs for every dry run: two plans never share an eval ID
    (found by the differential harness). The draws are still seeded."""
    def two_plans() -> tuple[str, str]:
        cluster = Cluster(fleet="golden", seed=2)  # no docker: each plan creates a blocked eval
        first = plan(cluster, job(SERVICE)).CreatedEvals[0].ID
        second = plan(cluster, job(SERVICE)).CreatedEvals[0].ID
        return first, second

    first, second = two_plans()
    assert first != second
    assert two_plans() == (first, second)
