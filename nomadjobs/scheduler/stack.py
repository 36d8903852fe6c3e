"""Placement stacks (``scheduler/stack.go``): the iterator chains that pick a node
for one task group."""

from __future__ import annotations

import math
import time
from typing import Callable, Optional

from ..structs import Constraint, Job, Node, Resources, TaskGroup
from .context import EvalContext
from .feasible import (
    ConstraintChecker,
    DistinctHostsIterator,
    DistinctPropertyIterator,
    DriverChecker,
    FeasibilityWrapper,
    FeasibleIterator,
    StaticIterator,
)
from .fused import FusedRanker
from .rank import (
    BATCH_JOB_ANTI_AFFINITY_PENALTY,
    SERVICE_JOB_ANTI_AFFINITY_PENALTY,
    BinPackIterator,
    FeasibleRankIterator,
    JobAntiAffinityIterator,
    LimitIterator,
    MaxScoreIterator,
    RankedNode,
)


def task_group_constraints(tg: TaskGroup) -> tuple[set[str], list[Constraint], Resources]:
    """Drivers, constraints (group + tasks) and total size of a task group."""
    drivers: set[str] = set()
    constraints = list(tg.Constraints or ())
    cpu = mem = disk = iops = 0
    disk = (tg.EphemeralDisk.SizeMB or 0) if tg.EphemeralDisk else 0
    for task in tg.Tasks or ():
        drivers.add(task.Driver)
        constraints.extend(task.Constraints or ())
        r = task.Resources or Resources()
        cpu += r.CPU or 0
        mem += r.MemoryMB or 0
        disk += r.DiskMB or 0
        iops += r.IOPS or 0
    return drivers, constraints, Resources(CPU=cpu, MemoryMB=mem, DiskMB=disk, IOPS=iops)


def _fill_missing_task_resources(option: RankedNode, tg: TaskGroup) -> None:
    if len(option.task_resources) != len(tg.Tasks or ()):
        for task in tg.Tasks or ():
            option.task_resources[task.Name] = task.Resources or Resources()


class GenericStack:
    """Service and batch placement: shuffled nodes, feasibility, bin-packing,
    job anti-affinity, a limit on options scored, and the best score wins."""

    def __init__(self, batch: bool, ctx: EvalContext) -> None:
        self.batch = batch
        self.ctx = ctx
        self.source = StaticIterator(ctx)
        self.job_constraint = ConstraintChecker(ctx)
        self.tg_drivers = DriverChecker(ctx)
        self.tg_constraint = ConstraintChecker(ctx)
        self.wrapped = FeasibilityWrapper(ctx, self.source, [self.job_constraint],
                                          [self.tg_drivers, self.tg_constraint])
        self.distinct_hosts = DistinctHostsIterator(ctx, self.wrapped)
        self.distinct_property = DistinctPropertyIterator(ctx, self.distinct_hosts)
        self.rank_source = FeasibleRankIterator(ctx, self.distinct_property)
        self.bin_pack = BinPackIterator(ctx, self.rank_source)
        penalty = BATCH_JOB_ANTI_AFFINITY_PENALTY if batch else SERVICE_JOB_ANTI_AFFINITY_PENALTY
        self.job_anti_aff = JobAntiAffinityIterator(ctx, self.bin_pack, penalty)
        self.limit = LimitIterator(ctx, self.job_anti_aff, 2)
        self.max_score = MaxScoreIterator(ctx, self.limit)
        self.fused = FusedRanker(ctx, self.source, self.wrapped, self.bin_pack, self.job_anti_aff, self.limit)

    def set_nodes(self, base: list[Node]) -> None:
        self.source.set_nodes(base, self.ctx.rng)  # shuffled as the walk goes
        # Batch jobs look at 2 options (power of two choices); services at
        # ceil(log2(n)), at least 2.
        limit = 2
        n = len(self.source.nodes)
        if not self.batch and n > 0:
            limit = max(limit, int(math.ceil(math.log2(n))))
        self.limit.set_limit(limit)

    def set_job(self, job: Job) -> None:
        self.job_constraint.set_constraints(job.Constraints or ())
        self.distinct_hosts.set_job(job)
        self.distinct_property.set_job(job)
        self.job_anti_aff.set_job(job.ID or "")
        self.ctx.eligibility.set_job(job)

    #: Rank the common case with the fused loop (tests turn it off to compare).
    use_fused = True

    def select(self, tg: TaskGroup) -> Optional[RankedNode]:
        self.max_score.reset()
        return _timed_select(self.ctx, tg, self._set_task_group, self._head)

    def _head(self) -> "MaxScoreIterator | FusedRanker":
        if self.use_fused and self.rank_source.source is self.wrapped and self.fused.applies():
            return self.fused
        return self.max_score

    def _set_task_group(self, tg: TaskGroup) -> None:
        drivers, constraints, _size = task_group_constraints(tg)
        self.tg_drivers.set_drivers(drivers)
        self.tg_constraint.set_constraints(constraints)
        self.distinct_hosts.set_task_group(tg)
        self.distinct_property.set_task_group(tg)
        self.wrapped.set_task_group(tg.Name or "")
        self.bin_pack.set_task_group(tg)
        # The distinct_* checks pass every node through when neither the job nor the
        # group uses them: leave them out of the chain for this group.
        source: FeasibleIterator = self.wrapped
        if self.distinct_hosts.job_distinct or self.distinct_hosts.tg_distinct:
            source = self.distinct_hosts
        if self.distinct_property.active:
            self.distinct_property.source = source
            source = self.distinct_property
        self.rank_source.source = source

    def select_preferring_nodes(self, tg: TaskGroup, nodes: list[Node]) -> Optional[RankedNode]:
        original = self.source.order()
        self.source.set_nodes(nodes)
        option = self.select(tg)
        self.source.set_nodes(*original)
        if option is not None:
            return option
        return self.select(tg)


