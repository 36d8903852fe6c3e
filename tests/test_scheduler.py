"""Service, batch and system scheduling against an in-memory state."""

from __future__ import annotations

import attrs
import pytest

from nomadjobs import structs as s
from nomadjobs.scheduler import computed_class, new_scheduler

from test_scheduler_harness import (
    Harness,
    make_group,
    make_job,
    make_node,
    make_task,
    make_update,
)


def fleet(h: Harness, n: int = 3, **kw) -> list[s.Node]:
    return [h.state.upsert_node(make_node(f"node-{i}", ip=f"10.0.0.{i + 1}", **kw)) for i in range(n)]


def redis_job(count: int = 1) -> s.Job:
    """The docs' sample job, as the server stores it after canonicalization."""
    task = make_task("redis", driver="docker", cpu=500, mem=256, mbits=10, dynamic_ports=["db"],
                     config={"image": "redis:3.2", "port_map": [{"db": 6379}]})
    update = s.UpdateStrategy(Stagger=30_000_000_000, MaxParallel=1, HealthCheck="checks",
                              MinHealthyTime=10_000_000_000, HealthyDeadline=180_000_000_000,
                              AutoRevert=False, Canary=0)
    return make_job("example", [make_group("cache", count, [task], update=update)], index=7, create_index=7)


# --- the golden recording --------------------------------------------------------------------

def test_golden_docker_job_on_node_without_docker():
    h = Harness()
    node = h.state.upsert_node(make_node("dev", drivers=("exec", "raw_exec", "java")))
    job = h.state.upsert_job(redis_job())
    ev = h.run(job)

    assert ev.Status == s.EVAL_STATUS_COMPLETE and ev.StatusDescription == ""
    assert ev.QueuedAllocations == {"cache": 1}
    metric = ev.FailedTGAllocs["cache"]
    assert attrs.evolve(metric, AllocationTime=0) == s.AllocMetric(
        NodesEvaluated=1, NodesFiltered=1, NodesAvailable={"dc1": 1},
        ConstraintFiltered={"missing drivers": 1})
    assert metric.AllocationTime > 0

    # The blocked eval is created before the plan and remembers the node class.
    [blocked] = h.planner.created
    assert ev.BlockedEval == blocked.ID
    assert blocked.Status == s.EVAL_STATUS_BLOCKED
    assert blocked.StatusDescription == "created to place remaining allocations"
    assert blocked.PreviousEval == ev.ID and blocked.TriggeredBy == "job-register"
    assert blocked.JobModifyIndex == 7 and blocked.QueuedAllocations is None
    assert blocked.ClassEligibility == {node.ComputedClass: True}

    # The only plan carries a new deployment and no allocations.
    [plan] = h.planner.plans
    assert not plan.NodeAllocation and not plan.NodeUpdate
    d = plan.Deployment
    assert d.Status == "running" and d.StatusDescription == "Deployment is running"
    assert (d.JobVersion, d.JobModifyIndex, d.JobCreateIndex) == (0, 7, 7)
    assert d.TaskGroups == {"cache": s.DeploymentState(DesiredTotal=1)}
    assert ev.DeploymentID == d.ID


def test_golden_plan_dry_run_coalesces_failures():
    h = Harness()
    h.state.upsert_node(make_node("dev", drivers=("exec", "raw_exec", "java")))
    job = h.state.upsert_job(redis_job(count=3))
    ev = h.run(job, AnnotatePlan=True)
    assert ev.FailedTGAllocs["cache"].CoalescedFailures == 2
    assert ev.QueuedAllocations == {"cache": 3}
    [plan] = h.planner.plans
    assert plan.Annotations.DesiredTGUpdates == {"cache": s.DesiredUpdates(Place=3)}


def test_annotate_plan_submits_even_a_noop_plan():
    h = Harness()
    fleet(h, 1)
    job = h.state.upsert_job(make_job("j", [make_group(count=1)]))
    h.run(job)
    ev = h.run(job, AnnotatePlan=True)
    assert len(h.planner.plans) == 2
    assert h.planner.plans[-1].Annotations.DesiredTGUpdates == {"web": s.DesiredUpdates(Ignore=1)}
    assert ev.QueuedAllocations == {"web": 0}


# --- placement ------------------------------------------------------------------------------------

def test_service_placement_fields():
    h = Harness()
    nodes = fleet(h)
    job = h.state.upsert_job(make_job("web", [make_group("api", 3, [make_task("srv", dynamic_ports=["http"])])]))
    ev = h.run(job)
    assert ev.Status == "complete" and ev.FailedTGAllocs is None and ev.BlockedEval == ""
    assert ev.QueuedAllocations == {"api": 0}
    allocs = h.live_allocs("web")
    assert [a.Name for a in allocs] == ["web.api[0]", "web.api[1]", "web.api[2]"]
    # Job anti-affinity spreads a small group over the fleet.
    assert len({a.NodeID for a in allocs}) == 3
    ips = {n.ID: n.Resources.Networks[0].IP for n in nodes}
    for a in allocs:
        assert a.EvalID == ev.ID and a.JobID == "web" and a.Job == job and a.TaskGroup == "api"
        assert a.DesiredStatus == "run" and a.ClientStatus == "pending" and a.DeploymentID == ""
        assert a.SharedResources == s.Resources(CPU=0, MemoryMB=0, DiskMB=300, IOPS=0)
        assert (a.Resources.CPU, a.Resources.MemoryMB, a.Resources.DiskMB) == (500, 256, 300)
        net = a.TaskResources["srv"].Networks[0]
        assert net.Device == "eth0" and net.IP == ips[a.NodeID] and net.MBits == 10
        assert 20000 <= net.DynamicPorts[0].Value <= 32000 and net.DynamicPorts[0].Label == "http"
        assert a.Metrics.NodesAvailable == {"dc1": 3} and a.Metrics.NodesEvaluated >= 1
        assert any(k.endswith(".binpack") for k in a.Metrics.Scores)
        assert a.CreateTime > 0 and a.CreateTime == a.ModifyTime


