"""Simulated clients, deployment watcher and faults, driven end to end on the
virtual clock through the Jobs service and the real scheduler."""

from __future__ import annotations

import json
from typing import Any, Optional

import pytest

from nomadjobs import Cluster, NodeSpec, NomadError, golden_fleet
from nomadjobs import codec
from nomadjobs import structs as s
from nomadjobs.lifecycle import ClientTiming

NS = "default"
MS = 1_000_000
S = 1_000_000_000
from conformance import GOLDEN_DIR  # noqa: E402  (vendored recordings)

GOLDEN = GOLDEN_DIR


def make_job(job_id: str, type_: str = "service", count: int = 1, *, update: Optional[dict] = None,
             restart: Optional[dict] = None, meta: Optional[dict] = None, args: tuple[str, ...] = ("600",),
             cpu: int = 100, memory: int = 32, tasks: Optional[list[str]] = None) -> s.Job:
    task_names = tasks or ["main"]
    group: dict[str, Any] = {
        "Name": "g", "Count": count,
        "Tasks": [{"Name": name, "Driver": "raw_exec", "Config": {"command": "/bin/sleep", "args": list(args)},
                   "Resources": {"CPU": cpu, "MemoryMB": memory}, "Meta": meta} for name in task_names],
    }
    if restart is not None:
        group["RestartPolicy"] = restart
    body: dict[str, Any] = {"ID": job_id, "Type": type_, "Datacenters": ["dc1"], "TaskGroups": [group]}
    if update is not None:
        body["Update"] = update
    return codec.from_wire(body, s.Job)


def register(cluster: Cluster, job: s.Job) -> s.JobRegisterResponse:
    return cluster.jobs.register_job(s.JobRegisterRequest(Job=job))


def allocs(cluster: Cluster, job_id: str) -> list[s.Allocation]:
    return sorted(cluster.snapshot().allocs_by_job(NS, job_id), key=lambda a: (a.CreateIndex, a.Name))


def only_alloc(cluster: Cluster, job_id: str) -> s.Allocation:
    found = allocs(cluster, job_id)
    assert len(found) == 1, found
    return found[0]


def summary(cluster: Cluster, job_id: str, group: str = "g") -> s.TaskGroupSummary:
    return cluster.snapshot().job_summary(NS, job_id).Summary[group]


def deployment(cluster: Cluster, job_id: str) -> s.Deployment:
    return cluster.snapshot().latest_deployment_by_job(NS, job_id)


def events(alloc: s.Allocation, task: str = "main") -> list[str]:
    return [e.Type for e in alloc.TaskStates[task].Events]


# Most tests here look at every task transition the moment it happens: their clients
# report each change at once instead of on the 200 ms sync (tested on its own below).
IMMEDIATE = ClientTiming(sync_interval_ns=0)

UPDATE = {"MaxParallel": 1, "MinHealthyTime": 1 * S, "HealthyDeadline": 60 * S}


@pytest.fixture
def cluster() -> Cluster:
    c = Cluster(seed=7, client_timing=IMMEDIATE)
    c.fsm.keep_log = True
    return c


# --- clients: batch ---------------------------------------------------------------------------

def test_batch_alloc_runs_to_completion_with_client_events(cluster: Cluster) -> None:
    register(cluster, make_job("b", "batch"))
    placed = only_alloc(cluster, "b")
    t0 = placed.CreateTime
    assert (placed.ClientStatus, placed.TaskStates) == ("pending", None)
    assert summary(cluster, "b") == s.TaskGroupSummary(Starting=1)

    cluster.advance(0.049)
    assert only_alloc(cluster, "b").ClientStatus == "pending"
    cluster.advance(0.001)
    running = only_alloc(cluster, "b")
    assert running.ClientStatus == "running"
    assert running.ModifyTime == t0 + 50 * MS
    assert summary(cluster, "b") == s.TaskGroupSummary(Running=1)
    assert cluster.snapshot().job_by_id(NS, "b").Status == "running"
    state = running.TaskStates["main"]
    assert (state.State, state.StartedAt, state.FinishedAt) == ("running", "2026-01-01T00:00:00.05Z",
                                                                "0001-01-01T00:00:00Z")
    received, setup, started = state.Events
    assert (received.Type, received.DisplayMessage, received.Details, received.Time) == \
        ("Received", "Task received by client", {}, t0 + 15 * MS)
    assert (setup.Type, setup.Message, setup.DisplayMessage, setup.Details) == \
        ("Task Setup", "Building Task Directory", "Building Task Directory", {"message": "Building Task Directory"})
    assert received.Time < setup.Time < started.Time
    assert (started.Type, started.DisplayMessage, started.Details) == ("Started", "Task started by client", {})

    cluster.advance(0.1)
    done = only_alloc(cluster, "b")
    assert done.ClientStatus == "complete" and done.DesiredStatus == "run"
    state = done.TaskStates["main"]
    assert state.State == "dead" and not state.Failed
    assert state.FinishedAt == "2026-01-01T00:00:00.15Z"
    term = state.Events[-1]
    assert (term.Type, term.DisplayMessage, term.Details, term.ExitCode) == \
        ("Terminated", "Exit Code: 0", {"exit_code": "0", "signal": "0"}, 0)
    assert summary(cluster, "b") == s.TaskGroupSummary(Complete=1)
    assert cluster.snapshot().job_by_id(NS, "b").Status == "dead"
    assert cluster.clock.pending() == 0  # nothing left ticking for a finished alloc


