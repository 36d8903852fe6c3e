"""The plan applier and the worker's planner (Nomad's ``plan_apply.go`` and ``worker.go``).

A scheduler run proposes plans; the applier re-checks every node's placements against
the latest state, commits what still fits through the FSM and tells the scheduler to
refresh when anything was refused.
"""

from __future__ import annotations

from typing import Iterable, Optional

from .. import fsm as cmds
from .. import structs as s
from ..state.store import ALLOCS, NODES, StateReader
from .protocol import Core

__all__ = ["apply_plan", "cancel_duplicate_blocked", "node_fits", "WorkerPlanner"]


def apply_plan(core: Core, plan: s.Plan, planned_on: Optional[tuple[int, int]] = None
               ) -> tuple[s.PlanResult, Optional[StateReader]]:
    """Commit what of ``plan`` still fits; the refreshed state when anything was refused.

    ``planned_on`` is the (allocs, nodes) table indexes of the snapshot the plan was
    computed on: when neither table moved since, the scheduler's own fit check saw
    exactly this state, and checking again would only repeat it."""
    state = core.snapshot()
    node_update = plan.NodeUpdate or {}
    node_allocation = plan.NodeAllocation or {}
    stops = [a for allocs in node_update.values() for a in allocs]
    accepted: dict[str, list[s.Allocation]] = {}
    refused = False
    stopping = {a.ID for a in stops}
    unchanged = planned_on == (state.table_index(ALLOCS), state.table_index(NODES))
    for node_id in sorted(node_allocation):
        placed = node_allocation[node_id]
        if unchanged or node_fits(state, node_id, placed, stopping):
            accepted[node_id] = placed
        else:
            refused = True
    allocs = stops + [a for node_id in sorted(accepted) for a in accepted[node_id]]
    result = core.apply(cmds.ApplyPlanResults(eval_id=plan.EvalID, job=plan.Job, allocs=allocs,
                                              deployment=plan.Deployment,
                                              deployment_updates=list(plan.DeploymentUpdates or ())))
    if result.error is not None:
        return s.PlanResult(RefreshIndex=result.index), core.snapshot()
    plan_result = s.PlanResult(NodeUpdate=plan.NodeUpdate, NodeAllocation=accepted or None,
                               Deployment=plan.Deployment, DeploymentUpdates=plan.DeploymentUpdates,
                               RefreshIndex=result.index if refused else 0, AllocIndex=result.index)
    return plan_result, (core.snapshot() if refused else None)


def cancel_duplicate_blocked(core: Core, ev: s.Evaluation) -> None:
    """Nomad keeps one blocked evaluation per job: a newer one is cancelled."""
    state = core.snapshot()
    for other in state.evals_by_job(ev.Namespace, ev.JobID):
        if other.ID != ev.ID and other.Status == s.EVAL_STATUS_BLOCKED:
            current = state.eval_by_id(ev.ID)
            if current is not None and current.Status == s.EVAL_STATUS_BLOCKED:
                core.apply(cmds.EvalUpdate([s.evolve(
                    current, Status=s.EVAL_STATUS_CANCELLED,
                    StatusDescription=f'existing blocked evaluation exists for job "{ev.JobID}"')]))
            return


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


class WorkerPlanner:
    """What a scheduler run talks to (the scheduler's ``Planner``): commits through the
    FSM. Like Nomad's worker, it stamps every evaluation it writes with the index of
    the snapshot it ran on."""

    def __init__(self, core: Core, state: StateReader) -> None:
        self.core = core
        self.snapshot_index = state.latest_index()
        self.planned_on: Optional[tuple[int, int]] = (state.table_index(ALLOCS), state.table_index(NODES))
        self.blocked: list[s.Evaluation] = []  # created blocked during this run

    def submit_plan(self, plan: s.Plan) -> tuple[s.PlanResult, Optional[StateReader]]:
        self._reap_duplicates()  # a plan goes through the plan queue: the reaper is quicker
        result, refreshed = apply_plan(self.core, plan, self.planned_on)
        # Later plans of this run were computed on a state this one has changed.
        self.planned_on = None
        return result, refreshed

    def update_eval(self, ev: s.Evaluation) -> None:
        self.core.apply(cmds.EvalUpdate([s.evolve(ev, SnapshotIndex=self.snapshot_index)]))
        self._reap_duplicates()  # a direct eval update lands before the reaper's

    def create_eval(self, ev: s.Evaluation) -> None:
        ev = s.evolve(ev, SnapshotIndex=self.snapshot_index)
        self.core.apply(cmds.EvalUpdate([ev]))
        if ev.Status == s.EVAL_STATUS_BLOCKED:
            self.blocked.append(ev)

    def finish(self) -> None:
        """After the run: nothing the reaper still has to cancel is left behind."""
        self._reap_duplicates()

    def _reap_duplicates(self) -> None:
        """Nomad's blocked-evals tracker sends a job's second blocked evaluation to its
        duplicate reaper (blocked_evals.go), which cancels it from its own goroutine,
        racing the worker: a real agent shows the cancel landing before a plan the
        worker submits next (golden case 32) but after an eval update it makes next."""
        for ev in self.blocked:
            cancel_duplicate_blocked(self.core, ev)
        self.blocked.clear()

    def reblock_eval(self, ev: s.Evaluation) -> None:
        # Nomad's Eval.Reblock only hands the eval back to the blocked tracker; it is
        # written only when its queued counts no longer match the job summary.
        summary = self.core.snapshot().job_summary(ev.Namespace, ev.JobID)
        if summary is None:
            return
        queued = ev.QueuedAllocations or {}
        if any(name in queued and queued[name] != tg.Queued for name, tg in summary.Summary.items()):
            self.update_eval(ev)
