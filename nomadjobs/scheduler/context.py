"""Per-evaluation scratch state (``scheduler/context.go``): the plan being built,
the metrics of the current placement attempt and the computed-class eligibility
cache. The models are frozen, so the mutable pieces live in small builders here and
are frozen when they leave the scheduler."""

from __future__ import annotations

import random
import re
from typing import Any, Iterable, Optional

from ..structs import (
    Allocation,
    AllocMetric,
    Constraint,
    Deployment,
    DeploymentStatusUpdate,
    Job,
    Node,
    Plan,
    PlanAnnotations,
    evolve,
)
from ..state.mvcc import Snapshot
from .interfaces import StateReader
from .usage import NodeUsage, node_usage
from .version import Constraints


# "<node ID>.<scorer>" keys, one string per node and scorer: every allocation's
# metrics keep about twenty of them, and a million allocations would otherwise
# each hold their own copies (about 1 KB per allocation).
_SCORE_KEYS: dict[str, dict[str, str]] = {}
_SCORE_KEYS_MAX = 200_000


def score_key(node_id: str, name: str) -> str:
    keys = _SCORE_KEYS.get(name)
    if keys is None:
        keys = _SCORE_KEYS[name] = {}
    key = keys.get(node_id)
    if key is None:
        if len(keys) >= _SCORE_KEYS_MAX:
            keys.clear()
        key = keys[node_id] = f"{node_id}.{name}"
    return key


class MetricsBuilder:
    """A mutable ``AllocMetric`` (``structs.AllocMetric`` methods)."""

    def __init__(self) -> None:
        self.NodesEvaluated = 0
        self.NodesFiltered = 0
        self.NodesAvailable: Optional[dict[str, int]] = None
        self.ClassFiltered: dict[str, int] = {}
        self.ConstraintFiltered: dict[str, int] = {}
        self.NodesExhausted = 0
        self.ClassExhausted: dict[str, int] = {}
        self.DimensionExhausted: dict[str, int] = {}
        self.Scores: dict[str, float] = {}
        self.AllocationTime = 0
        self.CoalescedFailures = 0

    def evaluate_node(self) -> None:
        self.NodesEvaluated += 1

    def filter_node(self, node: Optional[Node], constraint: str) -> None:
        self.NodesFiltered += 1
        if node is not None and node.NodeClass:
            self.ClassFiltered[node.NodeClass] = self.ClassFiltered.get(node.NodeClass, 0) + 1
        if constraint:
            self.ConstraintFiltered[constraint] = self.ConstraintFiltered.get(constraint, 0) + 1

    def exhausted_node(self, node: Optional[Node], dimension: str) -> None:
        self.NodesExhausted += 1
        if node is not None and node.NodeClass:
            self.ClassExhausted[node.NodeClass] = self.ClassExhausted.get(node.NodeClass, 0) + 1
        if dimension:
            self.DimensionExhausted[dimension] = self.DimensionExhausted.get(dimension, 0) + 1

    def score_node(self, node: Node, name: str, score: float) -> None:
        self.Scores[score_key(node.ID, name)] = score

    def freeze(self) -> AllocMetric:
        # Nomad prints empty maps as null (they are lazily created there).
        return AllocMetric(
            NodesEvaluated=self.NodesEvaluated,
            NodesFiltered=self.NodesFiltered,
            NodesAvailable=self.NodesAvailable,  # the pass's own copy, shared and never mutated
            ClassFiltered=dict(self.ClassFiltered) or None,
            ConstraintFiltered=dict(self.ConstraintFiltered) or None,
            NodesExhausted=self.NodesExhausted,
            ClassExhausted=dict(self.ClassExhausted) or None,
            DimensionExhausted=dict(self.DimensionExhausted) or None,
            QuotaExhausted=None,
            Scores=dict(self.Scores) or None,
            AllocationTime=self.AllocationTime,
            CoalescedFailures=self.CoalescedFailures,
        )