def test_batch_job_status_goes_pending_running_dead(cluster: Cluster) -> None:
    start = cluster.index
    register(cluster, make_job("b", "batch", count=2))
    cluster.run_until_quiet()
    statuses = []
    for index in range(start + 1, cluster.index + 1):
        snap = cluster.snapshot_at(index)
        job = snap.job_by_id(NS, "b") if snap is not None else None
        if job is not None and (not statuses or statuses[-1] != job.Status):
            statuses.append(job.Status)
    assert statuses == ["pending", "running", "dead"]
    assert summary(cluster, "b") == s.TaskGroupSummary(Complete=2)


def test_client_events_match_golden_shapes(cluster: Cluster) -> None:
    register(cluster, make_job("b", "batch"))
    cluster.run_until_quiet()
    ours = codec.to_wire(only_alloc(cluster, "b"))["TaskStates"]["main"]
    golden = json.loads((GOLDEN / "64_allocations_dispatched_child.json").read_text())
    theirs = golden["response"]["body_json"][0]["TaskStates"]["echo"]
    assert list(ours) == list(theirs)
    assert [e["Type"] for e in ours["Events"]] == [e["Type"] for e in theirs["Events"]]
    for mine, real in zip(ours["Events"], theirs["Events"]):
        assert list(mine) == list(real)
        assert {k: v for k, v in mine.items() if k != "Time"} == {k: v for k, v in real.items() if k != "Time"}


def test_timing_is_configurable() -> None:
    c = Cluster(seed=1, client_timing=IMMEDIATE)
    c.lifecycle.clients.timing = ClientTiming(start_ns=2 * S, batch_run_ns=10 * S)
    register(c, make_job("b", "batch"))
    c.advance(1.9)
    assert only_alloc(c, "b").ClientStatus == "pending"
    c.advance(0.2)
    assert only_alloc(c, "b").ClientStatus == "running"
    c.advance(10)
    assert only_alloc(c, "b").ClientStatus == "complete"


def test_task_meta_shapes_runtime_and_exit_code(cluster: Cluster) -> None:
    register(cluster, make_job("b", "batch", meta={"nomadjobs.run_for": "3s", "nomadjobs.exit_code": "0"}))
    cluster.advance(2)
    assert only_alloc(cluster, "b").ClientStatus == "running"
    cluster.advance(2)
    assert only_alloc(cluster, "b").ClientStatus == "complete"


def test_clients_can_be_switched_off() -> None:
    c = Cluster(seed=1, simulate_clients=False, client_timing=IMMEDIATE)
    register(c, make_job("b", "batch"))
    c.advance(60)
    assert only_alloc(c, "b").ClientStatus == "pending"
    assert c.lifecycle.clients is None


# --- clients: stopping and restarting ---------------------------------------------------------

def test_stopping_a_service_kills_its_tasks(cluster: Cluster) -> None:
    register(cluster, make_job("web"))
    cluster.advance(1)
    cluster.jobs.deregister_job("web")
    stopped = only_alloc(cluster, "web")
    assert stopped.DesiredStatus == "stop" and stopped.ClientStatus == "running"
    cluster.advance(0.01)
    stopped = only_alloc(cluster, "web")
    assert stopped.ClientStatus == "complete"
    state = stopped.TaskStates["main"]
    assert state.State == "dead" and state.FinishedAt != s.ZERO_TIME
    killing, killed = state.Events[-2:]
    assert (killing.Type, killing.DisplayMessage, killing.Details, killing.KillTimeout) == \
        ("Killing", "Sent interrupt. Waiting 5s before force killing", {"kill_timeout": "5s"}, 5 * S)
    assert (killed.Type, killed.DisplayMessage) == ("Killed", "Task successfully killed")
    assert summary(cluster, "web") == s.TaskGroupSummary(Running=0, Complete=1)
    assert cluster.snapshot().job_by_id(NS, "web").Status == "dead"


def test_failed_task_restarts_then_fails_the_alloc(cluster: Cluster) -> None:
    restart = {"Attempts": 1, "Interval": 60 * S, "Delay": 2 * S, "Mode": "fail"}
    register(cluster, make_job("web", restart=restart))
    cluster.advance(1)
    alloc = only_alloc(cluster, "web")
    evals_before = len(cluster.snapshot().evals_by_job(NS, "web"))

    cluster.lifecycle.fail_task(alloc.ID)
    alloc = only_alloc(cluster, "web")
    state = alloc.TaskStates["main"]
    term, restarting = state.Events[-2:]
    assert (term.Type, term.DisplayMessage, term.ExitCode) == ("Terminated", "Exit Code: 1", 1)
    assert (restarting.Type, restarting.StartDelay, restarting.RestartReason, restarting.DisplayMessage) == \
        ("Restarting", 2 * S, "Restart within policy", "Task restarting in 2s")
    assert restarting.Details == {"start_delay": str(2 * S), "restart_reason": "Restart within policy"}
    assert (state.State, state.Restarts, alloc.ClientStatus) == ("pending", 1, "pending")
    assert state.LastRestart != s.ZERO_TIME
    assert summary(cluster, "web") == s.TaskGroupSummary(Starting=1)

    cluster.advance(2)
    alloc = only_alloc(cluster, "web")
    assert alloc.ClientStatus == "running" and events(alloc)[-1] == "Started"

    cluster.lifecycle.fail_task(alloc.ID, "main", exit_code=3)
    alloc = only_alloc(cluster, "web")
    state = alloc.TaskStates["main"]
    assert alloc.ClientStatus == "failed"
    assert (state.State, state.Failed) == ("dead", True)
    last = state.Events[-1]
    assert (last.Type, last.FailsTask) == ("Not Restarting", True)
    assert last.DisplayMessage == 'Exceeded allowed attempts 1 in interval 1m0s and mode is "fail"'
    assert summary(cluster, "web") == s.TaskGroupSummary(Failed=1)
    # v0.7.1 does not reschedule failed allocations: no evaluation follows.
    cluster.advance(30)
    assert len(cluster.snapshot().evals_by_job(NS, "web")) == evals_before
    assert len(allocs(cluster, "web")) == 1


