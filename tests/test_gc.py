"""The leader's garbage collector and its time table, as v0.7.1 runs them
(nomad/core_sched.go, nomad/timetable.go; behaviour recorded from a real agent)."""

from __future__ import annotations

from typing import Any

import falcon.testing
import pytest

from nomadjobs import Cluster
from nomadjobs.core.timetable import GRANULARITY_NS, TimeTable
from nomadjobs.lifecycle.gc import MAX_IDS_PER_REAP, GCConfig
from nomadjobs.state.store import ALLOCS, EVALS, JOB_SUMMARY
from shim import create_app

MIN = 60 * 10**9


def _task(command: str = "/bin/true") -> dict[str, Any]:
    return {"Name": "t", "Driver": "exec", "Config": {"command": command},
            "Resources": {"CPU": 100, "MemoryMB": 32}}


def batch(job_id: str, **extra: Any) -> dict[str, Any]:
    return {"ID": job_id, "Type": "batch", "Datacenters": ["dc1"],
            "TaskGroups": [{"Name": "g", "Tasks": [_task()]}], **extra}


def service(job_id: str, **extra: Any) -> dict[str, Any]:
    return {"ID": job_id, "Datacenters": ["dc1"], "TaskGroups": [{"Name": "g", "Tasks": [_task("/bin/sleep")]}],
            **extra}


def jobs(c: Cluster) -> set[str]:
    return {j.ID or "" for j in c.snapshot().jobs()}


def evals(c: Cluster) -> list[tuple[str, str, str]]:
    return sorted((e.JobID or "", e.TriggeredBy or "", e.Status or "") for e in c.snapshot().evals())


# --- the time table ------------------------------------------------------------------------------

def test_the_time_table_keeps_one_entry_per_granularity_and_answers_0_before_it() -> None:
    table = TimeTable()
    assert table.nearest_index(10**18) == 0  # only the zero-time entry
    table.witness(4, 1000 * MIN)
    table.witness(9, 1000 * MIN + GRANULARITY_NS - 1)  # too soon after the newest: dropped
    table.witness(12, 1005 * MIN)
    table.witness(11, 1020 * MIN)  # an older index than the newest: dropped
    assert table.entries == [(12, 1005 * MIN), (4, 1000 * MIN), (0, None)]
    assert table.nearest_index(999 * MIN) == 0
    assert table.nearest_index(1000 * MIN) == 4
    assert table.nearest_index(1004 * MIN) == 4
    assert table.nearest_index(2000 * MIN) == 12


def test_the_time_table_holds_72_hours() -> None:
    table = TimeTable()
    for n in range(1000):
        table.witness(n + 1, n * GRANULARITY_NS)
    assert len(table.entries) == 72 * 12
    assert table.nearest_index(0) == 0  # the oldest entries (and the zero one) fell off


# --- forced collection ---------------------------------------------------------------------------

def test_a_forced_gc_collects_what_is_finished_and_keeps_what_is_not() -> None:
    c = Cluster(seed=3)
    c.register(batch("done"))
    c.register(service("running"))
    c.register(service("stopped"))
    c.register(service("dead-service", TaskGroups=[{"Name": "g", "Count": 0, "Tasks": [_task()]}]))
    c.register(batch("cron", Periodic={"Enabled": True, "SpecType": "cron", "Spec": "0 3 * * *"}))
    c.register(batch("param", ParameterizedJob={"Payload": "optional"}))
    c.advance(60)
    c.jobs.deregister_job("stopped")
    c.run_until_quiet()
    assert c.snapshot().job_by_id("default", "dead-service").Status == "dead"
    c.lifecycle.gc.force()
    # Dead batch and stopped jobs go; a dead service job that was not stopped, running
    # jobs and unstopped periodic/parameterized parents stay.
    assert jobs(c) == {"running", "dead-service", "cron", "param"}
    # Each purged job leaves the job-deregister evaluation its deregistration made.
    left = evals(c)
    assert ("done", "job-deregister", "complete") in left and ("stopped", "job-deregister", "complete") in left
    assert not [e for e in left if e[0] in ("done", "stopped") and e[1] != "job-deregister"]
    assert all(a.JobID not in ("done", "stopped") for a in c.snapshot().allocs())
    assert c.snapshot().job_versions("default", "done") == []
    assert c.snapshot().job_summary("default", "done") is None
    # Stopping the parents makes them collectable; they leave no evaluation behind.
    c.jobs.deregister_job("cron")
    c.jobs.deregister_job("param")
    c.lifecycle.gc.force()
    assert jobs(c) == {"running", "dead-service"}
    assert not [e for e in evals(c) if e[0] in ("cron", "param")]


