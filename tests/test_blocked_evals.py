"""The blocked-evals tracker: a backlog of identical blocked jobs drains in linear work,
and hands capacity out exactly as queueing every blocked evaluation would."""

from __future__ import annotations

from typing import Any

import pytest

from nomadjobs import Cluster
from nomadjobs import structs as s
from nomadjobs.codec import job_from_dict
from nomadjobs.core.blocked import BlockedEvals, order_key
from nomadjobs.fleet import NodeSpec


def _parent(job_id: str, cpu: int, memory: int, priority: int = 50) -> s.Job:
    return job_from_dict({
        "ID": job_id, "Type": "batch", "Priority": priority, "Datacenters": ["dc1"],
        "ParameterizedJob": {"Payload": "optional"},
        "TaskGroups": [{"Name": "g", "Count": 1, "Tasks": [{
            "Name": "t", "Driver": "exec", "Config": {"command": "/bin/true"},
            "Resources": {"CPU": cpu, "MemoryMB": memory}}]}]})


def _count_passes(cluster: Cluster) -> list[s.Evaluation]:
    """Record every scheduler pass of the cluster's worker."""
    passes: list[s.Evaluation] = []
    core = cluster.core
    schedule = core._schedule

    def counting(ev: s.Evaluation) -> None:
        passes.append(ev)
        schedule(ev)

    core._schedule = counting  # type: ignore[method-assign]
    return passes


def _backlog(group_shapes: bool, parents: list[tuple[str, int, int, int]], dispatches: list[str],
             nodes: int = 2) -> Cluster:
    cluster = Cluster([NodeSpec(name=f"n{i}", cpu_mhz=4000, memory_mb=8192) for i in range(nodes)], seed=7)
    cluster.core.blocked = BlockedEvals(group_shapes=group_shapes)
    for job_id, cpu, memory, priority in parents:
        cluster.jobs.register_job(s.JobRegisterRequest(Job=_parent(job_id, cpu, memory, priority)))
    for parent in dispatches:
        cluster.jobs.dispatch_job(parent, s.JobDispatchRequest(JobID=parent))
    return cluster


def _placement_order(cluster: Cluster) -> list[tuple[str, int]]:
    """Each child as (parent, dispatch position), in the order it was first placed."""
    state = cluster.snapshot()
    children = sorted((j for j in state.jobs() if j.ParentID), key=lambda j: j.CreateIndex or 0)
    position = {j.ID: (j.ParentID or "", n) for n, j in enumerate(children)}
    first = {}
    for alloc in state.allocs():
        first[alloc.JobID] = min(first.get(alloc.JobID, alloc.CreateIndex or 0), alloc.CreateIndex or 0)
    return [position[job_id] for job_id in sorted(first, key=lambda j: (first[j], position[j][1]))]


def _outcome(cluster: Cluster) -> dict[str, Any]:
    state = cluster.snapshot()
    statuses: dict[str, int] = {}
    for ev in state.evals():
        statuses[ev.Status or ""] = statuses.get(ev.Status or "", 0) + 1
    return {
        "order": _placement_order(cluster),
        "evals": statuses,
        "allocs": sorted((a.ClientStatus or "") for a in state.allocs()),
        "jobs": sorted((j.Status or "") for j in state.jobs()),
    }


def test_a_backlog_of_identical_children_drains_in_linear_passes() -> None:
    n = 200
    cluster = _backlog(True, [("p", 3000, 6000, 50)], ["p"] * n)
    passes = _count_passes(cluster)
    cluster.advance(3600)
    state = cluster.snapshot()
    assert sum(1 for a in state.allocs() if a.ClientStatus == s.ALLOC_CLIENT_COMPLETE) == n
    # Each freed slot costs one pass that places and one that finds nothing, not one
    # per blocked child (queueing all of them took about n*n/4 passes here).
    assert len(passes) <= 3 * n


@pytest.mark.parametrize("parents,dispatches", [
    ([("p", 3000, 6000, 50)], ["p"] * 30),
    # Two shapes interleaved: the broker's order runs across them. (Every child fills a
    # node, so which node the seeded shuffle picks cannot change who fits next.)
    ([("big", 3000, 6000, 50), ("small", 2500, 5000, 50)], ["big", "small", "small", "big"] * 8),
    # A higher priority shape overtakes older children of a lower one.
    ([("low", 3000, 6000, 30), ("high", 3000, 6000, 70)], ["low"] * 10 + ["high"] * 10 + ["low"] * 5),
])
def test_grouping_hands_out_capacity_as_queueing_every_blocked_eval_does(
        parents: list[tuple[str, int, int, int]], dispatches: list[str]) -> None:
    outcomes = []
    for group_shapes in (False, True):
        cluster = _backlog(group_shapes, parents, dispatches)
        cluster.advance(3600)
        outcomes.append(_outcome(cluster))
    grouped_order = outcomes[1]["order"]
    assert len(grouped_order) == len(dispatches)
    assert outcomes[1] == outcomes[0]


