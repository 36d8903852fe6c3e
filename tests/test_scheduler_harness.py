"""An in-memory state and planner for driving the schedulers in tests (the role of
Nomad's ``scheduler/testing.go`` Harness), plus builders for nodes and jobs."""

from __future__ import annotations

import random
import uuid
from typing import Optional

import attrs
import immutables

from nomadjobs import structs as s
from nomadjobs.scheduler import computed_class, new_scheduler
from nomadjobs.state.mvcc import VersionedGroup


# --- builders ------------------------------------------------------------------------------

def make_node(name: str, *, drivers=("docker", "exec", "raw_exec"), dc: str = "dc1", cpu: int = 4000,
              mem: int = 8192, disk: int = 100 * 1024, iops: int = 150, mbits: int = 1000,
              ip: str = "10.0.0.1", node_class: str = "", attributes: Optional[dict] = None,
              meta: Optional[dict] = None, status: str = s.NODE_STATUS_READY, drain: bool = False,
              node_id: Optional[str] = None, reserved: Optional[s.Resources] = None) -> s.Node:
    attrs_ = {"kernel.name": "linux", "arch": "amd64", "unique.hostname": name,
              "nomad.version": "0.7.1", "os.name": "ubuntu"}
    for d in drivers:
        attrs_[f"driver.{d}"] = "1"
    attrs_.update(attributes or {})
    node = s.Node(
        ID=node_id or str(uuid.uuid5(uuid.NAMESPACE_DNS, name)),
        Datacenter=dc, Name=name, Attributes=attrs_,
        Resources=s.Resources(CPU=cpu, MemoryMB=mem, DiskMB=disk, IOPS=iops,
                              Networks=[s.NetworkResource(Device="eth0", CIDR=f"{ip}/32", IP=ip, MBits=mbits)]),
        Reserved=reserved or s.Resources(CPU=0, MemoryMB=0, DiskMB=0, IOPS=0),
        Meta=meta, NodeClass=node_class, Status=status, Drain=drain,
    )
    return attrs.evolve(node, ComputedClass=computed_class(node))


def make_task(name: str = "web", *, driver: str = "exec", cpu: int = 500, mem: int = 256, iops: int = 0,
              mbits: Optional[int] = None, reserved_ports=(), dynamic_ports=(), config=None, env=None,
              constraints=None, meta=None) -> s.Task:
    networks = None
    if mbits is not None or reserved_ports or dynamic_ports:
        networks = [s.NetworkResource(
            MBits=mbits if mbits is not None else 10,
            ReservedPorts=[s.Port(Label=l, Value=v) for l, v in reserved_ports] or None,
            DynamicPorts=[s.Port(Label=l, Value=0) for l in dynamic_ports] or None)]
    return s.Task(Name=name, Driver=driver, Config=config or {"command": "/bin/sleep"}, Env=env,
                  Constraints=constraints, Meta=meta,
                  Resources=s.Resources(CPU=cpu, MemoryMB=mem, DiskMB=0, IOPS=iops, Networks=networks),
                  KillTimeout=5_000_000_000, LogConfig=s.LogConfig(MaxFiles=10, MaxFileSizeMB=10))


def make_update(max_parallel: int = 1, canary: int = 0, stagger: int = 30_000_000_000,
                auto_revert: bool = False) -> s.UpdateStrategy:
    return s.UpdateStrategy(Stagger=stagger, MaxParallel=max_parallel, HealthCheck="checks",
                            MinHealthyTime=10_000_000_000, HealthyDeadline=300_000_000_000,
                            AutoRevert=auto_revert, Canary=canary)


def make_group(name: str = "web", count: int = 1, tasks=None, *, update=None, constraints=None,
               disk: int = 300, sticky: bool = False, meta=None) -> s.TaskGroup:
    return s.TaskGroup(Name=name, Count=count, Update=update, Constraints=constraints,
                       RestartPolicy=s.RestartPolicy(Attempts=2, Interval=60_000_000_000,
                                                     Delay=15_000_000_000, Mode="delay"),
                       Tasks=tasks if tasks is not None else [make_task()],
                       EphemeralDisk=s.EphemeralDisk(Sticky=sticky, SizeMB=disk, Migrate=False), Meta=meta)


def make_job(job_id: str = "job", groups=None, *, type_: str = "service", dcs=("dc1",), constraints=None,
             version: int = 0, index: int = 10, create_index: int = 10, stop: bool = False,
             update: Optional[s.UpdateStrategy] = None, meta=None, name: Optional[str] = None) -> s.Job:
    return s.Job(Stop=stop, Region="global", Namespace="default", ID=job_id, ParentID="",
                 Name=name or job_id, Type=type_, Priority=50, AllAtOnce=False, Datacenters=list(dcs),
                 Constraints=constraints, TaskGroups=groups if groups is not None else [make_group()],
                 Update=update or s.UpdateStrategy(Stagger=0, MaxParallel=0), Meta=meta, Status="pending",
                 StatusDescription="", Stable=False, Version=version, SubmitTime=0, CreateIndex=create_index,
                 ModifyIndex=index, JobModifyIndex=index)


