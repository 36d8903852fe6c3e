"""Ranking feasible nodes (``scheduler/rank.go``, ``scheduler/select.go`` and
``AllocsFit``/``ScoreFit`` from ``nomad/structs/funcs.go``)."""

from __future__ import annotations

from typing import Any, Optional, Protocol

from ..golang.math import pow10
from ..structs import Allocation, NetworkResource, Node, Resources, TaskGroup
from .context import EvalContext, score_key
from .feasible import FeasibleIterator
from .network import NetworkError, NetworkIndex
from .usage import NodeUsage, node_network, resources_of, sum_allocs

_NO_RESOURCES = Resources()
_BASE = "scheduler.rank-base"  # Database.memo key prefix: a node's ranking base

# v0.7.1 scheduler/stack.go: serviceJobAntiAffinityPenalty, batchJobAntiAffinityPenalty.
SERVICE_JOB_ANTI_AFFINITY_PENALTY = 20.0
BATCH_JOB_ANTI_AFFINITY_PENALTY = 10.0

#: What ranking needs of a node before this plan's placements on it (see
#: ``BinPackIterator._base``).
NodeBase = tuple[Node, NodeUsage, NetworkIndex, bool, tuple[int, int, int, int], tuple[float, float], str, str]


# --- resource arithmetic (structs.Resources.Add / Superset) ---------------------------

class ResourceSum:
    """A mutable ``Resources`` accumulator."""

    def __init__(self) -> None:
        self.CPU = 0
        self.MemoryMB = 0
        self.DiskMB = 0
        self.IOPS = 0
        # Networks merge by device: MBits add up, ports are appended.
        self.networks: list[list[Any]] = []  # [device, cidr, ip, mbits, reserved, dynamic]

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

    def freeze(self) -> Resources:
        nets = [NetworkResource(Device=d, CIDR=c, IP=ip, MBits=mb, ReservedPorts=rp or None,
                                DynamicPorts=dp or None)
                for d, c, ip, mb, rp, dp in self.networks]
        return Resources(CPU=self.CPU, MemoryMB=self.MemoryMB, DiskMB=self.DiskMB, IOPS=self.IOPS,
                         Networks=nets or None)


def _schedulable(node: Node) -> tuple[float, float]:
    """CPU and memory a node offers beyond its reservation (ScoreFit's denominators)."""
    res = node.Resources or _NO_RESOURCES
    reserved = node.Reserved or _NO_RESOURCES
    return (float((res.CPU or 0) - (reserved.CPU or 0)),
            float((res.MemoryMB or 0) - (reserved.MemoryMB or 0)))


def _score(cpu: int, memory: int, node_cpu: float, node_mem: float) -> float:
    """Nomad's ScoreFit for a node using ``cpu`` and ``memory`` (reserved included) of
    ``node_cpu``/``node_mem`` schedulable: 0 (empty) .. 18 (perfectly full)."""
    total = _pow10_free(cpu, node_cpu) + _pow10_free(memory, node_mem)
    score = 20.0 - total
    if score > 18.0:
        return 18.0
    if score < 0.0:
        return 0.0
    return score  # NaN (nothing schedulable, nothing used) stays NaN, as in Go


def _exhausted(node: Node, cpu: int, mem: int, disk: int, iops: int, overcommitted: Optional[bool],
               net_idx: Optional[NetworkIndex]) -> str:
    """AllocsFit's verdict for a node whose allocations would use this much: the first
    dimension that does not fit, or "" when everything does. Bandwidth is read from
    ``net_idx`` when there is one (and only once the other dimensions fit)."""
    have = node.Resources or _NO_RESOURCES
    if (have.CPU or 0) < cpu:
        return "cpu"
    if (have.MemoryMB or 0) < mem:
        return "memory"
    if (have.DiskMB or 0) < disk:
        return "disk"
    if (have.IOPS or 0) < iops:
        return "iops"
    if overcommitted if net_idx is None else net_idx.overcommitted():
        return "bandwidth exceeded"
    return ""


def _pow10_free(used: int, avail: float) -> float:
    if avail == 0:  # Go: 1 - used/0 is -Inf (or NaN when used is 0)
        return 0.0 if used > 0 else float("nan")
    return pow10(1 - used / avail)  # Go's Pow: libm's differs in the last bits


# --- ranked options and iterators ---------------------------------------------------------

class RankIterator(Protocol):
    """A stream of ranked options (``RankIterator`` in Go)."""

    def next(self) -> Optional[RankedNode]: ...

    def reset(self) -> None: ...


