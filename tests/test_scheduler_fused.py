"""The fused ranking loop (nomadjobs.scheduler.fused) must choose exactly what the
iterator chain chooses, with the same metrics, whatever the fleet and the jobs."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nomadjobs import codec
from nomadjobs import structs as s
from nomadjobs.cluster import Cluster
from nomadjobs.errors import NomadError
from nomadjobs.fleet import NodeSpec
from nomadjobs.scheduler import fused
from nomadjobs.scheduler.stack import GenericStack
from nomadjobs.testing.strategies import jobs


@contextmanager
def ranking(use_fused: bool) -> Iterator[None]:
    saved = GenericStack.use_fused
    GenericStack.use_fused = use_fused
    try:
        yield
    finally:
        GenericStack.use_fused = saved


def _strip_timing(value: Any) -> Any:
    """Wire form without AllocationTime (wall-clock nanoseconds, never equal twice)."""
    if isinstance(value, dict):
        return {k: _strip_timing(v) for k, v in value.items() if k != "AllocationTime"}
    if isinstance(value, list):
        return [_strip_timing(v) for v in value]
    return value


def _outcome(c: Cluster) -> Any:
    snap = c.snapshot()
    return _strip_timing(codec.to_wire({
        "allocs": sorted(snap.allocs(), key=lambda a: a.ID),
        "evals": sorted(snap.evals(), key=lambda e: e.ID),
        "index": snap.latest_index(),
    }))


node_shapes = st.tuples(
    st.sampled_from(["", "a", "b"]),
    st.lists(st.sampled_from(["docker", "exec", "raw_exec", "java"]), min_size=1, max_size=4, unique=True),
    st.sampled_from([300, 1000, 4000]),
    st.sampled_from([300, 1024, 8192]),
)

fleets = st.lists(node_shapes, min_size=1, max_size=9).map(
    lambda shapes: [NodeSpec(name=f"n{i}", ip=f"10.0.0.{i + 1}", node_class=cls, drivers=tuple(drivers),
                             cpu_mhz=cpu, memory_mb=mem)
                    for i, (cls, drivers, cpu, mem) in enumerate(shapes)])

steps = st.lists(
    st.one_of(
        st.tuples(st.just("register"), st.sampled_from(["service", "batch"]), st.sampled_from(["a", "b", "c"])),
        st.tuples(st.just("deregister"), st.just(""), st.sampled_from(["a", "b", "c"])),
    ),
    min_size=1, max_size=5,
)


@settings(max_examples=60, deadline=None)
@given(fleet=fleets, plan=steps, data=st.data(), seed=st.integers(0, 3))
def test_fused_ranking_places_exactly_as_the_iterator_chain(fleet: list, plan: list, data: st.DataObject,
                                                            seed: int) -> None:
    clusters = {mode: Cluster(fleet, clock="virtual", simulate_clients=False, seed=seed) for mode in (False, True)}
    try:
        for op, kind, job_id in plan:
            job = data.draw(jobs(kind, job_id=job_id, max_count=4)) if op == "register" else None
            answers = []
            for mode, c in clusters.items():
                with ranking(mode):
                    try:
                        if op == "register":
                            r = c.jobs.register_job(s.JobRegisterRequest(Job=job))
                            answers.append((r.EvalID, r.JobModifyIndex))
                        else:
                            answers.append(c.jobs.deregister_job(job_id, purge=False).EvalID)
                    except NomadError as err:
                        answers.append(str(err))
            assert answers[0] == answers[1]
            assert _outcome(clusters[False]) == _outcome(clusters[True])
    finally:
        for c in clusters.values():
            c.close()


def _service_job(job_id: str, count: int, cpu: int = 100, networks: bool = False) -> s.Job:
    net = [s.NetworkResource(MBits=1, DynamicPorts=[s.Port(Label="http")])] if networks else None
    task = s.Task(Name="web", Driver="exec", Config={"command": "/bin/true"},
                  Resources=s.Resources(CPU=cpu, MemoryMB=64, Networks=net))
    return s.Job(ID=job_id, Name=job_id, Type="service", Datacenters=["dc1"],
                 TaskGroups=[s.TaskGroup(Name="g", Count=count, Tasks=[task])])


@pytest.mark.parametrize("networks", [False, True])
def test_the_fused_loop_runs_for_groups_without_networks_only(monkeypatch: pytest.MonkeyPatch,
                                                             networks: bool) -> None:
    calls = []
    real = fused.FusedRanker.next
    monkeypatch.setattr(fused.FusedRanker, "next", lambda self: calls.append(1) or real(self))
    fleet = [NodeSpec(name=f"n{i}", ip=f"10.0.0.{i + 1}", cpu_mhz=1000) for i in range(6)]
    outcomes = []
    for mode in (False, True):
        c = Cluster(fleet, clock="virtual", simulate_clients=False, seed=7)
        with ranking(mode):
            c.jobs.register_job(s.JobRegisterRequest(Job=_service_job("web", 8, cpu=300, networks=networks)))
            # A second version: the plan now stops and replaces allocations on nodes.
            c.jobs.register_job(s.JobRegisterRequest(Job=_service_job("web", 9, cpu=350, networks=networks)))
            c.jobs.register_job(s.JobRegisterRequest(Job=_service_job("other", 5, cpu=200, networks=networks)))
        outcomes.append(_outcome(c))
        c.close()
    assert outcomes[0] == outcomes[1]
    allocs = outcomes[1]["allocs"]
    assert any(a["Metrics"]["NodesExhausted"] for a in allocs)  # some nodes filled up on the way
    assert (len(calls) > 0) is (not networks)