# --- fake state and planner ------------------------------------------------------------------------

class FakeState:
    """Tables in dicts; ``snapshot()`` gives a frozen view implementing StateReader."""

    def __init__(self) -> None:
        self.index = 1
        self.jobs: dict[tuple[str, str], s.Job] = {}
        self.allocs: dict[str, s.Allocation] = {}
        self.nodes_: dict[str, s.Node] = {}
        self.deployments: dict[str, s.Deployment] = {}
        self.evals: dict[str, s.Evaluation] = {}
        self.memo: dict = {}  # derived data (rebuilt from every fresh token)

    def next_index(self) -> int:
        self.index += 1
        return self.index

    def snapshot(self) -> "FakeState":
        snap = FakeState()
        snap.index = self.index
        snap.jobs = dict(self.jobs)
        snap.allocs = dict(self.allocs)
        snap.nodes_ = dict(self.nodes_)
        snap.deployments = dict(self.deployments)
        snap.evals = dict(self.evals)
        return snap

    # writes used by tests
    def upsert_node(self, node: s.Node) -> s.Node:
        self.nodes_[node.ID] = node
        self.next_index()
        return node

    def upsert_job(self, job: s.Job) -> s.Job:
        self.jobs[(job.Namespace, job.ID)] = job
        self.next_index()
        return job

    def upsert_alloc(self, alloc: s.Allocation) -> None:
        self.allocs[alloc.ID] = alloc
        self.next_index()

    def update_alloc(self, alloc_id: str, **changes) -> s.Allocation:
        a = attrs.evolve(self.allocs[alloc_id], **changes)
        self.allocs[alloc_id] = a
        return a

    # StateReader
    def job_by_id(self, namespace: str, job_id: str) -> Optional[s.Job]:
        return self.jobs.get((namespace, job_id))

    def allocs_by_job(self, namespace: str, job_id: str, all_incarnations: bool) -> list[s.Allocation]:
        out = [a for a in self.allocs.values() if a.Namespace == namespace and a.JobID == job_id]
        if not all_incarnations:
            job = self.job_by_id(namespace, job_id)
            if job is not None:
                out = [a for a in out if a.Job is not None and a.Job.CreateIndex == job.CreateIndex]
        return sorted(out, key=lambda a: a.ID)

    def allocs_by_node(self, node_id: str) -> list[s.Allocation]:
        return sorted((a for a in self.allocs.values() if a.NodeID == node_id), key=lambda a: a.ID)

    def node_allocs_token(self, node_id: str) -> object:
        # A fresh group with no history on every call: derived data is always rebuilt.
        rows = immutables.Map({(a.ID,): a for a in self.allocs.values() if a.NodeID == node_id})
        return VersionedGroup(rows, None, (), 0) if rows else None

    def alloc_by_id(self, alloc_id: str) -> Optional[s.Allocation]:
        return self.allocs.get(alloc_id)

    def nodes_token(self) -> None:
        return None  # the fake's node dict is edited in place

    def nodes(self) -> list[s.Node]:
        return [self.nodes_[k] for k in sorted(self.nodes_)]

    def node_by_id(self, node_id: str) -> Optional[s.Node]:
        return self.nodes_.get(node_id)

    def latest_deployment_by_job(self, namespace: str, job_id: str) -> Optional[s.Deployment]:
        ds = [d for d in self.deployments.values() if d.Namespace == namespace and d.JobID == job_id]
        return max(ds, key=lambda d: d.CreateIndex) if ds else None

    def deployment_by_id(self, deployment_id: str) -> Optional[s.Deployment]:
        return self.deployments.get(deployment_id)

    def eval_by_id(self, eval_id: str) -> Optional[s.Evaluation]:
        return self.evals.get(eval_id)

    def latest_index(self) -> int:
        return self.index