class RankedNode:
    __slots__ = ("node", "score", "task_resources", "alloc_total", "_alloc_resources", "_proposed", "usage")

    def __init__(self, node: Node) -> None:
        self.node = node
        self.score = 0.0
        self.task_resources: dict[str, Resources] = {}
        # What the bin-packer would place here, frozen on first read: most options
        # are ranked and dropped, and only the chosen one becomes an allocation.
        self.alloc_total: Optional[ResourceSum] = None
        self._alloc_resources: Optional[Resources] = None
        self._proposed: Optional[list[Allocation]] = None
        # The node's usage when the plan only adds to it (set by the bin-packer).
        self.usage: Optional[NodeUsage] = None

    @property
    def alloc_resources(self) -> Optional[Resources]:
        if self._alloc_resources is None and self.alloc_total is not None:
            self._alloc_resources = self.alloc_total.freeze()
        return self._alloc_resources

    def proposed_allocs(self, ctx: EvalContext) -> list[Allocation]:
        if self._proposed is None:
            self._proposed = ctx.proposed_allocs(self.node.ID)
        return self._proposed


class FeasibleRankIterator:
    """Upgrades a feasible node stream into ranked options."""

    def __init__(self, ctx: EvalContext, source: FeasibleIterator) -> None:
        self.ctx = ctx
        self.source = source

    def next(self) -> Optional[RankedNode]:
        node = self.source.next()
        return RankedNode(node) if node is not None else None

    def reset(self) -> None:
        self.source.reset()


class BinPackIterator:
    def __init__(self, ctx: EvalContext, source: RankIterator) -> None:
        self.ctx = ctx
        self.source = source
        self.task_group: Optional[TaskGroup] = None
        # For a group without network asks every node gets the same offer: worked
        # out once per group rather than once per node.
        self._static: Optional[tuple[ResourceSum, dict[str, Resources]]] = None
        self._bases: Optional[dict[str, NodeBase]] = {} if ctx.stable_state else None

    def set_task_group(self, tg: TaskGroup) -> None:
        self.task_group = tg
        self._static = None
        if not any(task.Resources is not None and task.Resources.Networks for task in tg.Tasks or ()):
            total = self._group_total(tg)
            resources = {task.Name: task.Resources or Resources() for task in tg.Tasks or ()}
            for r in resources.values():
                total.add(r)
            self._static = (total, resources)

    @staticmethod
    def _group_total(tg: TaskGroup) -> ResourceSum:
        total = ResourceSum()
        total.DiskMB = (tg.EphemeralDisk.SizeMB or 0) if tg.EphemeralDisk else 0
        return total

    def _base(self, node: Node) -> NodeBase:
        """What ranking needs of a node before this plan's placements on it: (node,
        usage, network index, overcommitted?, CPU/memory/disk/IOPS used incl.
        reserved, schedulable CPU and memory, the node's two score keys). Kept for
        the pass when the state is a snapshot, which never changes."""
        cache = self._bases
        if cache is not None:
            hit = cache.get(node.ID)
            if hit is not None and hit[0] is node:
                return hit
        # Across passes: the same node object with the same allocation rows (the
        # token) has the same base.
        state = self.ctx.state
        token = state.node_allocs_token(node.ID)
        memo = state.memo
        key = (_BASE, node.ID)
        kept = memo.get(key)
        if kept is not None and kept[0] is token and kept[1][0] is node:
            hit = kept[1]
        else:
            usage = self.ctx.usage(node.ID)
            net = node_network(state, node, usage)
            cpu, mem, disk, iops = sum_allocs((), node.Reserved)
            hit = (node, usage, net, net.overcommitted(),
                   (cpu + usage.cpu, mem + usage.memory, disk + usage.disk, iops + usage.iops),
                   _schedulable(node), score_key(node.ID, "binpack"), score_key(node.ID, "job-anti-affinity"))
            memo[key] = (token, hit)
        if cache is not None:
            cache[node.ID] = hit
        return hit

    def next(self) -> Optional[RankedNode]:
        while True:
            option = self.source.next()
            if option is None or self.fit(option):
                return option

    def fit(self, option: RankedNode) -> bool:
        """Bin-pack the group onto the option's node: on success the option carries
        the offer and its fit score; a node that cannot take it is counted exhausted."""
        tg = self.task_group
        assert tg is not None
        ctx = self.ctx
        static = self._static
        node = option.node
        net_idx: Optional[NetworkIndex] = None
        overcommitted: Optional[bool]
        if ctx.plan_only_adds(node.ID):
            # The node's existing allocations were summed and indexed once for
            # this version of them; only the plan's new ones are added here.
            _, usage, base_net, overcommitted, used, schedulable, _, _ = self._base(node)
            option.usage = usage
            placed = ctx.plan.NodeAllocation.get(node.ID)
            if placed:
                cpu, mem, disk, iops = sum_allocs(placed)
                cpu += used[0]
                mem += used[1]
                disk += used[2]
                iops += used[3]
            else:
                cpu, mem, disk, iops = used
            if static is None or (placed and any(_has_networks(a) for a in placed)):
                net_idx = base_net.overlay()
                if placed:
                    net_idx.add_allocs(placed)
        else:
            schedulable = _schedulable(node)
            proposed = option.proposed_allocs(ctx)
            net_idx = NetworkIndex()
            net_idx.set_node(node)
            net_idx.add_allocs(proposed)
            overcommitted = None
            cpu, mem, disk, iops = sum_allocs(proposed, node.Reserved)

        if static is not None:
            total, task_resources = static  # shared: consumers copy the dict
        else:
            assert net_idx is not None
            offered = self._offer(tg, node, net_idx)
            if offered is None:
                return False
            total, task_resources = offered

        # AllocsFit: the node's allocations plus the candidate, dimension by dimension.
        cpu += total.CPU
        mem += total.MemoryMB
        disk += total.DiskMB
        iops += total.IOPS
        dim = _exhausted(node, cpu, mem, disk, iops, overcommitted, net_idx)
        if dim:
            ctx.metrics.exhausted_node(node, dim)
            return False
        option.task_resources = task_resources
        option.alloc_total = total
        fitness = _score(cpu, mem, schedulable[0], schedulable[1])
        option.score += fitness
        ctx.metrics.score_node(node, "binpack", fitness)
        return True

    def _offer(self, tg: TaskGroup, node: Node, net_idx: NetworkIndex
               ) -> Optional[tuple[ResourceSum, dict[str, Resources]]]:
        """Each task's resources with its network offer on this node, or None (and the
        node counted exhausted) when a network ask cannot be met."""
        total = self._group_total(tg)
        task_resources: dict[str, Resources] = {}
        for task in tg.Tasks or ():
            tr = task.Resources or Resources()
            if tr.Networks:
                try:
                    offer = net_idx.assign_network(tr.Networks[0], self.ctx.rng)
                except NetworkError as err:
                    self.ctx.metrics.exhausted_node(node, f"network: {err}")
                    return None
                net_idx.add_reserved(offer)  # later tasks must not reuse these ports
                tr = Resources(CPU=tr.CPU, MemoryMB=tr.MemoryMB, DiskMB=tr.DiskMB, IOPS=tr.IOPS,
                               Networks=[offer])
            task_resources[task.Name] = tr
            total.add(tr)
        return total, task_resources

    def reset(self) -> None:
        self.source.reset()