def test_delay_mode_waits_out_the_interval(cluster: Cluster) -> None:
    restart = {"Attempts": 1, "Interval": 10 * S, "Delay": 1 * S, "Mode": "delay"}
    register(cluster, make_job("web", restart=restart))
    cluster.advance(1)
    alloc_id = only_alloc(cluster, "web").ID
    cluster.lifecycle.fail_task(alloc_id)   # t=1.0: within policy, 1s
    cluster.advance(1)
    cluster.lifecycle.fail_task(alloc_id)   # t=2.0: over the attempts: wait for the window
    last = only_alloc(cluster, "web").TaskStates["main"].Events[-1]
    assert last.RestartReason == "Exceeded allowed attempts, applying a delay"
    window_end = 0.05 + 10  # the tracker's window opened when the task first started
    assert last.StartDelay == int(round((window_end - 2.0) * 10**9))
    assert last.DisplayMessage.startswith("Exceeded allowed attempts, applying a delay - Task restarting in ")
    cluster.advance(8.04)
    assert only_alloc(cluster, "web").ClientStatus == "pending"
    cluster.advance(0.02)
    assert only_alloc(cluster, "web").ClientStatus == "running"


def test_failed_sibling_is_killed(cluster: Cluster) -> None:
    restart = {"Attempts": 0, "Interval": 60 * S, "Delay": 1 * S, "Mode": "fail"}
    register(cluster, make_job("web", restart=restart, tasks=["a", "b"]))
    cluster.advance(1)
    cluster.lifecycle.fail_task(only_alloc(cluster, "web").ID, "a")
    alloc = only_alloc(cluster, "web")
    assert alloc.ClientStatus == "failed"
    assert events(alloc, "a")[-2:] == ["Terminated", "Not Restarting"]
    assert alloc.TaskStates["a"].Events[-1].DisplayMessage == "Policy allows no restarts"
    assert events(alloc, "b")[-3:] == ["Sibling Task Failed", "Killing", "Killed"]
    assert alloc.TaskStates["b"].Events[-3].DisplayMessage == 'Task\'s sibling "a" failed'
    assert (alloc.TaskStates["b"].State, alloc.TaskStates["b"].Failed) == ("dead", False)


# --- deployments ------------------------------------------------------------------------------

def test_deployment_succeeds_after_min_healthy_time_like_golden() -> None:
    c = Cluster(golden_fleet(), seed=3, client_timing=IMMEDIATE)
    reply = register(c, make_job("raw-sleeper", update=UPDATE))
    job_index = reply.JobModifyIndex
    alloc = only_alloc(c, "raw-sleeper")
    d = deployment(c, "raw-sleeper")
    assert d.Status == "running"
    c.advance(1.04)
    assert only_alloc(c, "raw-sleeper").DeploymentStatus is None  # not before MinHealthyTime
    c.advance(0.02)
    healthy = only_alloc(c, "raw-sleeper")
    assert healthy.DeploymentStatus.Healthy is True
    assert healthy.ModifyTime == alloc.CreateTime + 1050 * MS
    assert deployment(c, "raw-sleeper").TaskGroups["g"].HealthyAllocs == 1
    c.advance(2)
    d = deployment(c, "raw-sleeper")
    assert (d.Status, d.StatusDescription) == ("successful", "Deployment completed successfully")
    job = c.snapshot().job_by_id(NS, "raw-sleeper")
    assert job.Stable is True and job.JobModifyIndex == job_index
    # Golden indexes 44..51: register, eval, plan, eval done, running, health, watcher eval, plan.
    assert alloc.CreateIndex == job_index + 2
    assert healthy.ModifyIndex == healthy.DeploymentStatus.ModifyIndex == job_index + 5
    assert c.snapshot().job_summary(NS, "raw-sleeper").ModifyIndex == job_index + 4
    assert d.ModifyIndex == job_index + 7
    watcher = [e for e in c.snapshot().evals_by_job(NS, "raw-sleeper") if e.TriggeredBy == "deployment-watcher"]
    assert len(watcher) == 1
    assert (watcher[0].DeploymentID, watcher[0].CreateIndex, watcher[0].Status) == (d.ID, job_index + 6, "complete")


def test_manual_health_check_reports_nothing(cluster: Cluster) -> None:
    register(cluster, make_job("web", update=dict(UPDATE, HealthCheck="manual")))
    cluster.advance(120)
    assert only_alloc(cluster, "web").DeploymentStatus is None
    assert deployment(cluster, "web").Status == "running"


def test_rolling_update_proceeds_batch_by_batch(cluster: Cluster) -> None:
    register(cluster, make_job("web", count=3, update=UPDATE))
    cluster.advance(10)
    assert deployment(cluster, "web").Status == "successful"
    register(cluster, make_job("web", count=3, update=UPDATE, args=("700",)))
    d = deployment(cluster, "web")
    assert d.JobVersion == 1 and d.Status == "running"
    cluster.advance(30)
    d = deployment(cluster, "web")
    assert (d.Status, d.TaskGroups["g"].HealthyAllocs, d.TaskGroups["g"].PlacedAllocs) == ("successful", 3, 3)
    live = [a for a in allocs(cluster, "web") if a.DesiredStatus == "run"]
    assert len(live) == 3 and all(a.Job.Version == 1 and a.ClientStatus == "running" for a in live)
    assert cluster.snapshot().job_by_id(NS, "web").Stable is True