class FakePlanner:
    """Applies plans straight to the FakeState, like Nomad's test Harness."""

    def __init__(self, state: FakeState, *, reject_placements: bool = False) -> None:
        self.state = state
        self.reject_placements = reject_placements
        self.plans: list[s.Plan] = []
        self.updated: list[s.Evaluation] = []
        self.created: list[s.Evaluation] = []
        self.reblocked: list[s.Evaluation] = []

    def submit_plan(self, plan: s.Plan):
        self.plans.append(plan)
        st = self.state
        index = st.next_index()
        if plan.Deployment is not None:
            prev = st.deployments.get(plan.Deployment.ID)
            st.deployments[plan.Deployment.ID] = attrs.evolve(
                plan.Deployment, CreateIndex=prev.CreateIndex if prev else index, ModifyIndex=index)
        for upd in plan.DeploymentUpdates or ():
            d = st.deployments[upd.DeploymentID]
            st.deployments[d.ID] = attrs.evolve(d, Status=upd.Status, StatusDescription=upd.StatusDescription,
                                                ModifyIndex=index)
        for node_id, allocs in (plan.NodeUpdate or {}).items():
            for a in allocs:
                prev = st.allocs.get(a.ID)
                keep = {}
                if prev is not None:
                    keep = {"CreateIndex": prev.CreateIndex, "TaskStates": prev.TaskStates}
                    if a.ClientStatus != s.ALLOC_CLIENT_LOST:
                        keep["ClientStatus"] = prev.ClientStatus
                st.allocs[a.ID] = attrs.evolve(a, ModifyIndex=index, **keep)
        placed = {} if self.reject_placements else (plan.NodeAllocation or {})
        for node_id, allocs in placed.items():
            for a in allocs:
                prev = st.allocs.get(a.ID)
                if prev is None:
                    st.allocs[a.ID] = attrs.evolve(a, CreateIndex=index, ModifyIndex=index)
                    if a.DeploymentID and a.DeploymentID in st.deployments:
                        d = st.deployments[a.DeploymentID]
                        g = d.TaskGroups[a.TaskGroup]
                        tgs = dict(d.TaskGroups)
                        tgs[a.TaskGroup] = attrs.evolve(g, PlacedAllocs=g.PlacedAllocs + 1)
                        st.deployments[d.ID] = attrs.evolve(d, TaskGroups=tgs)
                else:
                    st.allocs[a.ID] = attrs.evolve(a, CreateIndex=prev.CreateIndex, ModifyIndex=index,
                                                   ClientStatus=prev.ClientStatus, TaskStates=prev.TaskStates)
        result = s.PlanResult(NodeUpdate=plan.NodeUpdate, NodeAllocation=placed or None,
                              Deployment=plan.Deployment, DeploymentUpdates=plan.DeploymentUpdates,
                              RefreshIndex=index if self.reject_placements and plan.NodeAllocation else 0,
                              AllocIndex=index)
        refreshed = st.snapshot() if self.reject_placements and plan.NodeAllocation else None
        return result, refreshed

    def update_eval(self, ev: s.Evaluation) -> None:
        self.updated.append(ev)
        self.state.evals[ev.ID] = ev

    def create_eval(self, ev: s.Evaluation) -> None:
        self.created.append(ev)
        self.state.evals[ev.ID] = ev

    def reblock_eval(self, ev: s.Evaluation) -> None:
        self.reblocked.append(ev)
        self.state.evals[ev.ID] = ev


class Harness:
    """A state, a planner, a seeded rng and ID source; ``run(job)`` processes one eval."""

    def __init__(self, seed: int = 1, **planner_opts) -> None:
        self.state = FakeState()
        self.planner = FakePlanner(self.state, **planner_opts)
        self.rng = random.Random(seed)
        self.id_rng = random.Random(seed + 1000)
        self.clock = 1_700_000_000_000_000_000

    def new_id(self) -> str:
        return str(uuid.UUID(int=self.id_rng.getrandbits(128), version=4))

    def now_ns(self) -> int:
        self.clock += 1000
        return self.clock

    def make_eval(self, job: s.Job, trigger: str = s.TRIGGER_JOB_REGISTER, **kw) -> s.Evaluation:
        ev = s.Evaluation(ID=self.new_id(), Namespace=job.Namespace, Priority=job.Priority, Type=job.Type,
                          TriggeredBy=trigger, JobID=job.ID, JobModifyIndex=job.JobModifyIndex,
                          Status=s.EVAL_STATUS_PENDING, **kw)
        self.state.evals[ev.ID] = ev
        return ev

    def process(self, ev: s.Evaluation, sched_type: Optional[str] = None) -> s.Evaluation:
        sched = new_scheduler(sched_type or ev.Type, self.state.snapshot(), self.planner, rng=self.rng,
                              now_ns=self.now_ns, new_id=self.new_id)
        sched.process(ev)
        return self.state.evals[ev.ID]

    def run(self, job: s.Job, trigger: str = s.TRIGGER_JOB_REGISTER, **kw) -> s.Evaluation:
        return self.process(self.make_eval(job, trigger, **kw))

    # views
    def live_allocs(self, job_id: Optional[str] = None) -> list[s.Allocation]:
        return sorted((a for a in self.state.allocs.values()
                       if not a.terminal() and (job_id is None or a.JobID == job_id)), key=lambda a: a.Name)

    def set_client_status(self, status: str, job_id: Optional[str] = None, healthy: Optional[bool] = None) -> None:
        for a in list(self.state.allocs.values()):
            if a.terminal() or (job_id is not None and a.JobID != job_id):
                continue
            changes = {"ClientStatus": status}
            if healthy is not None:
                changes["DeploymentStatus"] = s.AllocDeploymentStatus(Healthy=healthy, ModifyIndex=self.state.index)
            self.state.update_alloc(a.ID, **changes)


def test_harness_applies_plans():
    h = Harness()
    h.state.upsert_node(make_node("n1"))
    job = h.state.upsert_job(make_job("j", [make_group(count=2)]))
    ev = h.run(job)
    assert ev.Status == s.EVAL_STATUS_COMPLETE
    assert len(h.live_allocs("j")) == 2
    assert all(a.CreateIndex == a.ModifyIndex > 0 for a in h.live_allocs("j"))
