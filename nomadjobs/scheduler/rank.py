"""Ranking feasible nodes (``scheduler/rank.go``, ``scheduler/select.go`` and
``AllocsFit``/``ScoreFit`` from ``nomad/structs/funcs.go``)."""

from __future__ import annotations

import math
from typing import Iterable, Optional

from ..structs import Allocation, NetworkResource, Node, Resources, TaskGroup
from .context import EvalContext
from .network import NetworkError, NetworkIndex

SERVICE_JOB_ANTI_AFFINITY_PENALTY = 10.0
BATCH_JOB_ANTI_AFFINITY_PENALTY = 5.0


# --- resource arithmetic (structs.Resources.Add / Superset) ---------------------------

class ResourceSum:
    """A mutable ``Resources`` accumulator."""

    def __init__(self) -> None:
        self.CPU = 0
        self.MemoryMB = 0
        self.DiskMB = 0
        self.IOPS = 0
        # Networks merge by device: MBits add up, ports are appended.
        self.networks: list[list] = []  # [device, cidr, ip, mbits, reserved, dynamic]

    def add(self, r: Optional[Resources]) -> "ResourceSum":
        if r is None:
            return self
        self.CPU += r.CPU or 0
        self.MemoryMB += r.MemoryMB or 0
        self.DiskMB += r.DiskMB or 0
        self.IOPS += r.IOPS or 0
        for n in r.Networks or ():
            for cur in self.networks:
                if cur[0] == n.Device:
                    cur[3] += n.MBits or 0
                    cur[4].extend(n.ReservedPorts or ())
                    cur[5].extend(n.DynamicPorts or ())
                    break
            else:
                self.networks.append([n.Device, n.CIDR, n.IP, n.MBits or 0,
                                      list(n.ReservedPorts or ()), list(n.DynamicPorts or ())])
        return self

    def copy(self) -> "ResourceSum":
        other = ResourceSum()
        other.CPU, other.MemoryMB, other.DiskMB, other.IOPS = self.CPU, self.MemoryMB, self.DiskMB, self.IOPS
        other.networks = [[d, c, ip, mb, list(rp), list(dp)] for d, c, ip, mb, rp, dp in self.networks]
        return other

    def freeze(self) -> Resources:
        nets = [NetworkResource(Device=d, CIDR=c, IP=ip, MBits=mb, ReservedPorts=rp or None,
                                DynamicPorts=dp or None)
                for d, c, ip, mb, rp, dp in self.networks]
        return Resources(CPU=self.CPU, MemoryMB=self.MemoryMB, DiskMB=self.DiskMB, IOPS=self.IOPS,
                         Networks=nets or None)


def superset(have: Optional[Resources], used: ResourceSum) -> tuple[bool, str]:
    have = have or Resources()
    if (have.CPU or 0) < used.CPU:
        return False, "cpu"
    if (have.MemoryMB or 0) < used.MemoryMB:
        return False, "memory"
    if (have.DiskMB or 0) < used.DiskMB:
        return False, "disk"
    if (have.IOPS or 0) < used.IOPS:
        return False, "iops"
    return True, ""


def alloc_usage(alloc: Allocation, acc: ResourceSum) -> None:
    if alloc.Resources is not None:
        acc.add(alloc.Resources)
        return
    # Allocations inside a plan may carry only the per-task and shared pieces.
    acc.add(alloc.SharedResources)
    for name in sorted(alloc.TaskResources or {}):
        acc.add(alloc.TaskResources[name])


def allocs_fit(node: Node, allocs: Iterable[Allocation],
               net_idx: Optional[NetworkIndex] = None,
               base: Optional[ResourceSum] = None) -> tuple[bool, str, ResourceSum]:
    """Would ``allocs`` together fit on ``node``? Returns (fit, dimension, used).

    ``base``, when given, is the node's reserved resources plus allocations already
    summed (in order) that ``allocs`` continue; it is not modified."""
    allocs = list(allocs)
    used = ResourceSum().add(node.Reserved) if base is None else base.copy()
    for alloc in allocs:
        alloc_usage(alloc, used)
    ok, dim = superset(node.Resources, used)
    if not ok:
        return False, dim, used
    if net_idx is None:
        net_idx = NetworkIndex()
        if net_idx.set_node(node) or net_idx.add_allocs(allocs):
            return False, "reserved port collision", used
    if net_idx.overcommitted():
        return False, "bandwidth exceeded", used
    return True, "", used