def _has_networks(alloc: Allocation) -> bool:
    return any(r.Networks for r in resources_of(alloc))


class JobAntiAffinityIterator:
    """Penalise nodes already running allocations of the same job."""

    def __init__(self, ctx: EvalContext, source: RankIterator, penalty: float) -> None:
        self.ctx = ctx
        self.source = source
        self.penalty = penalty
        self.job_id = ""

    def set_job(self, job_id: str) -> None:
        self.job_id = job_id

    def next(self) -> Optional[RankedNode]:
        option = self.source.next()
        if option is not None:
            self.penalise(option)
        return option

    def penalise(self, option: RankedNode) -> None:
        ctx = self.ctx
        node_id = option.node.ID
        usage = option.usage
        if usage is not None:  # the plan only adds to the node
            placed = ctx.plan.NodeAllocation.get(node_id) or ()
            collisions = usage.job_counts.get(self.job_id, 0) + sum(1 for a in placed if a.JobID == self.job_id)
        else:
            collisions = sum(1 for a in option.proposed_allocs(ctx) if a.JobID == self.job_id)
        if collisions:
            penalty = -1.0 * collisions * self.penalty
            option.score += penalty
            ctx.metrics.score_node(option.node, "job-anti-affinity", penalty)

    def reset(self) -> None:
        self.source.reset()


class LimitIterator:
    """Stop after ``limit`` ranked options (power of two choices and friends)."""

    def __init__(self, ctx: EvalContext, source: RankIterator, limit: int) -> None:
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
    def __init__(self, ctx: EvalContext, source: RankIterator) -> None:
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
