"""The periodic dispatcher on the virtual clock (starts 2026-01-01T00:00:00Z, a Thursday)."""

from __future__ import annotations

from typing import Any, Optional

import pytest

from nomadjobs import Cluster, NomadError
from nomadjobs import codec
from nomadjobs import structs as s
from nomadjobs.lifecycle.periodic import next_launch

NS = "default"
S = 1_000_000_000
EPOCH = 1_767_225_600  # the virtual clock's start, unix seconds


def periodic_job(job_id: str = "pj", spec: str = "*/5 * * * *", *, overlap: bool = False, tz: str = "UTC",
                 enabled: bool = True, run_for: Optional[str] = None, spec_type: str = "cron") -> s.Job:
    meta = {"nomadjobs.run_for": run_for} if run_for else None
    body: dict[str, Any] = {
        "ID": job_id, "Type": "batch", "Datacenters": ["dc1"],
        "Periodic": {"Enabled": enabled, "SpecType": spec_type, "Spec": spec, "ProhibitOverlap": overlap,
                     "TimeZone": tz},
        "TaskGroups": [{"Name": "tick", "Count": 1, "Tasks": [{
            "Name": "echo", "Driver": "raw_exec", "Config": {"command": "/bin/echo", "args": ["tick"]},
            "Resources": {"CPU": 100, "MemoryMB": 32}, "Meta": meta}]}],
    }
    return codec.from_wire(body, s.Job)


def register(cluster: Cluster, job: s.Job) -> s.JobRegisterResponse:
    return cluster.jobs.register_job(s.JobRegisterRequest(Job=job))


def children(cluster: Cluster, parent: str = "pj") -> list[s.Job]:
    return sorted((j for j in cluster.snapshot().jobs_by_prefix(NS, f"{parent}/periodic-") if j.ParentID == parent),
                  key=lambda j: j.ID)


def children_summary(cluster: Cluster, parent: str = "pj") -> s.JobChildrenSummary:
    return cluster.snapshot().job_summary(NS, parent).Children


@pytest.fixture
def cluster() -> Cluster:
    return Cluster(seed=11)


def test_launches_at_cron_times(cluster: Cluster) -> None:
    reply = register(cluster, periodic_job())
    assert reply.EvalID == ""
    assert cluster.lifecycle.periodic.launches[(NS, "pj")] == (EPOCH + 300) * S
    cluster.advance(299)
    assert children(cluster) == []
    cluster.advance(1)
    (child,) = children(cluster)
    assert child.ID == child.Name == f"pj/periodic-{EPOCH + 300}"
    assert (child.ParentID, child.Periodic, child.Version, child.SubmitTime) == ("pj", None, 0, (EPOCH + 300) * S)
    (ev,) = cluster.snapshot().evals_by_job(NS, child.ID)
    assert (ev.TriggeredBy, ev.Type, ev.Priority) == ("periodic-job", "batch", 50)
    assert ev.JobModifyIndex == child.JobModifyIndex == child.CreateIndex == ev.CreateIndex - 1
    launch = cluster.snapshot().periodic_launch(NS, "pj")
    assert launch.Launch == (EPOCH + 300) * S
    cluster.advance(600)
    assert [c.ID for c in children(cluster)] == [f"pj/periodic-{EPOCH + t}" for t in (300, 600, 900)]
    assert children_summary(cluster) == s.JobChildrenSummary(Pending=0, Running=1, Dead=2)
    cluster.advance(1)
    assert children_summary(cluster) == s.JobChildrenSummary(Pending=0, Running=0, Dead=3)
    parent = cluster.snapshot().job_by_id(NS, "pj")
    assert parent.Status == "running"


def test_prohibit_overlap_skips_launches_while_a_child_runs(cluster: Cluster) -> None:
    register(cluster, periodic_job(overlap=True, run_for="7m"))
    cluster.advance(300)
    assert len(children(cluster)) == 1
    cluster.advance(300)   # 00:10: the first child still runs -> skipped
    assert len(children(cluster)) == 1
    assert children_summary(cluster) == s.JobChildrenSummary(Running=1)
    cluster.advance(300)   # 00:15: it finished at 00:12
    assert len(children(cluster)) == 2


def test_overlap_allowed_launches_anyway(cluster: Cluster) -> None:
    register(cluster, periodic_job(overlap=False, run_for="7m"))
    cluster.advance(600)
    assert len(children(cluster)) == 2
    assert children_summary(cluster) == s.JobChildrenSummary(Running=2)