def test_batch_placement_has_no_deployment():
    h = Harness()
    fleet(h)
    job = h.state.upsert_job(make_job("b", [make_group("work", 4)], type_="batch"))
    ev = h.run(job)
    assert ev.Status == "complete" and ev.DeploymentID == ""
    assert len(h.live_allocs("b")) == 4
    assert h.planner.plans[-1].Deployment is None


@pytest.mark.parametrize("type_", ["service", "batch", "system"])
def test_shared_resources_are_a_server_struct_with_zero_ints(type_):
    # generic_sched.go / system_sched.go: SharedResources: &structs.Resources{DiskMB: ...}:
    # CPU, MemoryMB and IOPS are 0 on the wire, not null; an in-place update keeps them.
    h = Harness()
    fleet(h)
    job = h.state.upsert_job(make_job("j", [make_group("g", 2)], type_=type_))
    h.run(job)
    allocs = h.live_allocs("j")
    assert allocs
    for a in allocs:
        assert a.SharedResources == s.Resources(CPU=0, MemoryMB=0, DiskMB=300, IOPS=0, Networks=None)
    job2 = h.state.upsert_job(attrs.evolve(job, Priority=60, Version=1, JobModifyIndex=40))
    h.run(job2)
    after = h.live_allocs("j")
    assert {a.ID for a in after} == {a.ID for a in allocs}
    assert all(a.Job.JobModifyIndex == 40 for a in after)
    assert all(a.SharedResources == s.Resources(CPU=0, MemoryMB=0, DiskMB=300, IOPS=0) for a in after)


def test_datacenter_filter():
    h = Harness()
    h.state.upsert_node(make_node("a", dc="dc1"))
    h.state.upsert_node(make_node("b", dc="dc2", ip="10.0.0.2"))
    job = h.state.upsert_job(make_job("j", [make_group(count=3)], dcs=("dc2",)))
    h.run(job)
    nodes = {h.state.nodes_[a.NodeID].Datacenter for a in h.live_allocs("j")}
    assert nodes == {"dc2"}
    assert h.live_allocs("j")[0].Metrics.NodesAvailable == {"dc2": 1}


def test_drain_and_down_nodes_are_not_used():
    h = Harness()
    h.state.upsert_node(make_node("draining", drain=True))
    h.state.upsert_node(make_node("down", status=s.NODE_STATUS_DOWN, ip="10.0.0.2"))
    ok = h.state.upsert_node(make_node("ok", ip="10.0.0.3"))
    job = h.state.upsert_job(make_job("j", [make_group(count=2)]))
    h.run(job)
    assert {a.NodeID for a in h.live_allocs("j")} == {ok.ID}


def test_system_job_one_alloc_per_feasible_node():
    h = Harness()
    fleet(h, 3)
    no_docker = h.state.upsert_node(make_node("nodock", drivers=("exec",), ip="10.0.0.9"))
    task = make_task("agent", driver="docker")
    job = h.state.upsert_job(make_job("sys", [make_group("agent", 1, [task])], type_="system"))
    ev = h.run(job)
    allocs = h.live_allocs("sys")
    assert len(allocs) == 3 and no_docker.ID not in {a.NodeID for a in allocs}
    assert {a.Name for a in allocs} == {"sys.agent[0]"}
    # v0.7.1 reports the filtered node as a failure but does not keep it queued.
    assert ev.FailedTGAllocs["agent"].ConstraintFiltered == {"missing drivers": 1}
    assert ev.QueuedAllocations == {"agent": 0}

    # A second pass changes nothing; stopping the job stops everything.
    h.run(job)
    assert len(h.live_allocs("sys")) == 3
    stopped = h.state.upsert_job(attrs.evolve(job, Stop=True, Version=1, JobModifyIndex=50))
    ev = h.run(stopped, s.TRIGGER_JOB_DEREGISTER)
    assert h.live_allocs("sys") == [] and ev.QueuedAllocations == {}


def test_system_job_new_node_gets_alloc_and_update_in_place():
    h = Harness()
    fleet(h, 2)
    job = h.state.upsert_job(make_job("sys", [make_group("agent", 1)], type_="system"))
    h.run(job)
    h.state.upsert_node(make_node("late", ip="10.0.0.7"))
    h.run(job, s.TRIGGER_NODE_UPDATE)
    assert len(h.live_allocs("sys")) == 3
    # Only the count-like fields change: every alloc is updated in place.
    job2 = h.state.upsert_job(attrs.evolve(job, Meta=None, Priority=60, Version=1, JobModifyIndex=40))
    before = {a.ID for a in h.live_allocs("sys")}
    h.run(job2, AnnotatePlan=True)
    assert {a.ID for a in h.live_allocs("sys")} == before
    assert all(a.Job.JobModifyIndex == 40 for a in h.live_allocs("sys"))
    assert h.planner.plans[-1].Annotations.DesiredTGUpdates["agent"].InPlaceUpdate == 3


# --- feasibility metrics -------------------------------------------------------------------------------

def test_constraint_filtered_key_format():
    h = Harness()
    fleet(h, 2, attributes={"kernel.name": "linux"})
    c = s.Constraint(LTarget="${attr.kernel.name}", RTarget="windows", Operand="=")
    job = h.state.upsert_job(make_job("j", [make_group(count=1)], constraints=[c]))
    ev = h.run(job)
    m = ev.FailedTGAllocs["web"]
    # The second node shares the first one's class: rejected via the class cache.
    assert m.ConstraintFiltered == {"${attr.kernel.name} = windows": 1, "computed class ineligible": 1}
    assert m.NodesFiltered == 2 and m.NodesEvaluated == 2
    [blocked] = h.planner.created
    assert list(blocked.ClassEligibility.values()) == [False]


def test_class_filtered_counts_node_class():
    h = Harness()
    h.state.upsert_node(make_node("a", node_class="small", drivers=("exec",)))
    job = h.state.upsert_job(make_job("j", [make_group(count=1, tasks=[make_task(driver="docker")])]))
    ev = h.run(job)
    assert ev.FailedTGAllocs["web"].ClassFiltered == {"small": 1}