def _stable_v0_then_v1(cluster: Cluster, auto_revert: bool = True, canary: int = 0) -> None:
    update = dict(UPDATE, AutoRevert=auto_revert, Canary=canary)
    register(cluster, make_job("web", update=update))
    cluster.advance(5)
    assert deployment(cluster, "web").Status == "successful"
    assert cluster.snapshot().job_by_id(NS, "web").Stable is True
    register(cluster, make_job("web", update=update, args=("700",)))
    cluster.advance(0.1)


def test_unhealthy_canary_fails_deployment_and_auto_reverts(cluster: Cluster) -> None:
    _stable_v0_then_v1(cluster, canary=1)
    d1 = deployment(cluster, "web")
    assert d1.JobVersion == 1
    canaries = d1.TaskGroups["g"].PlacedCanaries
    assert canaries and len(canaries) == 1
    cluster.lifecycle.make_unhealthy(canaries[0])
    cluster.advance(0.001)
    d1 = cluster.snapshot().deployment_by_id(d1.ID)
    assert (d1.Status, d1.StatusDescription) == ("failed", "Failed due to unhealthy allocations - rolling back to job version 0")
    job = cluster.snapshot().job_by_id(NS, "web")
    assert job.Version == 2 and job.Stable is True
    v0 = cluster.snapshot().job_by_version(NS, "web", 0)
    assert job.TaskGroups == v0.TaskGroups
    # The scheduler later points the eval at the rollback's own deployment.
    failing = [e for e in cluster.snapshot().evals_by_job(NS, "web")
               if e.TriggeredBy == "deployment-watcher" and e.CreateIndex == d1.ModifyIndex]
    assert len(failing) == 1 and failing[0].JobModifyIndex == 0
    cluster.advance(10)
    live = [a for a in allocs(cluster, "web") if a.DesiredStatus == "run" and not a.terminal()]
    assert len(live) == 1 and live[0].Job.TaskGroups[0].Tasks[0].Config["args"] == ["600"]


def test_rolled_back_version_failing_again_does_not_loop(cluster: Cluster) -> None:
    _stable_v0_then_v1(cluster)
    new = [a for a in allocs(cluster, "web") if a.Job.Version == 1 and not a.terminal()]
    cluster.lifecycle.make_unhealthy(new[0].ID)
    cluster.advance(0.5)
    assert cluster.snapshot().job_by_id(NS, "web").Version == 2
    d2 = deployment(cluster, "web")
    assert d2.JobVersion == 2
    current = [a for a in allocs(cluster, "web") if a.DeploymentID == d2.ID]
    cluster.lifecycle.make_unhealthy(current[0].ID)
    cluster.advance(0.001)
    d2 = cluster.snapshot().deployment_by_id(d2.ID)
    assert d2.StatusDescription == ("Failed due to unhealthy allocations - not rolling back to stable job "
                                    "version 2 as current job has same specification")
    assert cluster.snapshot().job_by_id(NS, "web").Version == 2


def test_no_stable_version_to_revert_to(cluster: Cluster) -> None:
    register(cluster, make_job("web", update=dict(UPDATE, AutoRevert=True)))
    cluster.advance(0.1)
    cluster.lifecycle.make_unhealthy(only_alloc(cluster, "web").ID)
    cluster.advance(0.001)
    d = deployment(cluster, "web")
    assert (d.Status, d.StatusDescription) == ("failed", "Failed due to unhealthy allocations - no stable job "
                                                         "version to auto revert to")
    assert cluster.snapshot().job_by_id(NS, "web").Version == 0


def test_without_auto_revert_the_job_stays(cluster: Cluster) -> None:
    _stable_v0_then_v1(cluster, auto_revert=False)
    new = [a for a in allocs(cluster, "web") if a.Job.Version == 1 and not a.terminal()]
    cluster.lifecycle.make_unhealthy(new[0].ID)
    cluster.advance(0.001)
    assert deployment(cluster, "web").StatusDescription == "Failed due to unhealthy allocations"
    assert cluster.snapshot().job_by_id(NS, "web").Version == 1


def test_placements_joining_a_finished_deployment_mark_its_version_stable_again(cluster: Cluster) -> None:
    """v0.7.1 (differential seed 31500000): a job version without an update stanza still
    places into the job's latest deployment, finished or not (generic_sched.go
    computePlacements). updateDeploymentWithAlloc upserts that successful deployment,
    upsertDeploymentImpl marks its version stable again and updateJobStabilityImpl
    writes that old version into the jobs table: the job row rewinds to v0."""
    register(cluster, make_job("web", update=UPDATE))
    cluster.advance(5)
    d0 = deployment(cluster, "web")
    assert d0.Status == "successful" and cluster.snapshot().job_by_id(NS, "web").Stable is True
    cluster.jobs.stable_job("web", s.JobStabilityRequest(JobID="web", JobVersion=0, Stable=False))
    reply = register(cluster, make_job("web", count=3, memory=128))
    cluster.advance(5)
    d = deployment(cluster, "web")
    assert (d.ID, d.Status, d.TaskGroups["g"].PlacedAllocs) == (d0.ID, "successful", 4)
    placed = [a for a in allocs(cluster, "web") if a.CreateIndex > reply.JobModifyIndex]
    assert len(placed) == 3 and all(a.DeploymentID == d0.ID and a.Job.Version == 1 for a in placed)
    row = cluster.snapshot().job_by_id(NS, "web")
    assert (row.Version, row.Stable, row.TaskGroups[0].Count) == (0, True, 1)
    assert row.ModifyIndex == placed[0].CreateIndex and row.JobModifyIndex < reply.JobModifyIndex
    versions = {v.Version: v.Stable for v in cluster.snapshot().job_versions(NS, "web")}
    assert versions == {1: False, 0: True}