def test_force_run_and_children_counts(cluster: Cluster) -> None:
    register(cluster, periodic_job(spec="0 0 1 1 *", run_for="30s"))
    cluster.advance(12.5)
    reply = cluster.jobs.periodic_force("pj")
    (child,) = children(cluster)
    assert child.ID == f"pj/periodic-{EPOCH + 12}"
    ev = cluster.snapshot().eval_by_id(reply.EvalID)
    assert (ev.JobID, ev.TriggeredBy, ev.CreateIndex) == (child.ID, "periodic-job", reply.EvalCreateIndex)
    assert reply.Index == reply.EvalCreateIndex
    # Placed synchronously: the child already runs (golden 73 shows the parent afterwards).
    assert children_summary(cluster) == s.JobChildrenSummary(Running=1)
    cluster.advance(31)
    assert children_summary(cluster) == s.JobChildrenSummary(Dead=1)
    assert cluster.snapshot().job_by_id(NS, child.ID).Status == "dead"


def test_force_run_ignores_prohibit_overlap(cluster: Cluster) -> None:
    register(cluster, periodic_job(spec="0 0 1 1 *", overlap=True, run_for="1h"))
    cluster.jobs.periodic_force("pj")
    cluster.advance(1)
    cluster.jobs.periodic_force("pj")
    assert len(children(cluster)) == 2


def test_force_run_of_untracked_jobs(cluster: Cluster) -> None:
    register(cluster, periodic_job(enabled=False))
    with pytest.raises(NomadError) as err:
        cluster.jobs.periodic_force("pj")
    assert str(err.value) == 'force launch for job "pj" failed: can\'t force run non-tracked job "pj" (default)'
    with pytest.raises(ValueError, match="non-tracked"):
        cluster.lifecycle.periodic.force_run(NS, "nope")


def test_stopping_the_parent_stops_launches(cluster: Cluster) -> None:
    register(cluster, periodic_job())
    cluster.advance(300)
    cluster.jobs.deregister_job("pj")
    assert (NS, "pj") not in cluster.lifecycle.periodic.tracked
    cluster.advance(3600)
    assert len(children(cluster)) == 1


def test_updating_the_spec_reschedules(cluster: Cluster) -> None:
    register(cluster, periodic_job(spec="0 * * * *"))
    register(cluster, periodic_job(spec="*/10 * * * *"))
    cluster.advance(600)
    assert [c.ID for c in children(cluster)] == [f"pj/periodic-{EPOCH + 600}"]


def test_time_zone_is_honoured(cluster: Cluster) -> None:
    register(cluster, periodic_job(spec="0 9 * * *", tz="America/New_York"))
    # 09:00 EST = 14:00 UTC
    assert cluster.lifecycle.periodic.launches[(NS, "pj")] == (EPOCH + 14 * 3600) * S


def test_next_launch_rules() -> None:
    job = periodic_job(spec="*/5 * * * *")
    assert next_launch(job, EPOCH * S) == (EPOCH + 300) * S          # strictly after
    assert next_launch(job, EPOCH * S + 1) == (EPOCH + 300) * S
    assert next_launch(job, (EPOCH + 299) * S + 999_999_999) == (EPOCH + 300) * S
    assert next_launch(periodic_job(spec="0 0 1 1 * 2030"), EPOCH * S) == 1_893_456_000 * S  # 6 fields: + year
    assert next_launch(periodic_job(spec="30 * * * * * *"), EPOCH * S) == (EPOCH + 30) * S  # 7 fields: seconds first
    assert next_launch(periodic_job(spec="@hourly"), EPOCH * S) == (EPOCH + 3600) * S
    assert next_launch(periodic_job(spec="not a spec"), EPOCH * S) is None
    assert next_launch(periodic_job(tz="Mars/Olympus"), EPOCH * S) is None
    test_spec = periodic_job(spec=f"{EPOCH + 5},{EPOCH + 9}", spec_type="_internal_test")
    assert next_launch(test_spec, (EPOCH + 5) * S) == (EPOCH + 9) * S
    assert next_launch(test_spec, (EPOCH + 9) * S) is None
    # Next launch is reported for the plan endpoint even when disabled.
    cluster = Cluster(seed=1)
    assert cluster.lifecycle.next_periodic_launch(periodic_job(enabled=False), EPOCH * S) == (EPOCH + 300) * S


def test_internal_test_spec_launches_each_time(cluster: Cluster) -> None:
    register(cluster, periodic_job(spec=f"{EPOCH + 5},{EPOCH + 9}", spec_type="_internal_test"))
    cluster.run_until_quiet()
    assert [c.ID for c in children(cluster)] == [f"pj/periodic-{EPOCH + 5}", f"pj/periodic-{EPOCH + 9}"]
    assert (NS, "pj") not in cluster.lifecycle.periodic.launches
