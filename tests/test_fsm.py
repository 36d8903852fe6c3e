"""The FSM is the only writer: every change is a serializable command, and replaying the
command log into an empty store rebuilds the same state at the same indexes."""

from __future__ import annotations

import json

import attrs
import pytest

from nomadjobs import Cluster, codec, fsm
from nomadjobs import structs as s
from nomadjobs.state.store import SCHEMA, StateReader, new_database


def _sample_job(job_id: str = "web", count: int = 2) -> dict:
    return {"ID": job_id, "Datacenters": ["dc1"], "Type": "service",
            "TaskGroups": [{"Name": "web", "Count": count,
                            "Tasks": [{"Name": "srv", "Driver": "exec", "Config": {"command": "/bin/srv"},
                                       "Resources": {"CPU": 100, "MemoryMB": 64}}]}],
            "Update": {"MaxParallel": 1, "MinHealthyTime": 1_000_000_000, "HealthyDeadline": 60_000_000_000}}


def _workload(cluster: Cluster) -> None:
    cluster.register(_sample_job())
    cluster.advance(5)
    cluster.register(_sample_job(count=3))
    cluster.advance(5)
    cluster.register({"ID": "batch", "Type": "batch", "Datacenters": ["dc1"],
                      "TaskGroups": [{"Name": "b", "Tasks": [{"Name": "t", "Driver": "raw_exec",
                                                              "Config": {"command": "/bin/true"}}]}]})
    cluster.advance(5)
    cluster.jobs.deregister_job("web", purge=False)
    cluster.advance(5)


def _tables(reader: StateReader) -> dict[str, list]:
    return {t.name: [codec.to_wire(row) for row in reader.view.scan(t.name)] for t in SCHEMA}


def test_replaying_the_command_log_rebuilds_the_same_state() -> None:
    cluster = Cluster(seed=3, record_log=True)
    _workload(cluster)
    original = cluster.snapshot()

    db = new_database()
    replica = fsm.FSM(db)
    for index, command in cluster.fsm.log:
        result = replica.apply(command)
        assert result.index == index
    assert db.latest_index == original.latest_index()
    replayed = StateReader(db.snapshot())
    assert _tables(replayed) == _tables(original)
    for t in SCHEMA:
        assert replayed.table_index(t.name) == original.table_index(t.name)


@pytest.fixture
def logged_commands() -> list:
    cluster = Cluster(seed=4, record_log=True)
    _workload(cluster)
    return [c for _, c in cluster.fsm.log]


def test_every_command_survives_a_wire_round_trip(logged_commands: list) -> None:
    kinds = {type(c) for c in logged_commands}
    assert {fsm.JobRegister, fsm.EvalUpdate, fsm.ApplyPlanResults, fsm.AllocClientUpdate,
            fsm.JobDeregister} <= kinds
    for command in logged_commands:
        data = json.loads(json.dumps(codec.to_wire(command)))
        assert codec.from_wire(data, type(command)) == command


def test_a_refused_command_burns_its_index_and_changes_nothing_else() -> None:
    cluster = Cluster(seed=5)
    before = cluster.snapshot()
    result = cluster.apply(fsm.JobDeregister("default", "missing"))
    assert result.error == 'job "missing" in namespace "default" doesn\'t exist to be deregistered'
    assert result.index == before.latest_index() + 1 == cluster.index
    after = cluster.snapshot()
    assert _tables(after) == _tables(before)
    assert all(after.table_index(t.name) == before.table_index(t.name) for t in SCHEMA)


def test_a_command_that_raises_leaves_no_trace() -> None:
    cluster = Cluster(seed=6)
    before_index = cluster.index
    bad = s.Allocation(ID="a1", Namespace="default", JobID="nope", Job=None)
    result = cluster.apply(fsm.ApplyPlanResults(eval_id="", job=None, allocs=[bad]))
    assert result.error is not None and "without a job" in result.error
    assert cluster.snapshot().alloc_by_id("a1") is None
    assert cluster.index == before_index + 1


def test_log_replay_needs_every_command_in_order() -> None:
    """The seam for durability: dropping a command changes the rebuilt state."""
    cluster = Cluster(seed=7, record_log=True)
    _workload(cluster)
    db = new_database()
    replica = fsm.FSM(db)
    log = cluster.fsm.log
    skipped = next(i for i, (_, c) in enumerate(log) if isinstance(c, fsm.ApplyPlanResults))
    for i, (_, command) in enumerate(log):
        if i != skipped:
            replica.apply(command)
    assert _tables(StateReader(db.snapshot())) != _tables(cluster.snapshot())


def test_commands_are_frozen_plain_data() -> None:
    cmd = fsm.JobStability("default", "web", 0, True)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        cmd.stable = False  # type: ignore[misc]