def score_fit(node: Node, util: ResourceSum) -> float:
    """Nomad's bin-packing score: 0 (empty) .. 18 (perfectly full)."""
    res = node.Resources or Resources()
    reserved = node.Reserved or Resources()
    node_cpu = float((res.CPU or 0) - (reserved.CPU or 0))
    node_mem = float((res.MemoryMB or 0) - (reserved.MemoryMB or 0))
    total = _pow10_free(util.CPU, node_cpu) + _pow10_free(util.MemoryMB, node_mem)
    score = 20.0 - total
    return min(18.0, max(0.0, score))


def _pow10_free(used: int, avail: float) -> float:
    if avail == 0:  # Go: 1 - used/0 is -Inf (or NaN when used is 0)
        return 0.0 if used > 0 else float("nan")
    return math.pow(10, 1 - used / avail)


# --- ranked options and iterators ---------------------------------------------------------

class RankedNode:
    def __init__(self, node: Node) -> None:
        self.node = node
        self.score = 0.0
        self.task_resources: dict[str, Resources] = {}
        self.alloc_resources: Optional[Resources] = None
        self._proposed: Optional[list[Allocation]] = None

    def proposed_allocs(self, ctx: EvalContext) -> list[Allocation]:
        if self._proposed is None:
            self._proposed = ctx.proposed_allocs(self.node.ID)
        return self._proposed


class FeasibleRankIterator:
    """Upgrades a feasible node stream into ranked options."""

    def __init__(self, ctx: EvalContext, source) -> None:
        self.ctx = ctx
        self.source = source

    def next(self) -> Optional[RankedNode]:
        node = self.source.next()
        return RankedNode(node) if node is not None else None

    def reset(self) -> None:
        self.source.reset()


class BinPackIterator:
    def __init__(self, ctx: EvalContext, source) -> None:
        self.ctx = ctx
        self.source = source
        self.task_group: Optional[TaskGroup] = None

    def set_task_group(self, tg: TaskGroup) -> None:
        self.task_group = tg

    def next(self) -> Optional[RankedNode]:
        tg = self.task_group
        assert tg is not None
        while True:
            option = self.source.next()
            if option is None:
                return None
            base = self._node_base(option.node)
            if base is not None:
                # Existing allocations were summed and indexed once for this pass;
                # only the plan's new allocations on the node are added here.
                placed = self.ctx.plan.NodeAllocation.get(option.node.ID) or ()
                base_used, base_net = base
                net_idx = base_net.copy()
                net_idx.add_allocs(placed)
                fit_base, fit_allocs = base_used, list(placed)
            else:
                proposed = option.proposed_allocs(self.ctx)
                net_idx = NetworkIndex()
                net_idx.set_node(option.node)
                net_idx.add_allocs(proposed)
                fit_base, fit_allocs = None, list(proposed)

            total = ResourceSum()
            total.DiskMB = (tg.EphemeralDisk.SizeMB or 0) if tg.EphemeralDisk else 0
            task_resources: dict[str, Resources] = {}
            exhausted = False
            for task in tg.Tasks or ():
                tr = task.Resources or Resources()
                if tr.Networks:
                    try:
                        offer = net_idx.assign_network(tr.Networks[0], self.ctx.rng)
                    except NetworkError as err:
                        self.ctx.metrics.exhausted_node(option.node, f"network: {err}")
                        exhausted = True
                        break
                    net_idx.add_reserved(offer)  # later tasks must not reuse these ports
                    tr = Resources(CPU=tr.CPU, MemoryMB=tr.MemoryMB, DiskMB=tr.DiskMB, IOPS=tr.IOPS,
                                   Networks=[offer])
                task_resources[task.Name] = tr
                total.add(tr)
            if exhausted:
                continue

            candidate = Allocation(Resources=total.freeze())
            fit, dim, util = allocs_fit(option.node, fit_allocs + [candidate], net_idx, fit_base)
            if not fit:
                self.ctx.metrics.exhausted_node(option.node, dim)
                continue
            option.task_resources = task_resources
            option.alloc_resources = candidate.Resources
            fitness = score_fit(option.node, util)
            option.score += fitness
            self.ctx.metrics.score_node(option.node, "binpack", fitness)
            return option

    def _node_base(self, node: Node) -> Optional[tuple[ResourceSum, NetworkIndex]]:
        """(reserved + existing allocations summed, network index of node + existing
        allocations) for this pass, or None when the plan stops or replaces any of the
        node's allocations (then everything is recomputed from the proposed list)."""
        cache = self.ctx.node_cache
        if cache is None or not self.ctx.plan_only_adds(node.ID):
            return None
        key = ("binpack", node.ID)
        hit = cache.get(key)
        if hit is None:
            existing = self.ctx.existing_allocs(node.ID)
            used = ResourceSum().add(node.Reserved)
            for alloc in existing:
                alloc_usage(alloc, used)
            net_idx = NetworkIndex()
            net_idx.set_node(node)
            net_idx.add_allocs(existing)
            hit = cache[key] = (used, net_idx)
        return hit  # type: ignore[return-value]

    def reset(self) -> None:
        self.source.reset()


