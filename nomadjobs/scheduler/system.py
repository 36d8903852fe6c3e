"""The system scheduler (``scheduler/system_sched.go`` at v0.7.1): one allocation
of every task group on every feasible ready node."""

from __future__ import annotations

import random
from typing import Callable, Optional

import attrs

from ..structs import (
    ALLOC_CLIENT_LOST,
    ALLOC_CLIENT_PENDING,
    ALLOC_DESIRED_RUN,
    ALLOC_DESIRED_STOP,
    EVAL_STATUS_COMPLETE,
    EVAL_STATUS_FAILED,
    TRIGGER_DEPLOYMENT_WATCHER,
    TRIGGER_JOB_DEREGISTER,
    TRIGGER_JOB_REGISTER,
    TRIGGER_NODE_UPDATE,
    TRIGGER_ROLLING_UPDATE,
    AllocMetric,
    Allocation,
    DesiredUpdates,
    Evaluation,
    Job,
    Node,
    PlanAnnotations,
    PlanResult,
    Resources,
    TaskGroup,
    evolve,
)
from .context import EvalContext, MetricsBuilder, PlanBuilder
from .interfaces import Planner, StateReader
from .rank import ResourceSum
from .stack import SystemStack
from .util import (
    ALLOC_IN_PLACE,
    ALLOC_LOST,
    ALLOC_NODE_TAINTED,
    ALLOC_NOT_NEEDED,
    ALLOC_UPDATING,
    MaxAttemptsReached,
    adjust_queued_allocations,
    filter_terminal_allocs,
    full_commit,
    inplace_shared_resources,
    job_stopped,
    next_rolling_eval,
    node_terminal,
    progress_made,
    ran_successfully,
    ready_nodes_in_dcs,
    retry_max,
    set_status,
    shared_resources,
    tainted_nodes,
    tasks_updated,
    update_non_terminal_allocs_to_lost,
)

MAX_SYSTEM_SCHEDULE_ATTEMPTS = 5

SYSTEM_TRIGGERS = frozenset({
    TRIGGER_JOB_REGISTER, TRIGGER_NODE_UPDATE, TRIGGER_JOB_DEREGISTER, TRIGGER_ROLLING_UPDATE,
    TRIGGER_DEPLOYMENT_WATCHER,
})


@attrs.define
class AllocTuple:
    name: str
    task_group: Optional[TaskGroup]
    alloc: Optional[Allocation]
    node_id: str = ""  # the node a placement is meant for


@attrs.define
class DiffResult:
    place: list[AllocTuple] = attrs.Factory(list)
    update: list[AllocTuple] = attrs.Factory(list)
    migrate: list[AllocTuple] = attrs.Factory(list)
    stop: list[AllocTuple] = attrs.Factory(list)
    ignore: list[AllocTuple] = attrs.Factory(list)
    lost: list[AllocTuple] = attrs.Factory(list)

    def append(self, other: "DiffResult") -> None:
        for f in ("place", "update", "migrate", "stop", "ignore", "lost"):
            getattr(self, f).extend(getattr(other, f))


def materialize_task_groups(job: Optional[Job]) -> dict[str, TaskGroup]:
    """Every alloc name the job wants (system jobs name allocs after ``job.Name``)."""
    out: dict[str, TaskGroup] = {}
    if job_stopped(job):
        return out
    assert job is not None
    for tg in job.TaskGroups or ():
        for i in range(tg.Count or 0):
            out[f"{job.Name}.{tg.Name}[{i}]"] = tg
    return out


def diff_allocs(job: Optional[Job], tainted: dict[str, Optional[Node]], required: dict[str, TaskGroup],
                allocs: list[Allocation], terminal: dict[str, Allocation]) -> DiffResult:
    result = DiffResult()
    existing: set[str] = set()
    for exist in allocs:
        name = exist.Name
        existing.add(name)
        tg = required.get(name)
        if tg is None:
            result.stop.append(AllocTuple(name, None, exist))
            continue
        if exist.NodeID in tainted:
            if exist.Job is not None and exist.Job.Type == "batch" and ran_successfully(exist):
                result.ignore.append(AllocTuple(name, tg, exist))
            elif not exist.terminal() and node_terminal(tainted[exist.NodeID]):
                result.lost.append(AllocTuple(name, tg, exist))
            else:
                result.migrate.append(AllocTuple(name, tg, exist))
            continue
        assert job is not None and exist.Job is not None
        if (job.JobModifyIndex or 0) != (exist.Job.JobModifyIndex or 0):
            result.update.append(AllocTuple(name, tg, exist))
            continue
        result.ignore.append(AllocTuple(name, tg, exist))
    for name in sorted(required):
        if name not in existing:
            result.place.append(AllocTuple(name, required[name], terminal.get(name)))
    return result