def test_escaped_constraint_sets_escaped_flag():
    h = Harness()
    fleet(h, 2)
    c = s.Constraint(LTarget="${node.unique.name}", RTarget="nope", Operand="=")
    job = h.state.upsert_job(make_job("j", [make_group(count=1, constraints=[c])]))
    ev = h.run(job)
    assert ev.FailedTGAllocs["web"].ConstraintFiltered == {"${node.unique.name} = nope": 2}
    [blocked] = h.planner.created
    assert blocked.EscapedComputedClass is True and blocked.ClassEligibility is None


@pytest.mark.parametrize("dim,kw,task_kw", [
    ("cpu", {"cpu": 400}, {}),
    ("memory", {"mem": 100}, {}),
    ("disk", {"disk": 100}, {}),
    ("iops", {"iops": 10}, {"iops": 50}),
    ("network: bandwidth exceeded", {"mbits": 5}, {"mbits": 10}),
])
def test_dimension_exhausted(dim, kw, task_kw):
    h = Harness()
    h.state.upsert_node(make_node("tiny", **kw))
    job = h.state.upsert_job(make_job("j", [make_group(count=1, tasks=[make_task(**task_kw)])]))
    ev = h.run(job)
    m = ev.FailedTGAllocs["web"]
    assert m.NodesExhausted == 1 and m.DimensionExhausted == {dim: 1}
    assert ev.QueuedAllocations == {"web": 1} and ev.BlockedEval


def test_exhaustion_after_capacity_used_up():
    h = Harness()
    h.state.upsert_node(make_node("n", cpu=1000, mem=1024))
    job = h.state.upsert_job(make_job("j", [make_group(count=3, tasks=[make_task(cpu=400, mem=100)])]))
    ev = h.run(job)
    assert len(h.live_allocs("j")) == 2
    assert ev.QueuedAllocations == {"web": 1}
    m = ev.FailedTGAllocs["web"]
    assert m.DimensionExhausted == {"cpu": 1} and m.CoalescedFailures == 0


def test_static_port_collision():
    h = Harness()
    h.state.upsert_node(make_node("n"))
    t = make_task(reserved_ports=[("http", 8080)])
    a = h.state.upsert_job(make_job("a", [make_group(count=1, tasks=[t])]))
    h.run(a)
    [placed] = h.live_allocs("a")
    assert placed.TaskResources["web"].Networks[0].ReservedPorts == [s.Port("http", 8080)]
    b = h.state.upsert_job(make_job("b", [make_group(count=1, tasks=[t])]))
    ev = h.run(b)
    assert ev.FailedTGAllocs["web"].DimensionExhausted == {"network: reserved port collision": 1}


def test_dynamic_ports_unique_per_node():
    h = Harness()
    h.state.upsert_node(make_node("n", cpu=100000, mem=100000))
    static = make_task(cpu=10, mem=10, mbits=1, reserved_ports=[("x", 20001)])
    h.run(h.state.upsert_job(make_job("static", [make_group(count=1, tasks=[static])])))
    t = make_task(cpu=10, mem=10, mbits=1, dynamic_ports=["a", "b", "c"])
    job = h.state.upsert_job(make_job("j", [make_group(count=30, tasks=[t])]))
    h.run(job)
    allocs = h.live_allocs("j")
    assert len(allocs) == 30
    ports = [p.Value for a in allocs for p in a.TaskResources["web"].Networks[0].DynamicPorts]
    assert len(ports) == 90 and len(set(ports)) == 90
    assert all(20000 <= p <= 32000 and p != 20001 for p in ports)


def test_distinct_hosts():
    h = Harness()
    fleet(h, 2)
    c = s.Constraint(Operand="distinct_hosts")
    job = h.state.upsert_job(make_job("j", [make_group(count=3, constraints=[c])]))
    ev = h.run(job)
    assert len({a.NodeID for a in h.live_allocs("j")}) == 2
    assert ev.FailedTGAllocs["web"].ConstraintFiltered == {"distinct_hosts": 2}


def test_distinct_property_with_limit():
    h = Harness()
    for i, rack in enumerate(["r1", "r1", "r2"]):
        h.state.upsert_node(make_node(f"n{i}", ip=f"10.0.0.{i + 1}", meta={"rack": rack}))
    c = s.Constraint(LTarget="${meta.rack}", RTarget="2", Operand="distinct_property")
    job = h.state.upsert_job(make_job("j", [make_group(count=5, constraints=[c])]))
    ev = h.run(job)
    racks = [h.state.nodes_[a.NodeID].Meta["rack"] for a in h.live_allocs("j")]
    assert sorted(racks) == ["r1", "r1", "r2", "r2"]
    assert ev.QueuedAllocations == {"web": 1}
    assert any(k.startswith("distinct_property: r") for k in ev.FailedTGAllocs["web"].ConstraintFiltered)


# --- counts and updates -----------------------------------------------------------------------------

def test_count_increase_and_decrease_stop_highest_first():
    h = Harness()
    fleet(h)
    job = h.state.upsert_job(make_job("j", [make_group(count=2)]))
    h.run(job)
    job = h.state.upsert_job(attrs.evolve(job, TaskGroups=[make_group(count=5)], Version=1, JobModifyIndex=20))
    h.run(job)
    assert [a.Name for a in h.live_allocs("j")] == [f"j.web[{i}]" for i in range(5)]
    job = h.state.upsert_job(attrs.evolve(job, TaskGroups=[make_group(count=2)], Version=2, JobModifyIndex=30))
    ev = h.run(job, AnnotatePlan=True)
    assert [a.Name for a in h.live_allocs("j")] == ["j.web[0]", "j.web[1]"]
    stopped = [a for a in h.state.allocs.values() if a.DesiredStatus == "stop"]
    assert sorted(a.Name for a in stopped) == ["j.web[2]", "j.web[3]", "j.web[4]"]
    assert {a.DesiredDescription for a in stopped} == {"alloc not needed due to job update"}
    upd = h.planner.plans[-1].Annotations.DesiredTGUpdates["web"]
    assert upd.Stop == 3 and upd.InPlaceUpdate == 2
    assert ev.QueuedAllocations == {"web": 0}


def test_placement_fills_lowest_free_index():
    h = Harness()
    fleet(h)
    job = h.state.upsert_job(make_job("j", [make_group(count=3)]))
    h.run(job)
    victim = next(a for a in h.live_allocs("j") if a.Name == "j.web[1]")
    h.state.update_alloc(victim.ID, ClientStatus="failed")
    h.run(job)
    assert sorted(a.Name for a in h.live_allocs("j")) == ["j.web[0]", "j.web[1]", "j.web[2]"]


