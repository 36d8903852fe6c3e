"""The cluster's plan applier re-checks placements unless the state the plan was
computed on is still the latest for allocations and nodes."""

from __future__ import annotations

import attrs

from nomadjobs import Cluster, NodeSpec
from nomadjobs import structs as s
from nomadjobs.state.store import ALLOCS, NODES


def _oversized_plan(cluster: Cluster) -> tuple[s.Plan, str]:
    cluster.register({"ID": "web", "Datacenters": ["dc1"], "TaskGroups": [{"Name": "web", "Count": 1, "Tasks": [
        {"Name": "t", "Driver": "exec", "Config": {"command": "/bin/x"}, "Resources": {"CPU": 100, "MemoryMB": 64}}]}]})
    state = cluster.snapshot()
    node = state.nodes()[0]
    job = state.job_by_id("default", "web")
    big = s.Allocation(ID=cluster.new_id(), Namespace="default", EvalID="", Name="web.web[9]", NodeID=node.ID,
                       JobID="web", Job=job, TaskGroup="web",
                       Resources=s.Resources(CPU=node.Resources.CPU * 2, MemoryMB=64, DiskMB=0, IOPS=0),
                       DesiredStatus="run", ClientStatus="pending")
    return s.Plan(Job=job, NodeAllocation={node.ID: [big]}), big.ID


def test_a_plan_that_no_longer_fits_is_refused_and_the_scheduler_told_to_refresh() -> None:
    cluster = Cluster(fleet=[NodeSpec(name="small", cpu_mhz=1000)], seed=1)
    plan, alloc_id = _oversized_plan(cluster)
    result, refreshed = cluster.core.apply_plan(plan)
    assert result.RefreshIndex > 0 and refreshed is not None
    assert cluster.snapshot().alloc_by_id(alloc_id) is None


def test_a_plan_computed_on_an_older_state_is_checked_again() -> None:
    cluster = Cluster(fleet=[NodeSpec(name="small", cpu_mhz=1000)], seed=1)
    state = cluster.snapshot()
    stale = (state.table_index(ALLOCS) - 1, state.table_index(NODES))
    plan, alloc_id = _oversized_plan(cluster)
    result, _ = cluster.core.apply_plan(plan, planned_on=stale)
    assert result.RefreshIndex > 0
    assert cluster.snapshot().alloc_by_id(alloc_id) is None


def test_a_fitting_plan_commits_its_allocations() -> None:
    cluster = Cluster(fleet=[NodeSpec(name="small", cpu_mhz=1000)], seed=1)
    plan, alloc_id = _oversized_plan(cluster)
    node_id = next(iter(plan.NodeAllocation))
    alloc = attrs.evolve(plan.NodeAllocation[node_id][0], Resources=s.Resources(CPU=10, MemoryMB=16, DiskMB=0, IOPS=0))
    result, refreshed = cluster.core.apply_plan(attrs.evolve(plan, NodeAllocation={node_id: [alloc]}))
    assert result.RefreshIndex == 0 and refreshed is None
    assert cluster.snapshot().alloc_by_id(alloc_id) is not None
