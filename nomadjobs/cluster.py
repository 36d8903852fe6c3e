"""A whole simulated Nomad cluster in one object.

The cluster owns the state store, the FSM (its only writer), the clock, the
evaluation queue with the scheduler workers, the plan applier and the simulated
clients. Everything that writes runs under one re-entrant lock, so the library is
deterministic on a virtual clock and consistent under the server's threads; readers
take snapshots and never wait for that lock.
"""

from __future__ import annotations

import contextlib
import heapq
import random
import threading
import uuid
from typing import Any, Callable, Iterable, Optional, Sequence

from . import fsm as cmds
from . import gcpolicy
from . import structs as s
from .clock import Clock, VirtualClock, WallClock
from .fleet import NodeSpec, build_node, node_specs
from .fsm import FSM, ApplyResult
from .nodeclass import computed_class
from .query import WriteOptions
from .state.store import ALLOCS, NODES, StateReader, StateWriter, new_database

_NO_PAUSE = contextlib.nullcontext()

Listener = Callable[[Any, ApplyResult], None]


class Cluster:
    """An in-memory Nomad v0.7.1 cluster: servers, scheduler and simulated clients."""

    def __init__(self, fleet: Sequence[NodeSpec] | str | None = None, *, seed: int = 0,
                 clock: str | Clock = "virtual", acl: bool = False, acl_token: Optional[str] = None,
                 region: str = "global",
                 datacenter: str = "dc1", simulate_clients: bool = True,
                 history: int = 256, record_log: bool = False, freeze_gc: bool = False) -> None:
        self.seed = seed
        self.rng = random.Random(seed)
        self.region = region
        self.datacenter = datacenter
        self.lock = threading.RLock()
        self.db = new_database(history=history)
        self.fsm = FSM(self.db, on_apply=self._on_apply)
        # Keep every applied command (index, command): replaying it rebuilds the state.
        self.fsm.keep_log = record_log
        # Keep the collector off the committed state (process-wide; see gcpolicy).
        self.freeze_gc = freeze_gc
        if isinstance(clock, Clock):
            self.clock = clock
        elif clock == "virtual":
            self.clock = VirtualClock()
        elif clock == "wall":
            self.clock = WallClock()
        else:
            raise ValueError(f"unknown clock {clock!r} (virtual, wall)")
        self.clock.run_guard = self._run_locked
        self._queue: list[tuple[int, int, int, str]] = []  # (-priority, create index, seq, eval id)
        self._queued: set[str] = set()
        self._seq = 0
        self._processing = False
        self.listeners: list[Listener] = []
        self.acl_enabled = acl
        self.bootstrap_token: Optional[s.ACLToken] = None
        # Imported late: these modules take the cluster as their context.
        from .jobs import JobsService
        from .lifecycle import Lifecycle
        self.lifecycle = Lifecycle(self, simulate_clients=simulate_clients)
        self.jobs = JobsService(self)
        # Kept so reset() can rebuild the cluster exactly as it was constructed.
        self.fleet_specs: list[NodeSpec] = node_specs(fleet)
        self.start_ns: int = self.clock.now_ns()
        for spec in self.fleet_specs:
            self.add_node(spec)
        if acl:
            # The bootstrap management token; its secret can be fixed by the caller.
            self.bootstrap_token = self.jobs.acl_bootstrap(acl_token)

    # --- identity and time -------------------------------------------------------------
    def new_id(self) -> str:
        """A UUID from the cluster's seeded generator: same seed, same IDs."""
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def now_ns(self) -> int:
        return self.clock.now_ns()

    # --- reads -------------------------------------------------------------------------
    def snapshot(self) -> StateReader:
        return StateReader(self.db.snapshot())

    def snapshot_at(self, index: int) -> Optional[StateReader]:
        """The state as it was right after ``index`` was committed (time travel)."""
        snap = self.db.snapshot_at(index)
        return StateReader(snap) if snap is not None else None

    @property
    def index(self) -> int:
        return self.db.latest_index

    # --- writes --------------------------------------------------------------------------
    def apply(self, command: Any) -> ApplyResult:
        with self.lock:
            return self.fsm.apply(command)

    def _on_apply(self, command: Any, result: ApplyResult) -> None:
        if self.freeze_gc:
            gcpolicy.after_commit()
        if result.error is None:
            if isinstance(command, cmds.EvalUpdate):
                for ev in command.evals:
                    if ev.Status == s.EVAL_STATUS_PENDING:
                        self.enqueue(ev)
            elif isinstance(command, (cmds.DeploymentStatusChange, cmds.DeploymentPromotion,
                                      cmds.DeploymentAllocHealth)):
                if command.eval is not None and command.eval.Status == s.EVAL_STATUS_PENDING:
                    self.enqueue(command.eval)
        for listener in list(self.listeners):
            listener(command, result)

    def _run_locked(self, fn: Callable[[], None]) -> None:
        with self.lock:
            fn()
            self.process_evals()

    # --- evaluations ---------------------------------------------------------------------
    def enqueue(self, ev: s.Evaluation) -> None:
        with self.lock:
            if ev.ID in self._queued:
                return
            self._queued.add(ev.ID)
            self._seq += 1
            heapq.heappush(self._queue, (-ev.Priority, ev.CreateIndex, self._seq, ev.ID))

    def process_evals(self) -> int:
        """Run the scheduler on every queued evaluation, highest priority first, until
        none is left (a pass may queue more). Returns how many ran."""
        with self.lock:
            if self._processing:
                return 0  # re-entered from a listener: the outer loop drains the queue
            self._processing = True
            try:
                with gcpolicy.paused() if self.freeze_gc else _NO_PAUSE:
                    ran = self._drain()
            finally:
                self._processing = False
            return ran

    def _drain(self) -> int:
        ran = 0
        while self._queue:
            _, _, _, eval_id = heapq.heappop(self._queue)
            self._queued.discard(eval_id)
            ev = self.snapshot().eval_by_id(eval_id)
            if ev is None or ev.Status not in (s.EVAL_STATUS_PENDING, s.EVAL_STATUS_BLOCKED):
                continue
            self._schedule(ev)
            ran += 1
        return ran

    def _schedule(self, ev: s.Evaluation) -> None:
        from .scheduler import new_scheduler
        state = self.snapshot()
        planner = _ClusterPlanner(self, state)
        sched = new_scheduler(ev.Type, state, planner, rng=self.rng, now_ns=self.now_ns,
                              new_id=self.new_id)
        sched.process(ev)

    def cancel_duplicate_blocked(self, ev: s.Evaluation) -> None:
        """Nomad keeps one blocked evaluation per job: a newer one is cancelled."""
        for other in self.snapshot().evals_by_job(ev.Namespace, ev.JobID):
            if other.ID != ev.ID and other.Status == s.EVAL_STATUS_BLOCKED:
                current = self.snapshot().eval_by_id(ev.ID)
                if current is not None and current.Status == s.EVAL_STATUS_BLOCKED:
                    self.apply(cmds.EvalUpdate([s.evolve(
                        current, Status=s.EVAL_STATUS_CANCELLED,
                        StatusDescription=f'existing blocked evaluation exists for job "{ev.JobID}"')]))
                return

    def unblock(self, ev_filter: Callable[[s.Evaluation], bool] = lambda e: True) -> int:
        """Queue blocked evaluations again (capacity may have appeared)."""
        n = 0
        for ev in self.snapshot().evals():
            if ev.Status == s.EVAL_STATUS_BLOCKED and ev_filter(ev):
                self.enqueue(ev)
                n += 1
        return n

    # --- plans -----------------------------------------------------------------------------
    def apply_plan(self, plan: s.Plan, planned_on: Optional[tuple[int, int]] = None
                   ) -> tuple[s.PlanResult, Optional[StateReader]]:
        """The plan applier: re-check each node's placements against the latest state,
        commit what fits, and tell the scheduler to refresh if anything was refused.

        ``planned_on`` is the (allocs, nodes) table indexes of the snapshot the plan
        was computed on: when neither table moved since, the scheduler's own fit
        check saw exactly this state, and checking again would only repeat it."""
        state = self.snapshot()
        stops = [a for allocs in (plan.NodeUpdate or {}).values() for a in allocs]
        accepted: dict[str, list[s.Allocation]] = {}
        refused = False
        stopping = {a.ID for a in stops}
        unchanged = planned_on == (state.table_index(ALLOCS), state.table_index(NODES))
        for node_id in sorted(plan.NodeAllocation or {}):
            placed = plan.NodeAllocation[node_id]
            if unchanged or node_fits(state, node_id, placed, stopping):
                accepted[node_id] = placed
            else:
                refused = True
        allocs = stops + [a for node_id in sorted(accepted) for a in accepted[node_id]]
        result = self.apply(cmds.ApplyPlanResults(eval_id=plan.EvalID, job=plan.Job, allocs=allocs,
                                                  deployment=plan.Deployment,
                                                  deployment_updates=list(plan.DeploymentUpdates or ())))
        if result.error is not None:
            return s.PlanResult(RefreshIndex=result.index), self.snapshot()
        plan_result = s.PlanResult(NodeUpdate=plan.NodeUpdate, NodeAllocation=accepted or None,
                                   Deployment=plan.Deployment, DeploymentUpdates=plan.DeploymentUpdates,
                                   RefreshIndex=result.index if refused else 0, AllocIndex=result.index)
        return plan_result, (self.snapshot() if refused else None)

    # --- nodes -----------------------------------------------------------------------------
    def add_node(self, spec: NodeSpec) -> s.Node:
        node = build_node(spec, self.new_id(), self.new_id(), computed_class, self.now_ns() // 10**9)
        with self.lock:
            self.apply(cmds.NodeRegister(node))
            self.unblock()
            self.process_evals()
        return self.snapshot().node_by_id(node.ID)

    # --- driving the simulation ------------------------------------------------------------
    def advance(self, seconds: float) -> int:
        """Move a virtual clock forward, running whatever falls due."""
        if not isinstance(self.clock, VirtualClock):
            raise TypeError("advance() needs a virtual clock")
        fired = self.clock.advance(seconds)
        self.process_evals()
        return fired

    def run_until_quiet(self, limit_seconds: float = 3600.0) -> int:
        """Advance a virtual clock until no timer is due within ``limit_seconds``."""
        if not isinstance(self.clock, VirtualClock):
            raise TypeError("run_until_quiet() needs a virtual clock")
        self.process_evals()
        return self.clock.run_until_idle(limit_seconds)

    def close(self) -> None:
        self.clock.close()

    # --- test conveniences (see docs/library.md) -------------------------------------------
    def register(self, job: Any, token: str = "") -> s.JobRegisterResponse:
        """Register a job given as Nomad API JSON (a dict, as python-nomad sends it)
        or as a :class:`~nomadjobs.structs.Job`; same rules as ``PUT /v1/jobs``."""
        from .api import job_from_dict
        model = job if isinstance(job, s.Job) else job_from_dict(job)
        return self.jobs.register_job(s.JobRegisterRequest(Job=model), WriteOptions(token=token))

    def reset(self) -> None:
        """Back to the state right after construction: same fleet, seed, clock start
        and bootstrap token; every job, eval, alloc and deployment is gone."""
        from .dump import reset_cluster
        reset_cluster(self)

    def dump(self) -> dict[str, Any]:
        """The whole state (every table and its index) as JSON-ready data."""
        from .dump import dump_state
        return dump_state(self)

    def load(self, data: dict[str, Any]) -> None:
        """Replace this cluster's state with a :meth:`dump` (in place, so servers and
        clients holding this cluster see the loaded state)."""
        from .dump import load_state
        load_state(self, data)

    @classmethod
    def from_dump(cls, data: dict[str, Any], *, clock: str | Clock = "virtual") -> "Cluster":
        """A new cluster holding a :meth:`dump`'s state (no fleet of its own)."""
        from .dump import cluster_from_dump
        return cluster_from_dump(data, clock=clock)

    # Fault shortcuts: delegate to lifecycle.faults (see nomadjobs/lifecycle/faults.py).
    def fail_task(self, alloc_id: str, task: Optional[str] = None, exit_code: int = 1, message: str = "",
                  driver_error: Optional[str] = None) -> None:
        self.lifecycle.faults.fail_task(alloc_id, task, exit_code, message, driver_error)

    def kill_node(self, node_id: str) -> list[str]:
        return self.lifecycle.faults.kill_node(node_id)

    def restore_node(self, node_id: str) -> list[str]:
        return self.lifecycle.faults.restore_node(node_id)

    def drain_node(self, node_id: str, enable: bool = True) -> list[str]:
        return self.lifecycle.faults.drain_node(node_id, enable)

    def make_unhealthy(self, alloc_id: str) -> None:
        self.lifecycle.faults.make_unhealthy(alloc_id)

    def stall_deployment(self, deployment_id: str) -> None:
        self.lifecycle.faults.stall_deployment(deployment_id)

    def __enter__(self) -> "Cluster":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def node_fits(state: StateReader, node_id: str, placed: Iterable[s.Allocation], stopping: set[str]) -> bool:
    """Would the node hold its running allocations plus ``placed``? (CPU, memory,
    disk, IOPS; ports are checked by the scheduler's network index.)"""
    node = state.node_by_id(node_id)
    if node is None or node.Status != s.NODE_STATUS_READY or node.Resources is None:
        return False
    placed = list(placed)
    replaced = {a.ID for a in placed} | stopping
    used = [0, 0, 0, 0]
    for alloc in state.allocs_by_node(node_id):
        if alloc.terminal() or alloc.ID in replaced:
            continue
        _add(used, alloc.Resources)
    for alloc in placed:
        _add(used, alloc.Resources)
    cap = node.Resources
    res = node.Reserved or s.Resources()
    limits = [(cap.CPU or 0) - (res.CPU or 0), (cap.MemoryMB or 0) - (res.MemoryMB or 0),
              (cap.DiskMB or 0) - (res.DiskMB or 0), (cap.IOPS or 0) - (res.IOPS or 0)]
    return all(u <= lim for u, lim in zip(used, limits))


def _add(acc: list[int], r: Optional[s.Resources]) -> None:
    if r is None:
        return
    acc[0] += r.CPU or 0
    acc[1] += r.MemoryMB or 0
    acc[2] += r.DiskMB or 0
    acc[3] += r.IOPS or 0


class _ClusterPlanner:
    """What a scheduler run talks to: commits through the FSM. Like Nomad's worker,
    it stamps every evaluation it writes with the index of the snapshot it ran on."""

    def __init__(self, cluster: Cluster, state: StateReader) -> None:
        self.cluster = cluster
        self.snapshot_index = state.latest_index()
        self.planned_on: Optional[tuple[int, int]] = (state.table_index(ALLOCS), state.table_index(NODES))

    def submit_plan(self, plan: s.Plan) -> tuple[s.PlanResult, Optional[StateReader]]:
        result, refreshed = self.cluster.apply_plan(plan, self.planned_on)
        # Later plans of this run were computed on a state this one has changed.
        self.planned_on = None
        return result, refreshed

    def update_eval(self, ev: s.Evaluation) -> None:
        self.cluster.apply(cmds.EvalUpdate([s.evolve(ev, SnapshotIndex=self.snapshot_index)]))

    def create_eval(self, ev: s.Evaluation) -> None:
        ev = s.evolve(ev, SnapshotIndex=self.snapshot_index)
        self.cluster.apply(cmds.EvalUpdate([ev]))
        if ev.Status == s.EVAL_STATUS_BLOCKED:
            self.cluster.cancel_duplicate_blocked(ev)

    def reblock_eval(self, ev: s.Evaluation) -> None:
        # Nomad's Eval.Reblock only hands the eval back to the blocked tracker; it is
        # written only when its queued counts no longer match the job summary.
        summary = self.cluster.snapshot().job_summary(ev.Namespace, ev.JobID)
        if summary is None:
            return
        queued = ev.QueuedAllocations or {}
        if any(name in queued and queued[name] != tg.Queued for name, tg in summary.Summary.items()):
            self.update_eval(ev)


class ScratchPlanner:
    """A planner for dry runs: plans land in an uncommitted transaction (the plan
    endpoint), and everything the scheduler would have written is recorded."""

    def __init__(self, writer: StateWriter) -> None:
        self.writer = writer
        self.plans: list[s.Plan] = []
        self.eval_updates: list[s.Evaluation] = []
        self.created_evals: list[s.Evaluation] = []

    def submit_plan(self, plan: s.Plan) -> tuple[s.PlanResult, Optional[StateReader]]:
        self.plans.append(plan)
        stops = [a for allocs in (plan.NodeUpdate or {}).values() for a in allocs]
        placed = [a for node_id in sorted(plan.NodeAllocation or {}) for a in plan.NodeAllocation[node_id]]
        self.writer.apply_plan_results("", plan.Job, stops + placed, plan.Deployment,
                                       list(plan.DeploymentUpdates or ()))
        return s.PlanResult(NodeUpdate=plan.NodeUpdate, NodeAllocation=plan.NodeAllocation,
                            Deployment=plan.Deployment, DeploymentUpdates=plan.DeploymentUpdates,
                            AllocIndex=self.writer.index), None

    def update_eval(self, ev: s.Evaluation) -> None:
        self.eval_updates.append(ev)

    def create_eval(self, ev: s.Evaluation) -> None:
        self.created_evals.append(ev)

    def reblock_eval(self, ev: s.Evaluation) -> None:
        pass
