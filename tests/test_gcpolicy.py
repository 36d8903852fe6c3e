"""The opt-in collector schedule (nomadjobs.gcpolicy): freezes after each commit and
still reclaims frozen cycles once the frozen heap has doubled."""

from __future__ import annotations

import gc
import weakref

import pytest

from nomadjobs import gcpolicy
from nomadjobs.cluster import Cluster


class _Node:
    pass


@pytest.fixture
def restore_gc():
    yield
    gc.unfreeze()
    gc.collect()


def test_freeze_after_commit_and_reclaim_frozen_cycles(restore_gc, monkeypatch):
    monkeypatch.setattr(gcpolicy, "_heap", 10**12)
    c = Cluster(freeze_gc=True)
    assert gc.get_freeze_count() > 0  # the fleet's commits froze the heap

    cycle = _Node()
    cycle.self = cycle
    dead = weakref.ref(cycle)
    c.register({"ID": "a", "Name": "a", "Type": "batch", "Datacenters": ["dc1"],
                "TaskGroups": [{"Name": "g", "Tasks": [{"Name": "t", "Driver": "exec",
                                                         "Config": {"command": "true"}}]}]})
    del cycle
    gc.collect()
    assert dead() is not None  # frozen while alive: the ordinary collector leaves it

    # Once the frozen heap reaches the threshold, a full collection reclaims it.
    monkeypatch.setattr(gcpolicy, "_heap", 0)
    monkeypatch.setattr(gcpolicy, "FLOOR", 0)
    c.register({"ID": "b", "Name": "b", "Type": "batch", "Datacenters": ["dc1"],
                "TaskGroups": [{"Name": "g", "Tasks": [{"Name": "t", "Driver": "exec",
                                                         "Config": {"command": "true"}}]}]})
    assert dead() is None
    assert gcpolicy._heap > 0
    assert c.snapshot().job_by_id("default", "b") is not None


_JOB = {"ID": "c", "Name": "c", "Type": "batch", "Datacenters": ["dc1"],
        "TaskGroups": [{"Name": "g", "Tasks": [{"Name": "t", "Driver": "exec", "Config": {"command": "true"}}]}]}


def test_an_estimate_of_growth_only_leads_to_a_count(restore_gc, monkeypatch):
    monkeypatch.setattr(gcpolicy, "FLOOR", 0)
    c = Cluster(freeze_gc=True)
    gcpolicy.full_collection()
    heap = gcpolicy._heap
    cycle = _Node()
    cycle.self = cycle
    dead = weakref.ref(cycle)
    del cycle
    gc.freeze()  # frozen while alive, as after a commit

    # The counters claim far more was frozen than the heap holds; counting shows the
    # heap has not doubled, so no full collection runs (the cycle stays) ...
    monkeypatch.setattr(gcpolicy, "_grown", 100 * heap)
    c.register(_JOB)
    assert dead() is not None
    assert gcpolicy._heap == heap
    assert gcpolicy._grown < 100 * heap  # counted, so the estimate starts again

    # ... until the count says it has.
    monkeypatch.setattr(gcpolicy, "_heap", gc.get_freeze_count() // 2 - 1)
    monkeypatch.setattr(gcpolicy, "_grown", 100 * heap)
    c.register({**_JOB, "ID": "d", "Name": "d"})
    assert dead() is None


@pytest.mark.parametrize("freeze", [False, True])
def test_the_collector_pauses_while_the_scheduler_works_with_freeze_gc(restore_gc, freeze):
    from nomadjobs import fsm as cmds

    c = Cluster(freeze_gc=freeze)
    seen = []
    c.listeners.append(lambda command, result: seen.append((type(command), gc.isenabled())))
    c.register({**_JOB, "ID": "e", "Name": "e"})
    during = [enabled for kind, enabled in seen if kind is cmds.ApplyPlanResults]
    assert during == [not freeze]  # the plan was committed inside the scheduler's pass
    assert gc.isenabled()


def test_off_by_default(restore_gc):
    gc.unfreeze()
    Cluster()
    assert gc.get_freeze_count() == 0