def test_eval_gc_leaves_a_dead_batch_jobs_evaluations_to_the_job() -> None:
    c = Cluster(seed=3)
    c.register(batch("b"))
    c.advance(60)
    c.lifecycle.gc._eval_gc(c.snapshot(), 2**64 - 1)
    assert [e[0] for e in evals(c)] == ["b"] and len(list(c.snapshot().allocs())) == 1


def test_deleting_evaluations_moves_both_indexes_and_leaves_summaries() -> None:
    c = Cluster(seed=3)
    c.register(service("web"))
    c.advance(10)
    c.jobs.deregister_job("web")
    c.run_until_quiet()
    before = c.snapshot()
    summary = before.job_summary("default", "web")
    c.lifecycle.gc._eval_gc(before, 2**64 - 1)
    after = c.snapshot()
    assert after.table_index(EVALS) == after.table_index(ALLOCS) == after.latest_index() > before.latest_index()
    assert after.job_summary("default", "web") == summary
    assert after.table_index(JOB_SUMMARY) == before.table_index(JOB_SUMMARY)


def test_deployments_go_when_finished_and_their_allocations_terminal() -> None:
    c = Cluster(seed=3)
    update = {"MaxParallel": 1, "MinHealthyTime": 1_000_000_000, "HealthyDeadline": 60_000_000_000}
    c.register(service("web", Update=update))
    c.advance(30)
    assert [d.Status for d in c.snapshot().deployments()] == ["successful"]
    c.lifecycle.gc.force()
    assert len(list(c.snapshot().deployments())) == 1  # its allocation still runs
    c.jobs.deregister_job("web")
    c.advance(30)
    c.lifecycle.gc.force()
    assert list(c.snapshot().deployments()) == []


def test_a_down_node_with_only_terminal_allocations_is_deregistered() -> None:
    c = Cluster(seed=3)
    c.register(batch("b"))
    c.advance(60)
    node = c.snapshot().allocs_by_job("default", "b")[0].NodeID
    c.kill_node(node)
    c.run_until_quiet()
    c.register(service("sys", Type="system"))
    c.lifecycle.gc.force()
    assert c.snapshot().node_by_id(node) is None
    node_evals = [e for e in c.snapshot().evals() if e.NodeID == node and e.TriggeredBy == "node-update"]
    assert {e.JobID for e in node_evals} >= {"sys"}


def test_reaps_are_split_into_requests_of_7281_ids() -> None:
    c = Cluster(seed=3)
    applied: list[Any] = []
    c.listeners.append(lambda command, result: applied.append(command))
    gc = c.lifecycle.gc
    gc._reap([f"e{n}" for n in range(10)], [f"a{n}" for n in range(MAX_IDS_PER_REAP + 5)])
    assert [(len(cmd.evals), len(cmd.allocs)) for cmd in applied] == [(0, MAX_IDS_PER_REAP), (10, 5)]


# --- timed collection ------------------------------------------------------------------------------