def test_crashing_task_misses_the_healthy_deadline(cluster: Cluster) -> None:
    restart = {"Attempts": 10, "Interval": 600 * S, "Delay": 5 * S, "Mode": "delay"}
    update = dict(UPDATE, MinHealthyTime=10 * S, HealthyDeadline=20 * S)
    register(cluster, make_job("web", update=update, restart=restart,
                               meta={"nomadjobs.run_for": "8s", "nomadjobs.exit_code": "1"}))
    cluster.advance(19.9)
    assert only_alloc(cluster, "web").DeploymentStatus is None
    cluster.advance(0.2)
    alloc = only_alloc(cluster, "web")
    assert alloc.DeploymentStatus.Healthy is False
    assert deployment(cluster, "web").Status == "failed"


def test_stalled_deployment_fails_at_deadline(cluster: Cluster) -> None:
    register(cluster, make_job("web", update=dict(UPDATE, HealthyDeadline=30 * S)))
    cluster.lifecycle.stall_deployment(deployment(cluster, "web").ID)
    cluster.advance(29)
    assert deployment(cluster, "web").Status == "running"
    cluster.advance(2)
    assert deployment(cluster, "web").Status == "failed"


# --- the deployment API -----------------------------------------------------------------------

def test_deployment_api_errors(cluster: Cluster) -> None:
    api = cluster.lifecycle
    for call, message in [(lambda: api.fail_deployment(""), "missing deployment ID"),
                          (lambda: api.fail_deployment("nope"), "deployment not found"),
                          (lambda: api.pause_deployment("nope", True), "deployment not found"),
                          (lambda: api.set_alloc_health("x", [], []),
                           "must specify at least one healthy/unhealthy allocation ID")]:
        with pytest.raises(NomadError) as err:
            call()
        assert (str(err.value), err.value.code) == (message, 500)
    register(cluster, make_job("web", update=UPDATE))
    cluster.advance(5)
    done = deployment(cluster, "web").ID
    for call, message in [(lambda: api.fail_deployment(done), "can't fail terminal deployment"),
                          (lambda: api.pause_deployment(done, True), "can't pause terminal deployment"),
                          (lambda: api.pause_deployment(done, False), "can't resume terminal deployment"),
                          (lambda: api.promote_deployment(done, all=True), "can't promote terminal deployment"),
                          (lambda: api.set_alloc_health(done, ["a"]),
                           "can't set health of allocations for a terminal deployment")]:
        with pytest.raises(NomadError) as err:
            call()
        assert str(err.value) == message


def _canary_job(args: str) -> s.Job:
    update = dict(UPDATE, HealthCheck="manual")
    group = lambda name, canary: {  # noqa: E731
        "Name": name, "Count": 1, "Update": dict(update, Canary=canary),
        "Tasks": [{"Name": "main", "Driver": "raw_exec", "Config": {"command": "/bin/sleep", "args": [args]},
                   "Resources": {"CPU": 100, "MemoryMB": 32}}]}
    return codec.from_wire({"ID": "web", "Type": "service", "Datacenters": ["dc1"], "Update": update,
                            "TaskGroups": [group("g", 1), group("h", 0)]}, s.Job)


def test_promotion_names_each_unhealthy_canary_then_promotes_every_group(cluster: Cluster) -> None:
    # v0.7.1 nomad/state/state_store.go UpdateDeploymentPromotion, as a real 0.7.1 agent answers.
    register(cluster, _canary_job("600"))
    cluster.advance(1)
    register(cluster, _canary_job("700"))
    cluster.advance(1)
    d = deployment(cluster, "web")
    [canary] = d.TaskGroups["g"].PlacedCanaries
    api = cluster.lifecycle
    for groups, all_, message in [
            (None, True, f'1 error(s) occurred:\n\n* Canary allocation "{canary}" for group "g" is not healthy'),
            (["h"], False, "no canaries to promote"), (["nope"], False, "no canaries to promote"),
            (None, False, "no canaries to promote")]:
        with pytest.raises(NomadError) as err:
            api.promote_deployment(d.ID, groups=groups, all=all_)
        assert (str(err.value), err.value.code) == (message, 500)
    api.set_alloc_health(d.ID, [canary])
    api.promote_deployment(d.ID, all=True)
    d = cluster.snapshot().deployment_by_id(d.ID)
    assert {name: g.Promoted for name, g in d.TaskGroups.items()} == {"g": True, "h": True}
    assert (d.Status, d.StatusDescription) == ("running", "Deployment is running")


def test_promoting_the_last_canary_group_by_name_clears_requires_promotion(cluster: Cluster) -> None:
    register(cluster, _canary_job("600"))
    cluster.advance(1)
    register(cluster, _canary_job("700"))
    cluster.advance(1)
    d = deployment(cluster, "web")
    assert d.StatusDescription == "Deployment is running but requires promotion"
    cluster.lifecycle.set_alloc_health(d.ID, d.TaskGroups["g"].PlacedCanaries)
    cluster.lifecycle.promote_deployment(d.ID, groups=["g"])
    d = cluster.snapshot().deployment_by_id(d.ID)
    assert {name: g.Promoted for name, g in d.TaskGroups.items()} == {"g": True, "h": False}
    assert d.StatusDescription == "Deployment is running"


def test_pause_and_resume(cluster: Cluster) -> None:
    register(cluster, make_job("web", update=dict(UPDATE, HealthCheck="manual")))
    d = deployment(cluster, "web")
    paused = cluster.lifecycle.pause_deployment(d.ID, True)
    assert (paused.EvalID, paused.EvalCreateIndex) == ("", 0)
    assert paused.DeploymentModifyIndex == paused.Index == cluster.snapshot().deployment_by_id(d.ID).ModifyIndex
    assert deployment(cluster, "web").StatusDescription == "Deployment is paused"
    resumed = cluster.lifecycle.pause_deployment(d.ID, False)
    ev = cluster.snapshot().eval_by_id(resumed.EvalID)
    assert (ev.TriggeredBy, ev.DeploymentID, ev.CreateIndex) == ("deployment-watcher", d.ID, resumed.Index)
    assert (deployment(cluster, "web").Status, deployment(cluster, "web").StatusDescription) == \
        ("running", "Deployment is running")


