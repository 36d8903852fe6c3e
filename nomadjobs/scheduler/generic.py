"""The service and batch scheduler (``scheduler/generic_sched.go`` at v0.7.1)."""

from __future__ import annotations

import random
from typing import Callable, Optional, Union

from ..structs import (
    ALLOC_CLIENT_PENDING,
    ALLOC_DESIRED_RUN,
    ALLOC_DESIRED_STOP,
    EVAL_STATUS_BLOCKED,
    EVAL_STATUS_COMPLETE,
    EVAL_STATUS_FAILED,
    TRIGGER_DEPLOYMENT_WATCHER,
    TRIGGER_JOB_DEREGISTER,
    TRIGGER_JOB_REGISTER,
    TRIGGER_MAX_PLANS,
    TRIGGER_NODE_UPDATE,
    TRIGGER_PERIODIC_JOB,
    TRIGGER_ROLLING_UPDATE,
    AllocMetric,
    Allocation,
    Deployment,
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
from .reconcile import AllocReconciler, DeploymentDraft, DestructiveResult, PlaceResult
from .stack import GenericStack
from .util import (
    ALLOC_IN_PLACE,
    BLOCKED_EVAL_FAILED_PLACEMENTS,
    BLOCKED_EVAL_MAX_PLAN_DESC,
    MaxAttemptsReached,
    adjust_queued_allocations,
    blocked_eval,
    full_commit,
    inplace_shared_resources,
    job_stopped,
    next_rolling_eval,
    node_ready,
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

MAX_SERVICE_SCHEDULE_ATTEMPTS = 5
MAX_BATCH_SCHEDULE_ATTEMPTS = 2

GENERIC_TRIGGERS = frozenset({
    TRIGGER_JOB_REGISTER, TRIGGER_NODE_UPDATE, TRIGGER_JOB_DEREGISTER, TRIGGER_ROLLING_UPDATE,
    TRIGGER_PERIODIC_JOB, TRIGGER_MAX_PLANS, TRIGGER_DEPLOYMENT_WATCHER,
})

Placement = Union[PlaceResult, DestructiveResult]


class GenericScheduler:
    def __init__(self, state: StateReader, planner: Planner, *, batch: bool, rng: random.Random,
                 now_ns: Callable[[], int], new_id: Callable[[], str]) -> None:
        self.state = state
        self.planner = planner
        self.batch = batch
        self.rng = rng
        self.now_ns = now_ns
        self.new_id = new_id

        self.eval: Optional[Evaluation] = None
        self.job: Optional[Job] = None
        self.plan: Optional[PlanBuilder] = None
        self.plan_result: Optional[PlanResult] = None
        self.ctx: Optional[EvalContext] = None
        self.stack: Optional[GenericStack] = None
        self.followup_eval_wait = 0
        self.next_eval: Optional[Evaluation] = None
        # The current deployment: a draft when this pass creates or changes it.
        self.deployment: Optional[Union[Deployment, DeploymentDraft]] = None
        self.blocked: Optional[Evaluation] = None
        self.failed_tg_allocs: Optional[dict[str, MetricsBuilder]] = None
        self.queued_allocs: Optional[dict[str, int]] = None
        self.created_ids: set[str] = set()
        self.alloc_deployment_id = ""

    # --- entry point ------------------------------------------------------------------------
    def process(self, ev: Evaluation) -> None:
        self.eval = ev
        if ev.TriggeredBy not in GENERIC_TRIGGERS:
            self._set_status(EVAL_STATUS_FAILED,
                             f"scheduler cannot handle '{ev.TriggeredBy}' evaluation reason")
            return

        limit = MAX_BATCH_SCHEDULE_ATTEMPTS if self.batch else MAX_SERVICE_SCHEDULE_ATTEMPTS
        try:
            retry_max(limit, self._process_once, lambda: progress_made(self.plan_result))
        except MaxAttemptsReached as err:
            # No forward progress: park a blocked eval to retry when things change.
            self._create_blocked_eval(plan_failure=True)
            self._set_status(EVAL_STATUS_FAILED, str(err))
            return

        if ev.Status == EVAL_STATUS_BLOCKED and self.failed_tg_allocs:
            assert self.ctx is not None
            elig = self.ctx.eligibility
            self.planner.reblock_eval(evolve(
                ev, EscapedComputedClass=elig.has_escaped(), ClassEligibility=elig.get_classes()))
            return
        self._set_status(EVAL_STATUS_COMPLETE, "")

    def _deployment_id(self) -> str:
        return self.deployment.ID if self.deployment is not None else ""

    def _frozen_failed(self) -> Optional[dict[str, AllocMetric]]:
        if not self.failed_tg_allocs:
            return None
        return {k: v.freeze() for k, v in self.failed_tg_allocs.items()}

    def _set_status(self, status: str, desc: str) -> None:
        assert self.eval is not None
        set_status(self.planner, self.eval, self.next_eval, self.blocked, self._frozen_failed(), status,
                   desc, self.queued_allocs, self._deployment_id())

    def _create_blocked_eval(self, plan_failure: bool) -> None:
        assert self.eval is not None
        if self.ctx is not None:
            elig = self.ctx.eligibility
            escaped = elig.has_escaped()
            classes = None if escaped else elig.get_classes()
        else:
            escaped, classes = False, {}
        blocked = blocked_eval(self.eval, self.new_id(), classes, escaped)
        if plan_failure:
            blocked = evolve(blocked, TriggeredBy=TRIGGER_MAX_PLANS,
                                   StatusDescription=BLOCKED_EVAL_MAX_PLAN_DESC)
        else:
            blocked = evolve(blocked, StatusDescription=BLOCKED_EVAL_FAILED_PLACEMENTS)
        self.blocked = blocked
        self.planner.create_eval(blocked)

    # --- one attempt ---------------------------------------------------------------------------
    def _process_once(self) -> bool:
        ev = self.eval
        assert ev is not None
        self.job = self.state.job_by_id(ev.Namespace, ev.JobID)
        stopped = job_stopped(self.job)
        self.queued_allocs = {}
        self.plan = PlanBuilder(ev.ID, ev.Priority, self.job)
        self.deployment = None
        if not self.batch:
            self.deployment = self.state.latest_deployment_by_job(ev.Namespace, ev.JobID)
        self.failed_tg_allocs = None
        self.created_ids = set()
        self.alloc_deployment_id = ""
        self.ctx = EvalContext(self.state, self.plan, self.rng)
        self.stack = GenericStack(self.batch, self.ctx)
        if not stopped:
            assert self.job is not None
            self.stack.set_job(self.job)

        self._compute_job_allocs()

        if ev.Status != EVAL_STATUS_BLOCKED and self.failed_tg_allocs and self.blocked is None:
            self._create_blocked_eval(plan_failure=False)

        self._finalize_deployment()
        if self.plan.is_noop() and not ev.AnnotatePlan:
            return True

        if self.followup_eval_wait and self.next_eval is None:
            self.next_eval = next_rolling_eval(ev, self.new_id(), self.followup_eval_wait)
            self.planner.create_eval(self.next_eval)

        plan = self.plan.freeze()
        result, new_state = self.planner.submit_plan(plan)
        self.plan_result = result
        adjust_queued_allocations(result, self.queued_allocs, self.created_ids)
        if new_state is not None:
            self.state = new_state
            return False
        if not full_commit(plan.NodeAllocation or {}, result):
            return False
        return True

    def _finalize_deployment(self) -> None:
        assert self.plan is not None
        if isinstance(self.deployment, DeploymentDraft):
            self.plan.Deployment = self.deployment.freeze()

    # --- reconciling -----------------------------------------------------------------------------
    def _filter_complete_allocs(self, allocs: list[Allocation]) -> list[Allocation]:
        def drop(a: Allocation) -> bool:
            if self.batch:
                # Batch: replace allocs stopped before finishing and failed ones,
                # keep the ones that completed successfully.
                if a.DesiredStatus in (ALLOC_DESIRED_STOP, "evict"):
                    return not ran_successfully(a)
                return a.ClientStatus == "failed"
            return a.terminal()

        # As filterCompleteAllocs: nothing else is dropped here. Several allocations may
        # share a name (a batch job's complete allocations of older versions stay); the
        # reconciler's batchFiltration counts the older terminal ones as ignored.
        return [a for a in allocs if not drop(a)]

    def _compute_job_allocs(self) -> None:
        ev, plan, ctx = self.eval, self.plan, self.ctx
        assert ev is not None and plan is not None and ctx is not None
        allocs = sorted(self.state.allocs_by_job(ev.Namespace, ev.JobID, True), key=lambda a: a.ID)
        tainted = tainted_nodes(self.state, allocs)
        now = self.now_ns()
        update_non_terminal_allocs_to_lost(plan, tainted, allocs, now)
        allocs = self._filter_complete_allocs(allocs)

        existing_dep = self.deployment if isinstance(self.deployment, Deployment) else None
        reconciler = AllocReconciler(self._alloc_update_fn, self.batch, ev.JobID, self.job, existing_dep,
                                     allocs, tainted, self.new_id)
        results = reconciler.compute()

        if ev.AnnotatePlan:
            plan.Annotations = PlanAnnotations(DesiredTGUpdates=results.frozen_desired_updates())

        plan.DeploymentUpdates = list(results.deployment_updates)
        self.followup_eval_wait = results.followup_eval_wait
        # As v0.7.1's computeJobAllocs: the scheduler keeps the job's latest deployment
        # unless this pass makes one, even when the reconciler cancelled it or set it aside
        # as successful. The eval reports it, and in-place updates and placements join it
        # (a stale deployment then counts them in PlacedAllocs: updateDeploymentWithAlloc).
        if results.deployment is not None:
            self.deployment = results.deployment
        self.alloc_deployment_id = self._deployment_id()

        for stop in results.stop:
            plan.append_update(stop.alloc, ALLOC_DESIRED_STOP, stop.description, stop.client_status, now)

        dep_id = self.alloc_deployment_id
        for update in results.inplace_update:
            if update.DeploymentID != dep_id:
                update = evolve(update, DeploymentID=dep_id, DeploymentStatus=None)
            plan.append_alloc(update)

        if not results.place and not results.destructive_update:
            if not job_stopped(self.job):
                assert self.job is not None
                for tg in self.job.TaskGroups or ():
                    # (queued_allocs is set by _process_once; a canonical job names every group)
                    self.queued_allocs[tg.Name] = 0  # type: ignore[index]
            return

        assert self.queued_allocs is not None
        # (A canonical job names every group: the ignores below.)
        for p in results.place:
            self.queued_allocs[p.task_group.Name] = self.queued_allocs.get(p.task_group.Name, 0) + 1  # type: ignore[index,arg-type]
        for d in results.destructive_update:
            self.queued_allocs[d.task_group.Name] = self.queued_allocs.get(d.task_group.Name, 0) + 1  # type: ignore[index,arg-type]
        self._compute_placements(list(results.destructive_update), list(results.place))

    def _alloc_update_fn(self, existing: Allocation, new_job: Job, new_tg: TaskGroup
                         ) -> tuple[bool, bool, Optional[Allocation]]:
        """Ignore, destructive, or an in-place updated copy of ``existing``."""
        assert existing.Job is not None and self.ctx is not None and self.stack is not None
        if (existing.Job.JobModifyIndex or 0) == (new_job.JobModifyIndex or 0):
            return True, False, None
        if tasks_updated(new_job, existing.Job, new_tg.Name or ""):
            return False, True, None
        if existing.terminal():
            # Completed batch allocs: an in-place update would be pointless churn.
            return True, False, None
        node = self.state.node_by_id(existing.NodeID)
        if node is None:
            return False, True, None
        # Re-check the alloc's own node against the new job, discounting the alloc.
        self.stack.set_nodes([node])
        plan = self.ctx.plan
        plan.append_update(existing, ALLOC_DESIRED_STOP, ALLOC_IN_PLACE)
        option = self.stack.select(new_tg)
        plan.pop_update(existing)
        if option is None:
            return False, True, None
        # Ports cannot change in place (tasks_updated guards it): keep the old offers.
        task_resources: dict[str, Resources] = {}
        for name, res in option.task_resources.items():
            old = (existing.TaskResources or {}).get(name)
            task_resources[name] = evolve(res, Networks=old.Networks if old else None)
        shared = inplace_shared_resources(existing, new_tg)
        total = ResourceSum().add(shared)
        for task in new_tg.Tasks or ():
            total.add(task_resources.get(task.Name))
        updated = evolve(existing, EvalID=self.eval.ID if self.eval else "", Job=new_job,
                               Resources=total.freeze(), SharedResources=shared, TaskResources=task_resources,
                               Metrics=self.ctx.metrics.freeze(), ModifyTime=self.now_ns())
        return False, False, updated

    # --- placing ---------------------------------------------------------------------------------
    def _find_preferred_node(self, p: Placement) -> Optional[Node]:
        prev = p.previous_alloc
        disk = p.task_group.EphemeralDisk
        if prev is not None and disk is not None and disk.Sticky:
            node = self.state.node_by_id(prev.NodeID)
            if node_ready(node):
                return node
        return None

    def _compute_placements(self, destructive: list[DestructiveResult], place: list[PlaceResult]) -> None:
        job, plan, ctx, stack, ev = self.job, self.plan, self.ctx, self.stack, self.eval
        assert job is not None and plan is not None and ctx is not None and stack is not None and ev is not None
        nodes, by_dc = ready_nodes_in_dcs(self.state, list(job.Datacenters or ()))
        available = dict(by_dc)  # every placement's metrics share it (never mutated)
        stack.set_nodes(nodes)
        dep_id = self.alloc_deployment_id

        placements: list[Placement] = [*destructive, *place]
        for missing in placements:
            tg = missing.task_group
            if self.failed_tg_allocs is not None and tg.Name in self.failed_tg_allocs:
                self.failed_tg_allocs[tg.Name].CoalescedFailures += 1
                continue

            preferred = self._find_preferred_node(missing)
            # Stop the old alloc first so its resources are free for the replacement.
            stop_prev, stop_desc = missing.stop_previous()
            prev = missing.previous_alloc
            now = self.now_ns()
            if stop_prev and prev is not None:
                plan.append_update(prev, ALLOC_DESIRED_STOP, stop_desc, "", now)

            if preferred is not None:
                option = stack.select_preferring_nodes(tg, [preferred])
            else:
                option = stack.select(tg)
            ctx.metrics.NodesAvailable = available

            if option is None:
                if self.failed_tg_allocs is None:
                    self.failed_tg_allocs = {}
                self.failed_tg_allocs[tg.Name] = ctx.metrics  # type: ignore[index]  # groups are named
                if stop_prev and prev is not None:
                    plan.pop_update(prev)
                continue

            shared = shared_resources(tg)
            alloc = Allocation(
                ID=self.new_id(),
                Namespace=job.Namespace or "",
                EvalID=ev.ID,
                Name=missing.name,
                NodeID=option.node.ID,
                JobID=job.ID or "",
                Job=job,
                TaskGroup=tg.Name or "",
                Resources=option.alloc_resources or _sum_task_resources(option.task_resources, shared),
                SharedResources=shared,
                TaskResources=dict(option.task_resources),
                Metrics=ctx.metrics.freeze(),
                DesiredStatus=ALLOC_DESIRED_RUN,
                ClientStatus=ALLOC_CLIENT_PENDING,
                PreviousAllocation=prev.ID if prev is not None else "",
                DeploymentID=dep_id,
                CreateTime=now,
                ModifyTime=now,
            )
            if missing.canary and dep_id:
                self._record_canary(tg.Name or "", alloc.ID)
            self.created_ids.add(alloc.ID)
            plan.append_alloc(alloc)

    def _record_canary(self, group: str, alloc_id: str) -> None:
        dep = self.deployment
        if isinstance(dep, Deployment):
            # Nomad mutates the stored deployment in memory; we upsert a copy instead.
            dep = DeploymentDraft(dep)
            self.deployment = dep
        assert isinstance(dep, DeploymentDraft)
        state = dep.groups.get(group)
        if state is not None:
            state.PlacedCanaries.append(alloc_id)


def _sum_task_resources(task_resources: dict[str, Resources], shared: Resources) -> Resources:
    total = ResourceSum().add(shared)
    for name in sorted(task_resources):
        total.add(task_resources[name])
    return total.freeze()