def diff_system_allocs(job: Optional[Job], nodes: list[Node], tainted: dict[str, Optional[Node]],
                       allocs: list[Allocation], terminal: dict[str, Allocation]) -> DiffResult:
    by_node: dict[str, list[Allocation]] = {}
    for a in allocs:
        by_node.setdefault(a.NodeID, []).append(a)
    for n in nodes:
        by_node.setdefault(n.ID, [])
    required = materialize_task_groups(job)
    result = DiffResult()
    for node_id in sorted(by_node):
        diff = diff_allocs(job, tainted, required, by_node[node_id], terminal)
        if node_id in tainted:
            diff.place = []
        else:
            for t in diff.place:
                t.node_id = node_id
                if t.alloc is not None and t.alloc.NodeID != node_id:
                    t.alloc = None  # a terminal alloc elsewhere is not this one's predecessor
        result.append(diff)
    return result


def desired_updates(diff: DiffResult, inplace: list[AllocTuple], destructive: list[AllocTuple]
                    ) -> dict[str, DesiredUpdates]:
    counts: dict[str, dict[str, int]] = {}

    def bump(name: str, field: str) -> None:
        counts.setdefault(name, {}).setdefault(field, 0)
        counts[name][field] += 1

    # Only stops lack a task group (and only placements lack an alloc); groups are named.
    for t in diff.place:
        bump(t.task_group.Name, "Place")  # type: ignore[union-attr,arg-type]
    for t in diff.stop:
        bump(t.alloc.TaskGroup, "Stop")  # type: ignore[union-attr]
    for t in diff.ignore:
        bump(t.task_group.Name, "Ignore")  # type: ignore[union-attr,arg-type]
    for t in diff.migrate:
        bump(t.task_group.Name, "Migrate")  # type: ignore[union-attr,arg-type]
    for t in inplace:
        bump(t.task_group.Name, "InPlaceUpdate")  # type: ignore[union-attr,arg-type]
    for t in destructive:
        bump(t.task_group.Name, "DestructiveUpdate")  # type: ignore[union-attr,arg-type]
    return {k: DesiredUpdates(**v) for k, v in counts.items()}