def test_inplace_vs_destructive_updates():
    h = Harness()
    fleet(h)
    job = h.state.upsert_job(make_job("j", [make_group(count=2)]))
    h.run(job)
    ids = {a.ID for a in h.live_allocs("j")}

    # A restart policy change is applied in place.
    g = attrs.evolve(make_group(count=2), RestartPolicy=s.RestartPolicy(Attempts=9, Interval=1, Delay=1,
                                                                          Mode="fail"))
    job = h.state.upsert_job(attrs.evolve(job, TaskGroups=[g], Version=1, JobModifyIndex=20))
    h.run(job, AnnotatePlan=True)
    assert h.planner.plans[-1].Annotations.DesiredTGUpdates["web"] == s.DesiredUpdates(InPlaceUpdate=2)
    assert {a.ID for a in h.live_allocs("j")} == ids
    assert all(a.Job.Version == 1 for a in h.live_allocs("j"))

    # A config change replaces the allocs (no update block: all at once).
    g2 = attrs.evolve(g, Tasks=[make_task(config={"command": "/bin/true"})])
    job = h.state.upsert_job(attrs.evolve(job, TaskGroups=[g2], Version=2, JobModifyIndex=30))
    h.run(job, AnnotatePlan=True)
    assert h.planner.plans[-1].Annotations.DesiredTGUpdates["web"] == s.DesiredUpdates(DestructiveUpdate=2)
    live = h.live_allocs("j")
    assert len(live) == 2 and not ({a.ID for a in live} & ids)
    assert {a.PreviousAllocation for a in live} == ids
    old = [h.state.allocs[i] for i in ids]
    assert {a.DesiredDescription for a in old} == {"alloc is being updated due to job update"}


def test_inplace_update_blocked_by_new_constraint_becomes_destructive():
    h = Harness()
    a_node = h.state.upsert_node(make_node("a", meta={"tier": "x"}))
    h.state.upsert_node(make_node("b", ip="10.0.0.2", meta={"tier": "y"}))
    job = h.state.upsert_job(make_job("j", [make_group(count=1, constraints=[
        s.Constraint(LTarget="${meta.tier}", RTarget="x", Operand="=")])]))
    h.run(job)
    assert h.live_allocs("j")[0].NodeID == a_node.ID
    job = h.state.upsert_job(attrs.evolve(job, TaskGroups=[make_group(count=1, constraints=[
        s.Constraint(LTarget="${meta.tier}", RTarget="y", Operand="=")])], Version=1, JobModifyIndex=20))
    h.run(job, AnnotatePlan=True)
    assert h.planner.plans[-1].Annotations.DesiredTGUpdates["web"].DestructiveUpdate == 1
    assert h.live_allocs("j")[0].NodeID != a_node.ID


def test_rolling_update_with_max_parallel_and_deployment():
    h = Harness()
    fleet(h)
    group = make_group(count=4, update=make_update(max_parallel=2))
    job = h.state.upsert_job(make_job("j", [group]))
    ev = h.run(job)
    d0 = h.state.deployments[ev.DeploymentID]
    assert d0.TaskGroups["web"].DesiredTotal == 4 and d0.TaskGroups["web"].PlacedAllocs == 4
    assert all(a.DeploymentID == d0.ID for a in h.live_allocs("j"))
    h.set_client_status("running", healthy=True)
    ev = h.run(job, s.TRIGGER_DEPLOYMENT_WATCHER)
    assert h.state.deployments[d0.ID].Status == "successful"
    assert h.state.deployments[d0.ID].StatusDescription == "Deployment completed successfully"

    g2 = attrs.evolve(group, Tasks=[make_task(config={"command": "/bin/v2"})])
    job2 = h.state.upsert_job(attrs.evolve(job, TaskGroups=[g2], Version=1, JobModifyIndex=20))
    ev = h.run(job2, AnnotatePlan=True)
    upd = h.planner.plans[-1].Annotations.DesiredTGUpdates["web"]
    assert (upd.DestructiveUpdate, upd.Ignore) == (2, 2)
    d1 = h.state.deployments[ev.DeploymentID]
    assert d1.ID != d0.ID and d1.JobVersion == 1 and d1.TaskGroups["web"].DesiredTotal == 4
    new = [a for a in h.live_allocs("j") if a.Job.Version == 1]
    assert len(new) == 2 and all(a.DeploymentID == d1.ID for a in new)

    # Nothing more moves until the new allocs are healthy.
    h.run(job2, s.TRIGGER_DEPLOYMENT_WATCHER, AnnotatePlan=True)
    assert h.planner.plans[-1].Annotations.DesiredTGUpdates["web"].DestructiveUpdate == 0
    for a in new:
        h.state.update_alloc(a.ID, ClientStatus="running",
                             DeploymentStatus=s.AllocDeploymentStatus(Healthy=True))
    h.run(job2, s.TRIGGER_DEPLOYMENT_WATCHER)
    assert sum(a.Job.Version == 1 for a in h.live_allocs("j")) == 4
    h.set_client_status("running", healthy=True)
    h.run(job2, s.TRIGGER_DEPLOYMENT_WATCHER)
    assert h.state.deployments[d1.ID].Status == "successful"


def test_unhealthy_alloc_halts_rollout():
    h = Harness()
    fleet(h)
    group = make_group(count=3, update=make_update(max_parallel=1))
    job = h.state.upsert_job(make_job("j", [group]))
    h.run(job)
    h.set_client_status("running", healthy=True)
    g2 = attrs.evolve(group, Tasks=[make_task(config={"command": "/bin/v2"})])
    job2 = h.state.upsert_job(attrs.evolve(job, TaskGroups=[g2], Version=1, JobModifyIndex=20))
    h.run(job2)
    [new] = [a for a in h.live_allocs("j") if a.Job.Version == 1]
    h.state.update_alloc(new.ID, DeploymentStatus=s.AllocDeploymentStatus(Healthy=False))
    h.run(job2, s.TRIGGER_DEPLOYMENT_WATCHER, AnnotatePlan=True)
    upd = h.planner.plans[-1].Annotations.DesiredTGUpdates["web"]
    assert upd.DestructiveUpdate == 0 and upd.Ignore == 3