class SystemStack:
    """System placement: the one given node, feasibility and bin-packing only."""

    def __init__(self, ctx: EvalContext) -> None:
        self.ctx = ctx
        self.source = StaticIterator(ctx)
        self.job_constraint = ConstraintChecker(ctx)
        self.tg_drivers = DriverChecker(ctx)
        self.tg_constraint = ConstraintChecker(ctx)
        self.wrapped = FeasibilityWrapper(ctx, self.source, [self.job_constraint],
                                          [self.tg_drivers, self.tg_constraint])
        self.distinct_property = DistinctPropertyIterator(ctx, self.wrapped)
        rank_source = FeasibleRankIterator(ctx, self.distinct_property)
        self.bin_pack = BinPackIterator(ctx, rank_source)

    def set_nodes(self, base: list[Node]) -> None:
        self.source.set_nodes(base)

    def set_job(self, job: Job) -> None:
        self.job_constraint.set_constraints(job.Constraints or ())
        self.distinct_property.set_job(job)
        self.ctx.eligibility.set_job(job)

    def select(self, tg: TaskGroup) -> Optional[RankedNode]:
        self.bin_pack.reset()
        return _timed_select(self.ctx, tg, self._set_task_group, lambda: self.bin_pack)

    def _set_task_group(self, tg: TaskGroup) -> None:
        drivers, constraints, _size = task_group_constraints(tg)
        self.tg_drivers.set_drivers(drivers)
        self.tg_constraint.set_constraints(constraints)
        self.bin_pack.set_task_group(tg)
        self.wrapped.set_task_group(tg.Name or "")
        self.distinct_property.set_task_group(tg)


def _timed_select(ctx: EvalContext, tg: TaskGroup, configure: Callable[[TaskGroup], None],
                  head: "Callable[[], MaxScoreIterator | BinPackIterator | FusedRanker]"
                  ) -> Optional[RankedNode]:
    """One placement attempt: fresh metrics, the chain set up for ``tg``, the best
    option pulled from the ``head()`` chosen for it, and the time it took recorded
    as Nomad does."""
    ctx.reset()
    start = time.perf_counter_ns()
    configure(tg)
    option = head().next()
    if option is not None:
        _fill_missing_task_resources(option, tg)
    ctx.metrics.AllocationTime = time.perf_counter_ns() - start
    return option