def test_fail_by_user_reverts(cluster: Cluster) -> None:
    _stable_v0_then_v1(cluster)
    d1 = deployment(cluster, "web")
    reply = cluster.lifecycle.fail_deployment(d1.ID)
    assert reply.RevertedJobVersion == 0
    d1 = cluster.snapshot().deployment_by_id(d1.ID)
    assert d1.StatusDescription == "Deployment marked as failed - rolling back to job version 0"
    assert reply.EvalCreateIndex == reply.DeploymentModifyIndex == reply.Index == d1.ModifyIndex
    job = cluster.snapshot().job_by_id(NS, "web")
    assert (job.Version, job.JobModifyIndex) == (2, reply.Index)


def test_set_alloc_health_by_hand(cluster: Cluster) -> None:
    register(cluster, make_job("web", count=2, update=dict(UPDATE, HealthCheck="manual", MaxParallel=2)))
    cluster.advance(1)
    d = deployment(cluster, "web")
    a, b = allocs(cluster, "web")
    with pytest.raises(NomadError) as err:
        cluster.lifecycle.set_alloc_health(d.ID, ["missing"])
    assert str(err.value) == 'unknown alloc "missing"'
    reply = cluster.lifecycle.set_alloc_health(d.ID, [a.ID, b.ID])
    assert reply.RevertedJobVersion is None
    assert cluster.snapshot().alloc_by_id(a.ID).DeploymentStatus.Healthy is True
    assert cluster.snapshot().eval_by_id(reply.EvalID).TriggeredBy == "deployment-watcher"
    cluster.advance(5)
    assert deployment(cluster, "web").Status == "successful"


# --- nodes and capacity -----------------------------------------------------------------------

def test_killed_node_allocs_are_lost_and_replaced() -> None:
    c = Cluster([NodeSpec(name="n1"), NodeSpec(name="n2")], seed=5, client_timing=IMMEDIATE)
    register(c, make_job("web", count=2))
    c.advance(1)
    nodes = {a.NodeID for a in allocs(c, "web")}
    victim = sorted(nodes)[0]
    on_victim = [a.ID for a in allocs(c, "web") if a.NodeID == victim]
    created = c.lifecycle.kill_node(victim)
    assert len(created) == 1
    ev = c.snapshot().eval_by_id(created[0])
    assert (ev.TriggeredBy, ev.NodeID, ev.JobID, ev.Status) == ("node-update", victim, "web", "complete")
    for alloc_id in on_victim:
        lost = c.snapshot().alloc_by_id(alloc_id)
        assert (lost.ClientStatus, lost.DesiredStatus) == ("lost", "stop")
    c.advance(1)
    live = [a for a in allocs(c, "web") if not a.terminal()]
    assert len(live) == 2 and all(a.NodeID != victim and a.ClientStatus == "running" for a in live)
    assert summary(c, "web").Lost == len(on_victim)
    assert c.snapshot().node_by_id(victim).Status == "down"
    c.lifecycle.restore_node(victim)
    assert c.snapshot().node_by_id(victim).Status == "ready"


def test_blocked_eval_placed_when_a_node_joins() -> None:
    c = Cluster([NodeSpec(name="small", cpu_mhz=500)], seed=2, client_timing=IMMEDIATE)
    register(c, make_job("big", cpu=1000))
    assert allocs(c, "big") == []
    blocked = [e for e in c.snapshot().evals_by_job(NS, "big") if e.Status == "blocked"]
    assert len(blocked) == 1
    assert c.snapshot().job_by_id(NS, "big").Status == "pending"
    c.add_node(NodeSpec(name="large", cpu_mhz=4000))
    placed = only_alloc(c, "big")
    assert c.snapshot().node_by_id(placed.NodeID).Name == "large"
    c.advance(1)
    assert only_alloc(c, "big").ClientStatus == "running"


def test_blocked_eval_placed_when_capacity_frees() -> None:
    c = Cluster([NodeSpec(name="only", cpu_mhz=1000)], seed=2, client_timing=IMMEDIATE)
    register(c, make_job("first", "batch", cpu=800, meta={"nomadjobs.run_for": "10s"}))
    register(c, make_job("second", "batch", cpu=800))
    assert allocs(c, "second") == []
    c.advance(5)
    assert allocs(c, "second") == []
    c.advance(5.06)
    first = only_alloc(c, "first")
    assert first.ClientStatus == "complete"
    second = only_alloc(c, "second")
    assert second.CreateTime == first.ModifyTime  # placed as soon as the capacity freed
    c.run_until_quiet()
    assert only_alloc(c, "second").ClientStatus == "complete"
    assert c.snapshot().job_by_id(NS, "second").Status == "dead"


def test_drained_node_migrates_allocs() -> None:
    c = Cluster([NodeSpec(name="n1"), NodeSpec(name="n2")], seed=4, client_timing=IMMEDIATE)
    register(c, make_job("web", count=1))
    c.advance(1)
    first = only_alloc(c, "web")
    created = c.lifecycle.drain_node(first.NodeID)
    assert [c.snapshot().eval_by_id(i).TriggeredBy for i in created] == ["node-update"]
    c.advance(1)
    old = c.snapshot().alloc_by_id(first.ID)
    assert old.DesiredStatus == "stop" and old.ClientStatus == "complete"
    assert events(old)[-2:] == ["Killing", "Killed"]
    live = [a for a in allocs(c, "web") if not a.terminal()]
    assert len(live) == 1 and live[0].NodeID != first.NodeID and live[0].ClientStatus == "running"