def test_canaries_and_promotion():
    h = Harness()
    fleet(h)
    group = make_group(count=3, update=make_update(max_parallel=1, canary=1))
    job = h.state.upsert_job(make_job("j", [group]))
    h.run(job)
    h.set_client_status("running", healthy=True)
    h.run(job)  # marks the first deployment successful

    g2 = attrs.evolve(group, Tasks=[make_task(config={"command": "/bin/v2"})])
    job2 = h.state.upsert_job(attrs.evolve(job, TaskGroups=[g2], Version=1, JobModifyIndex=20))
    ev = h.run(job2, AnnotatePlan=True)
    upd = h.planner.plans[-1].Annotations.DesiredTGUpdates["web"]
    assert (upd.Canary, upd.DestructiveUpdate, upd.Ignore, upd.Place) == (1, 0, 3, 0)
    d = h.state.deployments[ev.DeploymentID]
    assert d.StatusDescription == "Deployment is running but requires promotion"
    st = d.TaskGroups["web"]
    assert st.DesiredCanaries == 1 and len(st.PlacedCanaries) == 1
    canary = h.state.allocs[st.PlacedCanaries[0]]
    assert canary.Job.Version == 1 and canary.DeploymentID == d.ID and canary.Name == "j.web[0]"
    assert len(h.live_allocs("j")) == 4

    # Until promotion, nothing else is replaced even when the canary is healthy.
    h.state.update_alloc(canary.ID, ClientStatus="running", DeploymentStatus=s.AllocDeploymentStatus(Healthy=True))
    h.run(job2, s.TRIGGER_DEPLOYMENT_WATCHER, AnnotatePlan=True)
    upd = h.planner.plans[-1].Annotations.DesiredTGUpdates["web"]
    assert (upd.Canary, upd.DestructiveUpdate, upd.Stop) == (0, 0, 0)

    # Promote: the old alloc sharing the canary's name stops, the rest roll.
    d = h.state.deployments[d.ID]
    h.state.deployments[d.ID] = attrs.evolve(d, TaskGroups={"web": attrs.evolve(d.TaskGroups["web"], Promoted=True)})
    h.run(job2, s.TRIGGER_DEPLOYMENT_WATCHER, AnnotatePlan=True)
    upd = h.planner.plans[-1].Annotations.DesiredTGUpdates["web"]
    assert upd.Stop == 1 and upd.DestructiveUpdate == 1
    assert len(h.live_allocs("j")) == 3


def test_more_canaries_than_count_stop_at_the_names_nextcanaries_finds():
    # Canary may exceed Count (v0.7.1 validates only Canary >= 0). With every index below
    # the count taken and the replaced names already used by canaries, NextCanaries
    # returns nothing more (its first loop shadows `remainder`, so no overlapping name
    # is tried): the third canary is counted in the annotations but never placed.
    h = Harness()
    fleet(h)
    group = make_group(count=2, update=make_update(max_parallel=1, canary=3))
    job = h.state.upsert_job(make_job("j", [group]))
    h.run(job)
    h.set_client_status("running", healthy=True)
    h.run(job)

    g2 = attrs.evolve(group, Tasks=[make_task(config={"command": "/bin/v2"})])
    job2 = h.state.upsert_job(attrs.evolve(job, TaskGroups=[g2], Version=1, JobModifyIndex=20))
    ev = h.run(job2, AnnotatePlan=True)
    assert h.planner.plans[-1].Annotations.DesiredTGUpdates["web"].Canary == 2
    st = h.state.deployments[ev.DeploymentID].TaskGroups["web"]
    assert st.DesiredCanaries == 3
    assert sorted(h.state.allocs[i].Name for i in st.PlacedCanaries) == ["j.web[0]", "j.web[1]"]

    h.run(job2, s.TRIGGER_DEPLOYMENT_WATCHER, AnnotatePlan=True)
    assert h.planner.plans[-1].Annotations.DesiredTGUpdates["web"].Canary == 1
    st = h.state.deployments[ev.DeploymentID].TaskGroups["web"]
    assert len(st.PlacedCanaries) == 2
    assert sorted(a.Name for a in h.live_allocs("j")) == ["j.web[0]", "j.web[0]", "j.web[1]", "j.web[1]"]


def test_unpromoted_canaries_of_older_deployment_are_stopped():
    h = Harness()
    fleet(h)
    group = make_group(count=2, update=make_update(canary=1))
    job = h.state.upsert_job(make_job("j", [group]))
    h.run(job)
    h.set_client_status("running", healthy=True)
    g2 = attrs.evolve(group, Tasks=[make_task(config={"command": "/bin/v2"})])
    job2 = h.state.upsert_job(attrs.evolve(job, TaskGroups=[g2], Version=1, JobModifyIndex=20))
    ev2 = h.run(job2)
    canary_id = h.state.deployments[ev2.DeploymentID].TaskGroups["web"].PlacedCanaries[0]
    g3 = attrs.evolve(group, Tasks=[make_task(config={"command": "/bin/v3"})])
    job3 = h.state.upsert_job(attrs.evolve(job, TaskGroups=[g3], Version=2, JobModifyIndex=30))
    ev3 = h.run(job3)
    assert h.state.allocs[canary_id].DesiredStatus == "stop"
    old = h.state.deployments[ev2.DeploymentID]
    assert old.Status == "cancelled" and old.StatusDescription == "Cancelled due to newer version of job"
    assert ev3.DeploymentID != ev2.DeploymentID


def test_stopped_job_stops_everything_and_cancels_deployment():
    h = Harness()
    fleet(h)
    job = h.state.upsert_job(make_job("j", [make_group(count=3, update=make_update())]))
    ev = h.run(job)
    dep_id = ev.DeploymentID
    stopped = h.state.upsert_job(attrs.evolve(job, Stop=True, Version=1, JobModifyIndex=20))
    ev = h.run(stopped, s.TRIGGER_JOB_DEREGISTER, AnnotatePlan=True)
    assert h.live_allocs("j") == []
    assert ev.QueuedAllocations == {} and ev.Status == "complete"
    assert ev.DeploymentID == dep_id  # still names the deployment it cancelled
    d = h.state.deployments[dep_id]
    assert (d.Status, d.StatusDescription) == ("cancelled", "Cancelled because job is stopped")
    assert h.planner.plans[-1].Annotations.DesiredTGUpdates == {"web": s.DesiredUpdates(Stop=3)}