def test_timed_collections_wait_for_the_threshold_as_the_time_table_sees_it() -> None:
    c = Cluster(seed=3, gc=GCConfig(job_threshold_ns=60 * MIN))
    c.register(batch("old"))
    c.advance(60)
    # Nothing is witnessed after the first write: an idle cluster never collects.
    c.advance(5 * 3600)
    assert "old" in jobs(c)
    # A later write is witnessed; once it is older than the threshold, "old" goes.
    c.register(service("later"))
    c.advance(59 * 60)
    assert "old" in jobs(c)
    c.advance(10 * 60)
    assert "old" not in jobs(c) and "later" in jobs(c)
    assert c.lifecycle.gc.runs["job-gc"] == (5 * 3600 + 60 + 69 * 60) // 300


def test_collection_can_be_turned_off_and_thresholds_must_be_positive() -> None:
    c = Cluster(seed=3, gc=GCConfig(enabled=False))
    c.register(batch("b"))
    c.advance(10 * 3600)
    c.register(service("w"))
    c.advance(10 * 3600)
    assert c.lifecycle.gc.runs == {} and "b" in jobs(c)
    with pytest.raises(ValueError):
        GCConfig(job_threshold_ns=0)


# --- HTTP ----------------------------------------------------------------------------------------

def test_system_gc_and_reconcile_over_http() -> None:
    c = Cluster(seed=3, acl=True)
    secret = c.bootstrap_token.SecretID
    client = falcon.testing.TestClient(create_app(c))
    c.register(batch("b"), token=secret)
    c.advance(60)
    r = client.simulate_put("/v1/system/gc")
    assert (r.status_code, r.text) == (403, "Permission denied") and "b" in jobs(c)
    r = client.simulate_get("/v1/system/gc", headers={"X-Nomad-Token": secret})
    assert (r.status_code, r.text) == (405, "Invalid method")
    r = client.simulate_put("/v1/system/gc", headers={"X-Nomad-Token": secret})
    assert (r.status_code, r.text) == (200, "") and "X-Nomad-Index" not in r.headers
    assert "b" not in jobs(c)
    index = c.index
    r = client.simulate_put("/v1/system/reconcile/summaries", headers={"X-Nomad-Token": secret})
    assert (r.status_code, r.text) == (200, "") and c.snapshot().table_index(JOB_SUMMARY) == index + 1
    for method in ("GET", "PUT", "DELETE"):
        r = client.simulate_request(method, "/v1/client/gc", headers={"X-Nomad-Token": secret})
        assert (r.status_code, r.text) == (200, "")
    assert client.simulate_get("/v1/client/gc").status_code == 403  # node write


def test_the_library_forces_a_collection() -> None:
    c = Cluster(seed=3)
    c.register(batch("b"))
    c.advance(60)
    c.services.system_gc()
    assert jobs(c) == set()


def test_reconcile_rebuilds_summaries_and_counts_what_a_dry_run_would_place() -> None:
    c = Cluster(seed=3)
    c.register(batch("param", ParameterizedJob={"Payload": "optional"}))
    big = service("big")
    big["TaskGroups"][0].update(Count=2, Tasks=[{**_task("/bin/sleep"), "Resources": {"CPU": 10**6, "MemoryMB": 32}}])
    c.register(big)
    c.register(service("web", TaskGroups=[{"Name": "g", "Count": 2, "Tasks": [_task("/bin/sleep")]}]))
    c.advance(5)
    state = c.snapshot()
    assert state.job_summary("default", "param").Children is not None
    index = c.index
    c.services.reconcile_summaries()
    state = c.snapshot()
    summaries = {j: state.job_summary("default", j) for j in ("param", "big", "web")}
    # v0.7.1 plans every job, parents included: the parameterized parent shows 1 queued.
    assert {j: (sm.Summary["g"].Queued, sm.Summary["g"].Running) for j, sm in summaries.items()} == \
        {"param": (1, 0), "big": (2, 0), "web": (0, 2)}
    assert all(sm.Children is None and sm.ModifyIndex == index + 1 for sm in summaries.values())
    assert len(list(state.allocs())) == 2 and state.latest_index() == index + 1  # a dry run: nothing else