class PlanBuilder:
    """A mutable ``structs.Plan`` with Nomad's Append/Pop helpers."""

    def __init__(self, eval_id: str, priority: int, job: Optional[Job]) -> None:
        self.EvalID = eval_id
        self.Priority = priority
        self.Job = job
        self.AllAtOnce = bool(job.AllAtOnce) if job is not None else False
        self.NodeUpdate: dict[str, list[Allocation]] = {}
        self.NodeAllocation: dict[str, list[Allocation]] = {}
        self.Annotations: Optional[PlanAnnotations] = None
        self.Deployment: Optional[Deployment] = None
        self.DeploymentUpdates: list[DeploymentStatusUpdate] = []

    def append_update(self, alloc: Allocation, desired_status: str, desired_desc: str,
                      client_status: str = "", modify_time: int = 0) -> None:
        # A deregistered (purged) job: the plan carries the job the allocs ran.
        if self.Job is None and alloc.Job is not None:
            self.Job = alloc.Job
        changes: dict[str, Any] = {"DesiredStatus": desired_status, "DesiredDescription": desired_desc}
        if client_status:
            changes["ClientStatus"] = client_status
        if modify_time:
            changes["ModifyTime"] = modify_time
        self.NodeUpdate.setdefault(alloc.NodeID, []).append(evolve(alloc, **changes))

    def pop_update(self, alloc: Allocation) -> None:
        existing = self.NodeUpdate.get(alloc.NodeID)
        if existing and existing[-1].ID == alloc.ID:
            existing.pop()
            if not existing:
                del self.NodeUpdate[alloc.NodeID]

    def append_alloc(self, alloc: Allocation) -> None:
        self.NodeAllocation.setdefault(alloc.NodeID, []).append(alloc)

    def is_noop(self) -> bool:
        return (not self.NodeUpdate and not self.NodeAllocation
                and self.Deployment is None and not self.DeploymentUpdates)

    def freeze(self) -> Plan:
        return Plan(
            EvalID=self.EvalID,
            Priority=self.Priority,
            AllAtOnce=self.AllAtOnce,
            Job=self.Job,
            NodeUpdate={k: list(v) for k, v in self.NodeUpdate.items()},
            NodeAllocation={k: list(v) for k, v in self.NodeAllocation.items()},
            Annotations=self.Annotations,
            Deployment=self.Deployment,
            DeploymentUpdates=list(self.DeploymentUpdates) or None,
        )


# Computed-class feasibility verdicts (EvalComputedClass*).
CLASS_UNKNOWN = 0
CLASS_INELIGIBLE = 1
CLASS_ELIGIBLE = 2
CLASS_ESCAPED = 3

_ESCAPING_PREFIXES = ("${node.unique.", "${attr.unique.", "${meta.unique.")


def _escapes(target: str) -> bool:
    return target.startswith(_ESCAPING_PREFIXES)


def escaped_constraints(constraints: Optional[Iterable[Constraint]]) -> list[Constraint]:
    """Constraints that look at per-node unique values, which defeat class caching."""
    return [c for c in constraints or () if _escapes(c.LTarget) or _escapes(c.RTarget)]