def test_placements_join_the_latest_deployment_even_when_it_is_finished():
    # computeJobAllocs keeps the job's latest deployment as s.deployment unless the
    # reconciler makes a new one; placements take its ID, so a successful deployment
    # counts them (updateDeploymentWithAlloc; differential seed 20100003: PlacedAllocs 2).
    h = Harness()
    fleet(h, 1)
    job = h.state.upsert_job(make_job("j", [make_group(count=1, update=make_update())]))
    ev = h.run(job)
    d0 = ev.DeploymentID
    h.set_client_status("running", healthy=True)
    h.run(job, s.TRIGGER_DEPLOYMENT_WATCHER)
    assert h.state.deployments[d0].Status == "successful"
    stopped = h.state.upsert_job(attrs.evolve(job, Stop=True, Version=1, JobModifyIndex=20))
    h.run(stopped, s.TRIGGER_JOB_DEREGISTER)
    assert h.live_allocs("j") == []
    job2 = h.state.upsert_job(attrs.evolve(job, TaskGroups=[make_group(count=1)], Version=2,
                                           JobModifyIndex=30))
    ev = h.run(job2, AnnotatePlan=True)
    assert h.planner.plans[-1].Deployment is None
    assert h.planner.plans[-1].Annotations.DesiredTGUpdates["web"].Place == 1
    [new] = h.live_allocs("j")
    assert new.DeploymentID == d0 and ev.DeploymentID == d0
    d = h.state.deployments[d0]
    assert d.Status == "successful" and d.TaskGroups["web"].PlacedAllocs == 2


def test_purged_job_stops_allocs():
    h = Harness()
    fleet(h)
    job = h.state.upsert_job(make_job("j", [make_group(count=2)]))
    h.run(job)
    del h.state.jobs[("default", "j")]
    ev = h.run(job, s.TRIGGER_JOB_DEREGISTER)
    assert h.live_allocs("j") == [] and ev.QueuedAllocations == {}
    assert h.planner.plans[-1].Job == job  # taken from the allocations


def test_removed_group_is_stopped():
    h = Harness()
    fleet(h)
    job = h.state.upsert_job(make_job("j", [make_group("a", 1), make_group("b", 2)]))
    h.run(job)
    job = h.state.upsert_job(attrs.evolve(job, TaskGroups=[make_group("a", 1)], Version=1, JobModifyIndex=20))
    h.run(job, AnnotatePlan=True)
    assert {a.TaskGroup for a in h.live_allocs("j")} == {"a"}
    assert h.planner.plans[-1].Annotations.DesiredTGUpdates["b"] == s.DesiredUpdates(Stop=2)


def test_lost_allocs_on_down_node_are_replaced():
    h = Harness()
    nodes = fleet(h)
    job = h.state.upsert_job(make_job("j", [make_group(count=3)]))
    h.run(job)
    h.set_client_status("running")
    victim = nodes[0]
    lost_ids = [a.ID for a in h.live_allocs("j") if a.NodeID == victim.ID]
    assert lost_ids
    h.state.upsert_node(attrs.evolve(victim, Status=s.NODE_STATUS_DOWN))
    ev = h.run(job, s.TRIGGER_NODE_UPDATE, AnnotatePlan=True)
    for aid in lost_ids:
        a = h.state.allocs[aid]
        assert (a.DesiredStatus, a.ClientStatus) == ("stop", "lost")
        assert a.DesiredDescription == "alloc is lost since its node is down"
    live = h.live_allocs("j")
    assert len(live) == 3 and victim.ID not in {a.NodeID for a in live}
    upd = h.planner.plans[-1].Annotations.DesiredTGUpdates["web"]
    assert upd.Stop == len(lost_ids) and upd.Place == len(lost_ids)
    assert ev.QueuedAllocations == {"web": 0}


def test_draining_node_allocs_migrate():
    h = Harness()
    nodes = fleet(h, 2)
    job = h.state.upsert_job(make_job("j", [make_group(count=2, update=make_update(max_parallel=1))]))
    h.run(job)
    h.set_client_status("running", healthy=True)
    h.run(job)
    drained = nodes[0]
    on_drained = [a for a in h.live_allocs("j") if a.NodeID == drained.ID]
    h.state.upsert_node(attrs.evolve(drained, Drain=True))
    ev = h.run(job, s.TRIGGER_NODE_UPDATE, AnnotatePlan=True)
    upd = h.planner.plans[-1].Annotations.DesiredTGUpdates["web"]
    assert upd.Migrate == len(on_drained)
    for a in on_drained:
        assert h.state.allocs[a.ID].DesiredDescription == "alloc is being migrated"
    assert all(a.NodeID != drained.ID for a in h.live_allocs("j"))
    assert ev.Status == "complete"


def test_batch_completed_allocs_are_not_replaced():
    h = Harness()
    fleet(h)
    job = h.state.upsert_job(make_job("b", [make_group(count=2)], type_="batch"))
    h.run(job)
    done = s.TaskState(State="dead", Events=[s.TaskEvent(Type="Terminated", ExitCode=0)])
    for a in h.live_allocs("b"):
        h.state.update_alloc(a.ID, ClientStatus="complete", TaskStates={"web": done})
    h.run(job, AnnotatePlan=True)
    assert h.planner.plans[-1].Annotations.DesiredTGUpdates["web"] == s.DesiredUpdates(Ignore=2)
    assert len(h.state.allocs) == 2