def test_node_registration_creates_system_job_evals(cluster: Cluster) -> None:
    body = {"ID": "sys", "Type": "system", "Datacenters": ["dc1"],
            "TaskGroups": [{"Name": "g", "Tasks": [{"Name": "main", "Driver": "raw_exec",
                                                     "Config": {"command": "/bin/sleep"},
                                                     "Resources": {"CPU": 100, "MemoryMB": 32}}]}]}
    register(cluster, codec.from_wire(body, s.Job))
    assert len(allocs(cluster, "sys")) == 3
    node = cluster.add_node(NodeSpec(name="node-4"))
    cluster.advance(0)
    evs = [e for e in cluster.snapshot().evals_by_job(NS, "sys") if e.TriggeredBy == "node-update"]
    assert [e.NodeID for e in evs] == [node.ID]
    assert any(a.NodeID == node.ID for a in allocs(cluster, "sys"))


def test_fault_errors(cluster: Cluster) -> None:
    with pytest.raises(ValueError):
        cluster.lifecycle.kill_node("missing")
    with pytest.raises(ValueError):
        cluster.lifecycle.fail_task("missing")
    register(cluster, make_job("web"))
    cluster.advance(1)
    with pytest.raises(ValueError, match="not part of a deployment"):
        cluster.lifecycle.make_unhealthy(only_alloc(cluster, "web").ID)


def test_wall_clock_moves_allocs_on_its_own() -> None:
    import time
    with Cluster(seed=1, clock="wall") as c:
        register(c, make_job("b", "batch"))
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and only_alloc(c, "b").ClientStatus != "complete":
            time.sleep(0.02)
        assert only_alloc(c, "b").ClientStatus == "complete"
        assert c.snapshot().job_by_id(NS, "b").Status == "dead"


def test_make_unhealthy_without_simulated_clients() -> None:
    c = Cluster(seed=1, simulate_clients=False, client_timing=IMMEDIATE)
    register(c, make_job("web", update=UPDATE))
    c.lifecycle.make_unhealthy(only_alloc(c, "web").ID)
    c.advance(0.001)
    assert deployment(c, "web").Status == "failed"
    with pytest.raises(ValueError, match="already decided"):
        c.lifecycle.make_unhealthy(only_alloc(c, "web").ID)


def test_node_evals_follow_the_live_job_after_an_id_is_reused_for_another_type():
    """A purged system job's allocations stay on the nodes (no GC here); when the ID comes
    back as a periodic parent, a lost node must not schedule the parent as a system job."""
    from nomadjobs import Cluster as _Cluster
    cluster = _Cluster(seed=1)
    group = [{"Name": "g", "Tasks": [{"Name": "t", "Driver": "exec", "Config": {"command": "/bin/x"},
                                       "Resources": {"CPU": 100, "MemoryMB": 64}}]}]
    cluster.register({"ID": "gamma", "Type": "system", "Datacenters": ["dc1"], "TaskGroups": group})
    cluster.advance(1)
    cluster.jobs.deregister_job("gamma", purge=True)
    cluster.advance(0.05)
    cluster.register({"ID": "gamma", "Type": "batch", "Datacenters": ["dc1"],
                      "Periodic": {"Spec": "0 0 1 1 *"}, "TaskGroups": group})
    cluster.kill_node(cluster.snapshot().nodes()[0].ID)
    cluster.advance(1)
    state = cluster.snapshot()
    assert [a for a in state.allocs_by_job("default", "gamma", all_incarnations=False) if not a.terminal()] == []
    assert all(e.TriggeredBy != "node-update" for e in state.evals_by_job("default", "gamma"))


def test_node_evals_waiting_for_their_timer_schedule_the_job_as_it_is_when_written():
    """A node's evaluations wait for a clock tick; a job purged and registered again
    as another type meanwhile is scheduled as that type (as if the evals had been
    written with the node update), not by the scheduler of the type it had before."""
    from nomadjobs import Cluster as _Cluster
    from nomadjobs.fleet import NodeSpec
    cluster = _Cluster(seed=3)
    group = [{"Name": "g", "Tasks": [{"Name": "t", "Driver": "exec", "Config": {"command": "/bin/x"},
                                       "Resources": {"CPU": 100, "MemoryMB": 64}}]}]
    cluster.register({"ID": "beta", "Type": "system", "Datacenters": ["dc1"], "TaskGroups": group})
    cluster.add_node(NodeSpec("late-1"))  # its node evals (beta as a system job) wait for a tick
    cluster.jobs.deregister_job("beta", purge=True)
    cluster.register({"ID": "beta", "Type": "batch", "Datacenters": ["dc1"], "TaskGroups": group})
    cluster.advance(1)
    state = cluster.snapshot()
    node_evals = [e for e in state.evals_by_job("default", "beta") if e.TriggeredBy == "node-update"]
    assert node_evals and all(e.Type == "batch" for e in node_evals)
    # Count 1: one allocation, not one per node as the system scheduler would place.
    assert len(state.allocs_by_job("default", "beta", all_incarnations=False)) == 1


# --- how clients report: Nomad's 200 ms sync and the servers' 50 ms batch ------------------------