def test_children_are_placed_oldest_first_within_a_priority() -> None:
    cluster = _backlog(True, [("p", 3000, 6000, 50)], ["p"] * 12, nodes=1)
    cluster.advance(3600)
    assert _placement_order(cluster) == [("p", n) for n in range(12)]


def test_a_job_that_has_run_is_not_grouped() -> None:
    cluster = _backlog(True, [("p", 3000, 6000, 50)], ["p"] * 4, nodes=1)
    state = cluster.snapshot()
    blocked = [ev for ev in state.evals() if ev.Status == s.EVAL_STATUS_BLOCKED]
    assert len(blocked) == 3 and cluster.core.blocked.shape_count() == 1
    # A service job that fits only partly has allocations and a blocked eval: alone.
    cluster.jobs.register_job(s.JobRegisterRequest(Job=job_from_dict({
        "ID": "svc", "Datacenters": ["dc1"], "TaskGroups": [{"Name": "g", "Count": 3, "Tasks": [{
            "Name": "t", "Driver": "exec", "Config": {"command": "/bin/true"},
            "Resources": {"CPU": 300, "MemoryMB": 300}}]}]})))
    assert cluster.core.blocked.shape_count() == 1
    cluster.jobs.register_job(s.JobRegisterRequest(Job=job_from_dict({
        "ID": "svc2", "Datacenters": ["dc1"], "TaskGroups": [{"Name": "g", "Count": 30, "Tasks": [{
            "Name": "t", "Driver": "exec", "Config": {"command": "/bin/true"},
            "Resources": {"CPU": 100, "MemoryMB": 40}}]}]})))
    state = cluster.snapshot()
    assert any(ev.JobID == "svc2" and ev.Status == s.EVAL_STATUS_BLOCKED for ev in state.evals())
    assert cluster.core.blocked.shape_count() == 2


def test_blocked_evals_survive_a_dump_and_load() -> None:
    cluster = _backlog(True, [("p", 3000, 6000, 50)], ["p"] * 5, nodes=1)
    data = cluster.dump()
    restored = Cluster([], seed=7)
    restored.load(data)
    assert len(restored.core.blocked) == 4
    restored.add_node(NodeSpec(name="extra"))
    placed = {a.JobID for a in restored.snapshot().allocs()}
    assert len(placed) == 2  # the one that ran before and the oldest blocked child


def _ev(eval_id: str, create_index: int, priority: int = 50) -> s.Evaluation:
    return s.Evaluation(ID=eval_id, Namespace="default", JobID=f"job-{eval_id}", Priority=priority,
                        Type="batch", Status=s.EVAL_STATUS_BLOCKED, CreateIndex=create_index)


def test_a_member_is_released_again_when_a_plan_frees_capacity_before_its_turn() -> None:
    tracker = BlockedEvals()
    for eval_id, index in (("a", 10), ("b", 20), ("c", 30), ("d", 40)):
        tracker.track(_ev(eval_id, index), "shape")
    assert [ev.ID for ev in tracker.release()] == ["a"]
    assert tracker.finished("a", wrote=False) is None  # nothing fits: b, c, d would fail too
    # A plan processed at broker position (50, 25) stopped allocations: b had its turn
    # already, c and d had not.
    released = tracker.capacity_freed((-50, 25))
    assert [ev.ID for ev in released] == ["c"]
    nxt = tracker.finished("c", wrote=True)
    assert nxt is not None and nxt.ID == "d"
    assert tracker.finished("d", wrote=False) is None
    tracker.end_round()
    assert tracker.capacity_freed((-50, 0)) == []  # a new round: nothing is due until a release
    assert [ev.ID for ev in tracker.release()] == ["a"]


def test_a_member_blocked_after_a_release_waits_for_the_next_one() -> None:
    tracker = BlockedEvals()
    tracker.track(_ev("a", 10), "shape")
    assert [ev.ID for ev in tracker.release()] == ["a"]
    tracker.track(_ev("b", 20), "shape")  # blocked while a's pass runs
    tracker.untrack("a")  # a placed
    assert tracker.finished("a", wrote=True) is None
    assert [ev.ID for ev in tracker.release()] == ["b"]


def test_order_key_is_the_brokers() -> None:
    evals = [_ev("x", 5, 30), _ev("y", 9, 70), _ev("z", 3, 70)]
    assert [ev.ID for ev in sorted(evals, key=order_key)] == ["z", "y", "x"]