def test_batch_complete_allocs_of_older_versions_sharing_a_name_are_all_ignored():
    # filterCompleteAllocs keeps every complete batch allocation, several of one name
    # included; batchFiltration then counts each older terminal one as ignored
    # (differential seed 20100002: Ignore 3, Place 2).
    h = Harness()
    fleet(h, 1)
    done = s.TaskState(State="dead", Events=[s.TaskEvent(Type="Terminated", ExitCode=0)])

    def finish() -> None:
        for a in h.live_allocs("b"):
            if a.ClientStatus != "complete":
                h.state.update_alloc(a.ID, ClientStatus="complete", TaskStates={"web": done})

    job = h.state.upsert_job(make_job("b", [make_group(count=1)], type_="batch"))
    h.run(job)
    finish()
    job = h.state.upsert_job(attrs.evolve(job, TaskGroups=[make_group(count=2)], Version=1, JobModifyIndex=20))
    h.run(job)
    finish()
    assert sorted(a.Name for a in h.state.allocs.values()) == ["b.web[0]", "b.web[0]", "b.web[1]"]
    g = attrs.evolve(make_group(count=2), Tasks=[make_task(config={"command": "/bin/true"})])
    job = h.state.upsert_job(attrs.evolve(job, TaskGroups=[g], Version=2, JobModifyIndex=30))
    h.run(job, AnnotatePlan=True)
    assert h.planner.plans[-1].Annotations.DesiredTGUpdates["web"] == s.DesiredUpdates(Ignore=3, Place=2)


# --- eval outcomes ------------------------------------------------------------------------------------

def test_blocked_eval_reprocessed_is_reblocked_then_completes():
    h = Harness()
    h.state.upsert_node(make_node("n", cpu=600))
    job = h.state.upsert_job(make_job("j", [make_group(count=2)]))
    ev = h.run(job)
    [blocked] = h.planner.created
    assert ev.QueuedAllocations == {"web": 1}
    again = h.process(blocked)
    assert h.planner.reblocked and again.Status == "blocked"
    assert len(h.planner.created) == 1  # no second blocked eval
    h.state.upsert_node(make_node("m", ip="10.0.0.2"))
    done = h.process(h.state.evals[blocked.ID])
    assert done.Status == "complete" and done.QueuedAllocations == {"web": 0}
    assert len(h.live_allocs("j")) == 2


def test_unknown_trigger_fails_eval():
    h = Harness()
    fleet(h, 1)
    job = h.state.upsert_job(make_job("j"))
    ev = h.run(job, "failed-follow-up")
    assert ev.Status == "failed"
    assert ev.StatusDescription == "scheduler cannot handle 'failed-follow-up' evaluation reason"
    assert h.planner.plans == []
    sys_job = h.state.upsert_job(make_job("s", type_="system"))
    ev = h.run(sys_job, s.TRIGGER_PERIODIC_JOB)
    assert ev.StatusDescription == "scheduler cannot handle 'periodic-job' evaluation reason"


@pytest.mark.parametrize("type_,attempts", [("service", 5), ("batch", 2)])
def test_max_plan_attempts(type_, attempts):
    h = Harness(reject_placements=True)
    fleet(h, 1)
    job = h.state.upsert_job(make_job("j", [make_group(count=1)], type_=type_))
    ev = h.run(job)
    assert ev.Status == "failed" and ev.StatusDescription == f"maximum attempts reached ({attempts})"
    assert len(h.planner.plans) == attempts
    [blocked] = h.planner.created
    assert blocked.TriggeredBy == "max-plan-attempts"
    assert blocked.StatusDescription == "created due to placement conflicts"
    assert ev.BlockedEval == blocked.ID


def test_unknown_scheduler_type():
    h = Harness()
    with pytest.raises(ValueError, match="unknown scheduler '_core'"):
        new_scheduler("_core", h.state, h.planner, rng=h.rng, now_ns=h.now_ns, new_id=h.new_id)


def _decisions(seed: int):
    h = Harness(seed=seed)
    fleet(h, 6)
    job = h.state.upsert_job(make_job("j", [make_group(count=7, tasks=[make_task(dynamic_ports=["p"])])]))
    h.run(job)
    return sorted((a.ID, a.Name, a.NodeID, a.TaskResources["web"].Networks[0].DynamicPorts[0].Value)
                  for a in h.live_allocs("j"))


def test_determinism_for_a_seed():
    assert _decisions(7) == _decisions(7)
    assert _decisions(7) != _decisions(8)


def test_computed_class_ignores_unique_fields():
    a = make_node("a", ip="10.0.0.1")
    b = make_node("b", ip="10.0.0.2", node_id="other", cpu=1)
    # Only datacenter, attributes, meta and class count; unique.* keys do not.
    assert computed_class(a) == computed_class(b)
    assert computed_class(a).startswith("v1:") and int(computed_class(a)[3:]) < 2 ** 64
    assert computed_class(a) != computed_class(attrs.evolve(a, NodeClass="gpu"))
    assert computed_class(a) != computed_class(make_node("a", drivers=("exec",)))
    assert computed_class(a) != computed_class(make_node("a", meta={"rack": "r1"}))
    assert computed_class(a) != computed_class(make_node("a", dc="dc2"))


def test_migration_limit_creates_rolling_followup_eval():
    h = Harness()
    nodes = fleet(h, 2)
    group = make_group(count=2, update=make_update(max_parallel=1, stagger=7_000_000_000))
    job = h.state.upsert_job(make_job("j", [group], dcs=("dc1",)))
    # Both allocs on node 0, healthy, from a finished deployment.
    ev = h.run(job)
    h.set_client_status("running", healthy=True)
    h.run(job)
    for a in h.live_allocs("j"):
        h.state.update_alloc(a.ID, NodeID=nodes[0].ID)
    h.state.upsert_node(attrs.evolve(nodes[0], Drain=True))
    ev = h.run(job, s.TRIGGER_NODE_UPDATE, AnnotatePlan=True)
    upd = h.planner.plans[-1].Annotations.DesiredTGUpdates["web"]
    assert (upd.Migrate, upd.Ignore) == (1, 1)
    [follow] = [e for e in h.planner.created if e.TriggeredBy == "rolling-update"]
    assert follow.Wait == 7_000_000_000 and follow.PreviousEval == ev.ID and follow.Status == "pending"
    assert ev.NextEval == follow.ID
    moved = [a for a in h.live_allocs("j") if a.NodeID == nodes[1].ID]
    assert len(moved) == 1 and moved[0].PreviousAllocation