class EvalEligibility:
    """Which computed node classes were found (in)eligible for the job and its groups."""

    def __init__(self) -> None:
        self.job: dict[str, int] = {}
        self.job_escaped = False
        self.task_groups: dict[str, dict[str, int]] = {}
        self.tg_escaped: dict[str, bool] = {}

    def set_job(self, job: Job) -> None:
        self.job_escaped = bool(escaped_constraints(job.Constraints))
        for tg in job.TaskGroups or ():
            constraints = list(tg.Constraints or ())
            for task in tg.Tasks or ():
                constraints.extend(task.Constraints or ())
            self.tg_escaped[tg.Name] = bool(escaped_constraints(constraints))  # type: ignore[index]  # groups are named

    def has_escaped(self) -> bool:
        return self.job_escaped or any(self.tg_escaped.values())

    def get_classes(self) -> dict[str, bool]:
        elig: dict[str, bool] = {}
        for tg in sorted(self.task_groups):
            for cls, feas in self.task_groups[tg].items():
                if feas == CLASS_ELIGIBLE:
                    elig[cls] = True
                elif feas == CLASS_INELIGIBLE:
                    elig.setdefault(cls, False)
        # A class the job-level checks accepted is recorded eligible even when a
        # group rejected it; this is what the v0.7.1 recordings show
        # (ClassEligibility {class: true} for a node lacking the group's driver).
        for cls, feas in self.job.items():
            if feas == CLASS_ELIGIBLE:
                elig[cls] = True
            elif feas == CLASS_INELIGIBLE:
                elig.setdefault(cls, False)
        return elig

    def job_status(self, cls: str) -> int:
        if self.job_escaped:
            return CLASS_ESCAPED
        return self.job.get(cls, CLASS_UNKNOWN)

    def set_job_eligibility(self, eligible: bool, cls: str) -> None:
        self.job[cls] = CLASS_ELIGIBLE if eligible else CLASS_INELIGIBLE

    def task_group_status(self, tg: str, cls: str) -> int:
        if self.tg_escaped.get(tg, False):
            return CLASS_ESCAPED
        return self.task_groups.get(tg, {}).get(cls, CLASS_UNKNOWN)

    def set_task_group_eligibility(self, eligible: bool, tg: str, cls: str) -> None:
        self.task_groups.setdefault(tg, {})[cls] = CLASS_ELIGIBLE if eligible else CLASS_INELIGIBLE


class EvalContext:
    """Shared by every iterator of one scheduling pass."""

    def __init__(self, state: StateReader, plan: PlanBuilder, rng: random.Random) -> None:
        self.state = state
        self.plan = plan
        self.rng = rng
        self.metrics = MetricsBuilder()
        self.eligibility = EvalEligibility()
        self.regexp_cache: dict[str, Optional[re.Pattern[str]]] = {}
        self.constraint_cache: dict[str, Optional[Constraints]] = {}
        # A snapshot never changes: each node's usage is looked up once per pass.
        # (Not for a transaction's view, which the plan dry run writes into.)
        self.stable_state = isinstance(getattr(state, "view", None), Snapshot)
        self._usage: Optional[dict[str, NodeUsage]] = {} if self.stable_state else None

    def reset(self) -> None:
        """A fresh metric for the next placement attempt."""
        self.metrics = MetricsBuilder()

    def usage(self, node_id: str) -> NodeUsage:
        """The node's live allocations in the state, and their totals (shared: never
        mutate them)."""
        cache = self._usage
        if cache is None:
            return node_usage(self.state, node_id)
        usage = cache.get(node_id)
        if usage is None:
            usage = cache[node_id] = node_usage(self.state, node_id)
        return usage

    def existing_allocs(self, node_id: str) -> list[Allocation]:
        """The node's non-terminal allocations in the state (callers must not mutate)."""
        return self.usage(node_id).live

    def plan_only_adds(self, node_id: str) -> bool:
        """True when the plan stops nothing on the node and replaces none of its
        allocations: the proposed allocations are then the existing ones followed by
        the plan's new ones, in that order."""
        if self.plan.NodeUpdate.get(node_id):
            return False
        placed = self.plan.NodeAllocation.get(node_id)
        if not placed:
            return True
        # A placed allocation replaces an existing one when that ID is live on this node.
        state = self.state
        for a in placed:
            existing = state.alloc_by_id(a.ID)
            if existing is not None and existing.NodeID == node_id and not existing.terminal():
                return False
        return True

    def proposed_allocs(self, node_id: str) -> list[Allocation]:
        """The node's non-terminal allocations as they would be after the plan."""
        existing = self.existing_allocs(node_id)
        if self.plan_only_adds(node_id):
            # Allocation IDs are unique and the plan's are new here: the same list the
            # general case below builds, in the same order.
            return existing + self.plan.NodeAllocation.get(node_id, [])
        stopping = {a.ID for a in self.plan.NodeUpdate.get(node_id, ())}
        proposed: dict[str, Allocation] = {a.ID: a for a in existing if a.ID not in stopping}
        for alloc in self.plan.NodeAllocation.get(node_id, ()):
            proposed[alloc.ID] = alloc  # in-place updates replace the stored alloc
        return list(proposed.values())
