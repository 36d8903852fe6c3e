"""A planner for dry runs (the role of Nomad's ``scheduler.Harness``).

The plan endpoint runs the real scheduler against an uncommitted write transaction:
plans land in that transaction, and every evaluation the scheduler would have written
is recorded instead of committed.
"""

from __future__ import annotations

from typing import Optional

from .. import structs as s
from ..state.store import StateReader, StateWriter

__all__ = ["ScratchPlanner"]


class ScratchPlanner:
    """A :class:`~nomadjobs.scheduler.interfaces.Planner` that commits nothing."""

    def __init__(self, writer: StateWriter) -> None:
        self.writer = writer
        self.plans: list[s.Plan] = []
        self.eval_updates: list[s.Evaluation] = []
        self.created_evals: list[s.Evaluation] = []

    def submit_plan(self, plan: s.Plan) -> tuple[s.PlanResult, Optional[StateReader]]:
        self.plans.append(plan)
        node_update = plan.NodeUpdate or {}
        node_allocation = plan.NodeAllocation or {}
        stops = [a for allocs in node_update.values() for a in allocs]
        placed = [a for node_id in sorted(node_allocation) for a in node_allocation[node_id]]
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
