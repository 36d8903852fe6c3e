"""Acceptance of the scheduler issue: the documentation's sample redis job (the seed's
"Create Job" payload, same job as golden 03) runs end to end on the virtual clock."""

from __future__ import annotations

import json

import pytest

from nomadjobs import Cluster, NodeSpec
from nomadjobs import codec
from nomadjobs import structs as s
from nomadjobs.canonicalize import api_canonicalize
from conformance import seed_samples
from test_jobs_helpers import Q, golden_body

def seed_request() -> s.JobRegisterRequest:
    payload = next(x["json"] for x in seed_samples() if x["section"] == "Create Job" and x["kind"] == "Sample Payload")
    return codec.from_wire(json.loads(payload), s.JobRegisterRequest)


@pytest.fixture(scope="module")
def request_body() -> s.JobRegisterRequest:
    return seed_request()


def test_seed_sample_is_golden_03_job(request_body: s.JobRegisterRequest) -> None:
    golden = codec.from_wire(golden_body("03_register_example.json"), s.JobRegisterRequest)
    assert api_canonicalize(request_body.Job) == api_canonicalize(golden.Job)
    assert request_body.Job.Update.MinHealthyTime == 10 * 10**9


def test_sample_job_on_default_fleet_runs_and_deploys(request_body: s.JobRegisterRequest) -> None:
    cluster = Cluster(fleet="default", seed=3)
    resp = cluster.jobs.register_job(request_body)
    assert resp.EvalID and resp.Warnings == ""
    ev = cluster.snapshot().eval_by_id(resp.EvalID)
    assert ev.Status == "complete"

    (alloc,), _ = cluster.jobs.job_allocations("example", False, Q)
    assert alloc.DesiredStatus == "run" and alloc.TaskGroup == "cache"
    deployment, _ = cluster.jobs.job_latest_deployment("example", Q)
    assert deployment.Status == "running" and deployment.JobVersion == 0

    # the client starts the task shortly after placement
    cluster.advance(1)
    (alloc,), _ = cluster.jobs.job_allocations("example", False, Q)
    assert alloc.ClientStatus == "running"
    assert alloc.TaskStates["redis"].State == "running"
    job, _ = cluster.jobs.get_job("example", Q)
    assert job.Status == "running" and job.Stable is False

    # healthy only after MinHealthyTime (10 s) of running
    cluster.advance(8)
    assert cluster.jobs.job_latest_deployment("example", Q)[0].Status == "running"
    assert cluster.jobs.get_job("example", Q)[0].Stable is False
    cluster.advance(3)
    deployment, _ = cluster.jobs.job_latest_deployment("example", Q)
    assert deployment.Status == "successful"
    assert deployment.StatusDescription == "Deployment completed successfully"
    assert deployment.TaskGroups["cache"].HealthyAllocs == 1

    job, _ = cluster.jobs.get_job("example", Q)
    assert (job.Version, job.Stable, job.Status) == (0, True, "running")
    (v0,) = cluster.jobs.job_versions("example", False, Q)[0].Versions
    assert v0.Stable is True
    summary, _ = cluster.jobs.job_summary("example", Q)
    counts = summary.Summary["cache"]
    assert (counts.Running, counts.Queued, counts.Starting, counts.Failed, counts.Lost) == (1, 0, 0, 0, 0)


def test_sample_job_on_golden_fleet_blocks_until_docker_node(request_body: s.JobRegisterRequest) -> None:
    cluster = Cluster(fleet="golden", seed=3)
    resp = cluster.jobs.register_job(request_body)
    evals, _ = cluster.jobs.job_evaluations("example", Q)
    by_status = {e.Status: e for e in evals}
    assert set(by_status) == {"complete", "blocked"}
    assert by_status["complete"].ID == resp.EvalID
    assert by_status["complete"].FailedTGAllocs["cache"].ConstraintFiltered == {"missing drivers": 1}
    blocked = by_status["blocked"]
    assert blocked.PreviousEval == resp.EvalID
    assert cluster.jobs.job_allocations("example", False, Q)[0] == []
    summary, _ = cluster.jobs.job_summary("example", Q)
    assert summary.Summary["cache"].Queued == 1 and summary.Summary["cache"].Running == 0
    assert cluster.jobs.get_job("example", Q)[0].Status == "pending"

    node = cluster.add_node(NodeSpec(name="docker-node"))
    assert node.Attributes["driver.docker"] == "1"
    assert cluster.snapshot().eval_by_id(blocked.ID).Status == "complete"
    (alloc,), _ = cluster.jobs.job_allocations("example", False, Q)
    assert alloc.NodeID == node.ID and alloc.EvalID == blocked.ID

    cluster.advance(1)
    (alloc,), _ = cluster.jobs.job_allocations("example", False, Q)
    assert alloc.ClientStatus == "running"
    summary, _ = cluster.jobs.job_summary("example", Q)
    assert (summary.Summary["cache"].Queued, summary.Summary["cache"].Running) == (0, 1)
    assert cluster.jobs.get_job("example", Q)[0].Status == "running"
    cluster.advance(11)
    assert cluster.jobs.job_latest_deployment("example", Q)[0].Status == "successful"