def test_allocations_placed_together_report_in_one_commit() -> None:
    c = Cluster(golden_fleet(), seed=11)
    register(c, make_job("pair", count=2))
    placed = allocs(c, "pair")
    assert [a.ClientStatus for a in placed] == ["pending", "pending"]
    c.advance(0.049)  # the tasks have not started: nothing to report
    index = c.index
    c.advance(0.55)   # started at 50 ms; sent at the client's next tick, committed 50 ms later
    running = allocs(c, "pair")
    assert [a.ClientStatus for a in running] == ["running", "running"]
    # One Node.UpdateAlloc batch: both allocations changed in the same entry, the only one.
    assert running[0].ModifyIndex == running[1].ModifyIndex == index + 1
    assert running[0].ModifyTime == running[1].ModifyTime
    tick = running[0].ModifyTime - placed[0].CreateTime
    assert 50 * MS < tick <= 250 * MS


def test_a_batch_task_that_ends_within_one_sync_reports_once() -> None:
    # As in the golden recording (case 64): created at N, complete at N+2 with no
    # "running" entry between (N+1 is the evaluation's update).
    c = Cluster(golden_fleet(), seed=11, client_timing=ClientTiming(batch_run_ns=1 * MS))
    register(c, make_job("quick", "batch"))
    created = only_alloc(c, "quick")
    c.advance(1)
    done = only_alloc(c, "quick")
    assert done.ClientStatus == "complete"
    assert done.ModifyIndex == created.CreateIndex + 2
    assert events(done) == ["Received", "Task Setup", "Started", "Terminated"]


def test_clients_on_different_nodes_sync_on_their_own_ticks() -> None:
    c = Cluster([NodeSpec(name="n1"), NodeSpec(name="n2")], seed=4)
    register(c, make_job("spread", count=2))
    nodes = {a.NodeID for a in allocs(c, "spread")}
    assert len(nodes) == 2  # one per node (bin-packing spreads equal nodes by score)
    c.advance(1)
    running = allocs(c, "spread")
    assert [a.ClientStatus for a in running] == ["running", "running"]
    ticks = {a.NodeID: a.ModifyTime % (200 * MS) for a in running}
    phases = {n: int(n.replace("-", "")[:8], 16) % (200 * MS) for n in nodes}
    assert ticks == phases  # each client's updates left on its own ticker


def test_the_watcher_measures_health_against_the_first_evaluation_by_id() -> None:
    """v0.7.1 latestEvalIndex takes evals[0] of EvalsByJob, the job's evaluation first
    in the state index's (status, ID) order, not its newest: whether a health report is
    already evaluated depends on which random ID sorts first (differential seed
    70500001: Nomad made two watcher evaluations where the newest-eval rule makes one)."""
    differed = 0
    for seed in range(8):
        cluster = Cluster(seed=seed)
        register(cluster, make_job("web", update=UPDATE))
        cluster.advance(5)
        register(cluster, make_job("web", count=2, update=UPDATE))
        cluster.advance(5)
        state = cluster.snapshot()
        evals = state.evals_by_job(NS, "web")
        first = min(evals, key=lambda e: (e.Status, e.ID))
        watcher = cluster.lifecycle.deployments
        got = watcher._latest_eval_index(state, deployment(cluster, "web"))
        assert got == (first.SnapshotIndex or first.CreateIndex)
        differed += got != max(e.SnapshotIndex or e.CreateIndex for e in evals)
    assert differed  # some seed's first ID is not its newest evaluation


def test_stopping_a_finished_allocation_brings_one_more_client_update(cluster: Cluster) -> None:
    """v0.7.1's alloc runner outlives its tasks: when the servers then stop the
    allocation, handleDestroy sends the client's state once more, so its ModifyIndex
    moves past the stop's AllocModifyIndex (differential seed 90400004)."""
    register(cluster, make_job("once", type_="batch", count=2))
    cluster.advance(5)
    finished = allocs(cluster, "once")
    assert {a.ClientStatus for a in finished} == {"complete"}
    cluster.jobs.deregister_job("once")
    cluster.advance(5)
    # Stopping a batch job leaves its finished allocations be; an evaluation of the
    # stopped job then stops them (as v0.7.1 does).
    assert {a.DesiredStatus for a in allocs(cluster, "once")} == {"run"}
    cluster.jobs.evaluate_job("once")
    cluster.advance(5)
    for alloc in allocs(cluster, "once"):
        assert alloc.DesiredStatus == "stop" and alloc.ClientStatus == "complete"
        assert alloc.ModifyIndex > alloc.AllocModifyIndex > max(a.ModifyIndex for a in finished)
    # And only once: nothing more arrives later.
    settled = cluster.snapshot().latest_index()
    cluster.advance(60)
    assert cluster.snapshot().latest_index() == settled


@pytest.mark.parametrize("command,failed", [("/bin/true", False), ("/bin/false", True)])
def test_a_service_task_that_exits_at_once_waits_to_restart(command: str, failed: bool) -> None:
    # As on a real client: the command exits, and the service's restart policy (15 s
    # delay) holds the allocation pending meanwhile; nomadjobs.run_for still wins.
    cluster = Cluster(seed=2)
    cluster.register({"ID": "svc", "Datacenters": ["dc1"], "TaskGroups": [{"Name": "g", "Tasks": [{
        "Name": "main", "Driver": "exec", "Config": {"command": command},
        "Resources": {"CPU": 100, "MemoryMB": 32}}]}]})
    cluster.advance(1)
    alloc = only_alloc(cluster, "svc")
    state = alloc.TaskStates["main"]
    assert alloc.ClientStatus == "pending" and state.State == "pending" and state.Restarts == 1
    assert [e.Type for e in state.Events][-2:] == ["Terminated", "Restarting"]
    assert state.Events[-2].ExitCode == (1 if failed else 0)
    assert summary(cluster, "svc") == s.TaskGroupSummary(Starting=1)
    cluster.advance(20)  # restarted at 15 s, exited again: a second restart is waiting
    again = only_alloc(cluster, "svc")
    assert (again.ClientStatus, again.TaskStates["main"].Restarts) == ("pending", 2)