class JobAntiAffinityIterator:
    """Penalise nodes already running allocations of the same job."""

    def __init__(self, ctx: EvalContext, source, penalty: float) -> None:
        self.ctx = ctx
        self.source = source
        self.penalty = penalty
        self.job_id = ""

    def set_job(self, job_id: str) -> None:
        self.job_id = job_id

    def next(self) -> Optional[RankedNode]:
        option = self.source.next()
        if option is None:
            return None
        ctx = self.ctx
        node_id = option.node.ID
        if ctx.node_cache is not None and ctx.plan_only_adds(node_id):
            # Existing allocations of the job on the node are counted once per pass.
            key = ("job-allocs", node_id, self.job_id)
            base = ctx.node_cache.get(key)
            if base is None:
                base = ctx.node_cache[key] = sum(1 for a in ctx.existing_allocs(node_id)
                                                 if a.JobID == self.job_id)
            placed = ctx.plan.NodeAllocation.get(node_id) or ()
            collisions = base + sum(1 for a in placed if a.JobID == self.job_id)  # type: ignore[operator]
        else:
            collisions = sum(1 for a in option.proposed_allocs(ctx) if a.JobID == self.job_id)
        if collisions:
            penalty = -1.0 * collisions * self.penalty
            option.score += penalty
            self.ctx.metrics.score_node(option.node, "job-anti-affinity", penalty)
        return option

    def reset(self) -> None:
        self.source.reset()


class LimitIterator:
    """Stop after ``limit`` ranked options (power of two choices and friends)."""

    def __init__(self, ctx: EvalContext, source, limit: int) -> None:
        self.ctx = ctx
        self.source = source
        self.limit = limit
        self.seen = 0

    def set_limit(self, limit: int) -> None:
        self.limit = limit

    def next(self) -> Optional[RankedNode]:
        if self.seen == self.limit:
            return None
        option = self.source.next()
        if option is None:
            return None
        self.seen += 1
        return option

    def reset(self) -> None:
        self.source.reset()
        self.seen = 0


class MaxScoreIterator:
    def __init__(self, ctx: EvalContext, source) -> None:
        self.ctx = ctx
        self.source = source
        self.max: Optional[RankedNode] = None

    def next(self) -> Optional[RankedNode]:
        if self.max is not None:
            return None
        while True:
            option = self.source.next()
            if option is None:
                return self.max
            if self.max is None or option.score > self.max.score:
                self.max = option

    def reset(self) -> None:
        self.source.reset()
        self.max = None