class SystemScheduler:
    def __init__(self, state: StateReader, planner: Planner, *, rng: random.Random,
                 now_ns: Callable[[], int], new_id: Callable[[], str]) -> None:
        self.state = state
        self.planner = planner
        self.rng = rng
        self.now_ns = now_ns
        self.new_id = new_id
        self.eval: Optional[Evaluation] = None
        self.job: Optional[Job] = None
        self.plan: Optional[PlanBuilder] = None
        self.plan_result: Optional[PlanResult] = None
        self.ctx: Optional[EvalContext] = None
        self.stack: Optional[SystemStack] = None
        self.nodes: list[Node] = []
        self.nodes_by_dc: dict[str, int] = {}
        self.limit_reached = False
        self.next_eval: Optional[Evaluation] = None
        self.failed_tg_allocs: Optional[dict[str, MetricsBuilder]] = None
        self.queued_allocs: Optional[dict[str, int]] = None
        self.created_ids: set[str] = set()

    def process(self, ev: Evaluation) -> None:
        self.eval = ev
        if ev.TriggeredBy not in SYSTEM_TRIGGERS:
            self._set_status(EVAL_STATUS_FAILED,
                             f"scheduler cannot handle '{ev.TriggeredBy}' evaluation reason")
            return
        try:
            retry_max(MAX_SYSTEM_SCHEDULE_ATTEMPTS, self._process_once, lambda: progress_made(self.plan_result))
        except MaxAttemptsReached as err:
            self._set_status(EVAL_STATUS_FAILED, str(err))
            return
        self._set_status(EVAL_STATUS_COMPLETE, "")

    def _set_status(self, status: str, desc: str) -> None:
        assert self.eval is not None
        failed: Optional[dict[str, AllocMetric]] = None
        if self.failed_tg_allocs:
            failed = {k: v.freeze() for k, v in self.failed_tg_allocs.items()}
        set_status(self.planner, self.eval, self.next_eval, None, failed, status, desc, self.queued_allocs, "")

    def _process_once(self) -> bool:
        ev = self.eval
        assert ev is not None
        self.job = self.state.job_by_id(ev.Namespace, ev.JobID)
        self.queued_allocs = {}
        self.nodes, self.nodes_by_dc = [], {}
        if not job_stopped(self.job):
            assert self.job is not None
            self.nodes, self.nodes_by_dc = ready_nodes_in_dcs(self.state, list(self.job.Datacenters or ()))
        self.plan = PlanBuilder(ev.ID, ev.Priority, self.job)
        self.failed_tg_allocs = None
        self.created_ids = set()
        self.ctx = EvalContext(self.state, self.plan, self.rng)
        self.stack = SystemStack(self.ctx)
        if not job_stopped(self.job):
            assert self.job is not None
            self.stack.set_job(self.job)

        self._compute_job_allocs()

        if self.plan.is_noop() and not ev.AnnotatePlan:
            return True
        if self.limit_reached and self.next_eval is None:
            assert self.job is not None
            stagger = (self.job.Update.Stagger or 0) if self.job.Update else 0
            self.next_eval = next_rolling_eval(ev, self.new_id(), stagger)
            self.planner.create_eval(self.next_eval)

        plan = self.plan.freeze()
        result, new_state = self.planner.submit_plan(plan)
        self.plan_result = result
        adjust_queued_allocations(result, self.queued_allocs, self.created_ids)
        if new_state is not None:
            self.state = new_state
            return False
        return full_commit(plan.NodeAllocation or {}, result)

    def _compute_job_allocs(self) -> None:
        ev, plan = self.eval, self.plan
        assert ev is not None and plan is not None and self.queued_allocs is not None
        allocs = sorted(self.state.allocs_by_job(ev.Namespace, ev.JobID, True), key=lambda a: a.ID)
        tainted = tainted_nodes(self.state, allocs)
        now = self.now_ns()
        update_non_terminal_allocs_to_lost(plan, tainted, allocs, now)
        live, terminal = filter_terminal_allocs(allocs)

        diff = diff_system_allocs(self.job, self.nodes, tainted, live, terminal)
        for t in diff.stop:
            assert t.alloc is not None
            plan.append_update(t.alloc, ALLOC_DESIRED_STOP, ALLOC_NOT_NEEDED, "", now)
        for t in diff.migrate:
            # System allocs are tied to their node: a draining node just loses them.
            assert t.alloc is not None
            plan.append_update(t.alloc, ALLOC_DESIRED_STOP, ALLOC_NODE_TAINTED, "", now)
        for t in diff.lost:
            assert t.alloc is not None
            plan.append_update(t.alloc, ALLOC_DESIRED_STOP, ALLOC_LOST, ALLOC_CLIENT_LOST, now)

        destructive, inplace = self._inplace_update(diff.update)
        diff.update = destructive

        if ev.AnnotatePlan:
            plan.Annotations = PlanAnnotations(DesiredTGUpdates=desired_updates(diff, inplace, destructive))

        limit = len(diff.update)
        job = self.job
        if not job_stopped(job) and job is not None and job.Update is not None \
                and (job.Update.Stagger or 0) > 0 and (job.Update.MaxParallel or 0) > 0:
            limit = job.Update.MaxParallel or 0
        self.limit_reached = self._evict_and_place(diff, diff.update, limit, now)

        if not diff.place:
            if not job_stopped(job):
                assert job is not None
                for tg in job.TaskGroups or ():
                    self.queued_allocs[tg.Name] = 0  # type: ignore[index]  # groups are named
            return
        for t in diff.place:
            name: str = t.task_group.Name  # type: ignore[union-attr,assignment]  # a placement's group, named
            self.queued_allocs[name] = self.queued_allocs.get(name, 0) + 1
        self._compute_placements(diff.place)

    def _evict_and_place(self, diff: DiffResult, allocs: list[AllocTuple], limit: int, now: int) -> bool:
        assert self.plan is not None
        for t in allocs[:limit]:
            assert t.alloc is not None
            self.plan.append_update(t.alloc, ALLOC_DESIRED_STOP, ALLOC_UPDATING, "", now)
            # The replacement goes on the same node, chained to the old alloc.
            diff.place.append(AllocTuple(t.name, t.task_group, t.alloc, t.alloc.NodeID))
        return len(allocs) > limit

    def _inplace_update(self, updates: list[AllocTuple]) -> tuple[list[AllocTuple], list[AllocTuple]]:
        """Split updates into destructive and in-place ones (util.go inplaceUpdate)."""
        ctx, stack, ev, job = self.ctx, self.stack, self.eval, self.job
        assert ctx is not None and stack is not None and ev is not None
        updates = list(updates)
        n = len(updates)
        inplace_count = 0
        i = 0
        while i < n:
            t = updates[i]
            assert t.alloc is not None and t.task_group is not None and job is not None
            existing_job = t.alloc.Job
            if existing_job is None or tasks_updated(job, existing_job, t.task_group.Name or ""):
                i += 1
                continue
            node = self.state.node_by_id(t.alloc.NodeID)
            if node is None:
                i += 1
                continue
            stack.set_nodes([node])
            ctx.plan.append_update(t.alloc, ALLOC_DESIRED_STOP, ALLOC_IN_PLACE)
            option = stack.select(t.task_group)
            ctx.plan.pop_update(t.alloc)
            if option is None:
                i += 1
                continue
            task_resources: dict[str, Resources] = {}
            for name, res in option.task_resources.items():
                old = (t.alloc.TaskResources or {}).get(name)
                task_resources[name] = evolve(res, Networks=old.Networks if old else None)
            tg = t.task_group
            shared = inplace_shared_resources(t.alloc, tg)
            total = ResourceSum().add(shared)
            for task in tg.Tasks or ():
                total.add(task_resources.get(task.Name))
            ctx.plan.append_alloc(evolve(
                t.alloc, EvalID=ev.ID, Job=job, Resources=total.freeze(), SharedResources=shared,
                TaskResources=task_resources, Metrics=ctx.metrics.freeze(), ModifyTime=self.now_ns()))
            # Move it past the end of the live region (same order as Nomad's swap).
            updates[i], updates[n - 1] = updates[n - 1], updates[i]
            n -= 1
            inplace_count += 1
        return updates[:n], updates[n:]

    def _compute_placements(self, place: list[AllocTuple]) -> None:
        ctx, stack, plan, ev, job = self.ctx, self.stack, self.plan, self.eval, self.job
        assert ctx is not None and stack is not None and plan is not None and ev is not None and job is not None
        assert self.queued_allocs is not None
        node_by_id = {n.ID: n for n in self.nodes}
        for missing in place:
            tg = missing.task_group
            assert tg is not None
            node = node_by_id.get(missing.node_id)
            if node is None:
                continue  # Nomad errors out here; the node left the ready set
            stack.set_nodes([node])
            option = stack.select(tg)
            if option is None:
                # A node filtered out by constraints was never wanted: not queued.
                if ctx.metrics.NodesFiltered > 0:
                    # (A canonical job names every group: the ignore here and below.)
                    self.queued_allocs[tg.Name] = self.queued_allocs.get(tg.Name, 0) - 1  # type: ignore[index,arg-type]
                    ann = plan.Annotations
                    if ev.AnnotatePlan and ann is not None and ann.DesiredTGUpdates and tg.Name in ann.DesiredTGUpdates:
                        cur = ann.DesiredTGUpdates[tg.Name]
                        updated = dict(ann.DesiredTGUpdates)
                        updated[tg.Name] = evolve(cur, Place=cur.Place - 1)
                        plan.Annotations = PlanAnnotations(DesiredTGUpdates=updated)
                if self.failed_tg_allocs is not None and tg.Name in self.failed_tg_allocs:
                    self.failed_tg_allocs[tg.Name].CoalescedFailures += 1
                    continue
            ctx.metrics.NodesAvailable = dict(self.nodes_by_dc)
            if option is None:
                if self.failed_tg_allocs is None:
                    self.failed_tg_allocs = {}
                self.failed_tg_allocs[tg.Name] = ctx.metrics  # type: ignore[index]  # groups are named
                continue
            now = self.now_ns()
            shared = shared_resources(tg)
            alloc = Allocation(
                ID=self.new_id(), Namespace=job.Namespace or "", EvalID=ev.ID, Name=missing.name,
                NodeID=option.node.ID, JobID=job.ID or "", Job=job, TaskGroup=tg.Name or "",
                Resources=option.alloc_resources, SharedResources=shared,
                TaskResources=dict(option.task_resources), Metrics=ctx.metrics.freeze(),
                DesiredStatus=ALLOC_DESIRED_RUN, ClientStatus=ALLOC_CLIENT_PENDING,
                PreviousAllocation=missing.alloc.ID if missing.alloc is not None else "",
                CreateTime=now, ModifyTime=now,
            )
            self.created_ids.add(alloc.ID)
            plan.append_alloc(alloc)