def test_sticky_disk_prefers_previous_node():
    h = Harness()
    fleet(h, 5)
    group = make_group(count=1, sticky=True)
    job = h.state.upsert_job(make_job("j", [group]))
    h.run(job)
    [old] = h.live_allocs("j")
    g2 = attrs.evolve(group, Tasks=[make_task(config={"command": "/bin/v2"})])
    h.run(h.state.upsert_job(attrs.evolve(job, TaskGroups=[g2], Version=1, JobModifyIndex=20)))
    [new] = h.live_allocs("j")
    assert new.ID != old.ID and new.NodeID == old.NodeID and new.PreviousAllocation == old.ID


def test_system_job_drain_and_rolling_limit():
    h = Harness()
    nodes = fleet(h, 3)
    job = h.state.upsert_job(make_job("sys", [make_group("agent", 1)], type_="system",
                                      update=s.UpdateStrategy(Stagger=5_000_000_000, MaxParallel=1)))
    h.run(job)
    h.state.upsert_node(attrs.evolve(nodes[2], Drain=True))
    h.run(job, s.TRIGGER_NODE_UPDATE)
    drained = [a for a in h.state.allocs.values() if a.NodeID == nodes[2].ID]
    assert [a.DesiredDescription for a in drained] == ["alloc not needed as node is tainted"]
    # A destructive update touches one node per pass and schedules a follow-up.
    g2 = make_group("agent", 1, [make_task(config={"command": "/bin/v2"})])
    job2 = h.state.upsert_job(attrs.evolve(job, TaskGroups=[g2], Version=1, JobModifyIndex=30))
    ev = h.run(job2, AnnotatePlan=True)
    assert h.planner.plans[-1].Annotations.DesiredTGUpdates["agent"].DestructiveUpdate == 2
    assert sum(a.Job.Version == 1 for a in h.live_allocs("sys")) == 1
    [follow] = [e for e in h.planner.created if e.TriggeredBy == "rolling-update"]
    assert follow.Wait == 5_000_000_000 and ev.NextEval == follow.ID
    h.process(follow)
    assert sum(a.Job.Version == 1 for a in h.live_allocs("sys")) == 2


def test_paused_deployment_only_replaces_lost_allocs():
    h = Harness()
    nodes = fleet(h, 3)
    job = h.state.upsert_job(make_job("j", [make_group(count=3, update=make_update())]))
    ev = h.run(job)
    d = h.state.deployments[ev.DeploymentID]
    h.state.deployments[d.ID] = attrs.evolve(d, Status="paused", StatusDescription="Deployment is paused")
    h.set_client_status("running")
    live = h.live_allocs("j")
    failed = live[0]
    h.state.update_alloc(failed.ID, ClientStatus="failed")
    h.run(job, AnnotatePlan=True)
    assert h.planner.plans[-1].Annotations.DesiredTGUpdates["web"].Place == 0
    assert len(h.live_allocs("j")) == 2
    down = next(n for n in nodes if n.ID == live[1].NodeID)
    h.state.upsert_node(attrs.evolve(down, Status=s.NODE_STATUS_DOWN))
    h.run(job, s.TRIGGER_NODE_UPDATE, AnnotatePlan=True)
    upd = h.planner.plans[-1].Annotations.DesiredTGUpdates["web"]
    assert (upd.Place, upd.Stop) == (1, 1)  # only the lost one is replaced
    assert len(h.live_allocs("j")) == 2


def test_plan_refresh_retries_with_new_state():
    h = Harness(reject_placements=True)
    fleet(h, 1)
    job = h.state.upsert_job(make_job("j", [make_group(count=1)]))
    ev = h.run(job)
    # Every attempt re-planned the same placement against the refreshed state.
    assert all(len(p.NodeAllocation) == 1 for p in h.planner.plans)
    assert ev.QueuedAllocations == {"web": 1}


def test_duplicate_blocked_eval_is_cancelled_after_an_eval_update_but_before_a_plan() -> None:
    """Nomad's duplicate reaper races the worker: the real agent shows the cancel after
    the worker's eval update when nothing is placed (differential harness, seed 53), and
    before the plan when something is (golden case 32)."""
    from nomadjobs import Cluster, golden_fleet

    def job(count: int) -> dict:
        return {"ID": "dock", "Datacenters": ["dc1"], "TaskGroups": [{"Name": "g", "Count": count, "Tasks": [{
            "Name": "t", "Driver": "docker", "Config": {"image": "redis:3.2"},
            "Resources": {"CPU": 100, "MemoryMB": 64}}]}]}

    c = Cluster(golden_fleet(), seed=3)  # no docker driver: nothing can be placed
    c.register(job(1))
    second = c.register(job(2))
    evals = {e.ID: e for e in c.snapshot().evals_by_job("default", "dock")}
    done = evals[second.EvalID]
    cancelled = [e for e in evals.values() if e.Status == "canceled"]
    assert done.Status == "complete" and len(cancelled) == 1
    assert cancelled[0].CreateIndex == done.CreateIndex + 1
    assert done.ModifyIndex < cancelled[0].ModifyIndex


@pytest.mark.parametrize("job_type,penalty", [("service", -20.0), ("batch", -10.0)])
def test_job_anti_affinity_penalties_are_v0_7_1s(job_type: str, penalty: float) -> None:
    """v0.7.1 scheduler/stack.go: 20 per collision for service jobs, 10 for batch
    (differential seed 81100088 showed -20 where nomadjobs said -10)."""
    from nomadjobs import Cluster
    from nomadjobs.codec import job_from_dict
    cluster = Cluster("golden", seed=3)  # one node: the second allocation collides
    job = job_from_dict({"ID": "j", "Type": job_type, "Datacenters": ["dc1"], "TaskGroups": [{
        "Name": "g", "Count": 2, "Tasks": [{"Name": "t", "Driver": "raw_exec", "Config": {"command": "/bin/sleep"},
                                           "Resources": {"CPU": 100, "MemoryMB": 32}}]}]})
    cluster.jobs.register_job(s.JobRegisterRequest(Job=job))
    second = max(cluster.snapshot().allocs(), key=lambda a: a.Name)
    scores = {k.rsplit(".", 1)[1]: v for k, v in second.Metrics.Scores.items()}
    assert scores["job-anti-affinity"] == penalty
    cluster.close()
