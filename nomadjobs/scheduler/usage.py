"""What a node's live allocations use, worked out once per version of them.

Ranking visits every node many times: once per placement it considers, in every
evaluation. All it needs from the allocations already on a node (the live ones, their
summed resources, ports and bandwidth, how many belong to each job) depends only on
those allocations, and the state store hands out a token that stays the same object
exactly as long as they do (``StateReader.node_allocs_token``, the versioned group of
the node's allocation rows). So the figures are computed on first use and kept in the
store's memo next to that token: later passes, later evaluations and dry-run
transactions that did not touch the node reuse them, and after a plan lands on the
node they are moved forward by the rows that changed, in O(changes).

Everything here is shared between threads and must never be mutated once built.
"""

from __future__ import annotations

from typing import Iterable, Optional

import immutables

from ..state.mvcc import VersionedGroup
from ..structs import Allocation, Node, Resources
from .interfaces import StateReader
from .network import NetworkIndex

_USAGE = "scheduler.node-usage"
_NETWORK = "scheduler.node-network"


class NodeUsage:
    """The live (non-terminal) allocations of a node and what they add up to."""

    __slots__ = ("token", "_live", "cpu", "memory", "disk", "iops", "job_counts", "only_added")

    def __init__(self, token: Optional[VersionedGroup]) -> None:
        self.token = token
        self._live: Optional[list[Allocation]] = None
        live = [a for a in token.values() if not a.terminal()] if token is not None else []
        self.cpu, self.memory, self.disk, self.iops = sum_allocs(live)
        counts: dict[str, int] = {}
        for a in live:
            counts[a.JobID] = counts.get(a.JobID, 0) + 1
        # Persistent: moving forward changes a few jobs' counts of maybe hundreds, and
        # a copy of the whole mapping per change (and the collector walking each copy)
        # came to a fifth of a late C1M evaluation.
        self.job_counts: immutables.Map[str, int] = immutables.Map(counts)
        # (the earlier usage's token, the allocations added) when this usage continues
        # that one by new live allocations only. The token, not the usage: usages must
        # not chain, or every version of the node would stay in memory.
        self.only_added: Optional[tuple[VersionedGroup, list[Allocation]]] = None

    @property
    def live(self) -> list[Allocation]:
        """The live allocations in allocation-ID order (built on first use)."""
        if self._live is None:
            token = self.token
            rows = [token[pk] for pk in sorted(token)] if token is not None else []
            self._live = [a for a in rows if not a.terminal()]
        return self._live

    def advanced(self, token: Optional[VersionedGroup]) -> Optional["NodeUsage"]:
        """This usage moved forward to ``token`` by the rows changed in between, or
        None when those changes are not known (then the caller recomputes)."""
        if self.token is None or token is None:
            return None
        changes = token.changes_since(self.token)
        if changes is None:
            return None
        # In order: one transaction may change the same allocation more than once.
        cpu, mem, disk, iops = self.cpu, self.memory, self.disk, self.iops
        counts = self.job_counts.mutate()
        new_live: list[Allocation] = []
        gone = False
        for _, before, after in changes:
            if before is not None and not before.terminal():
                gone = True
                for r in resources_of(before):
                    cpu -= r.CPU or 0
                    mem -= r.MemoryMB or 0
                    disk -= r.DiskMB or 0
                    iops -= r.IOPS or 0
                n = counts[before.JobID] - 1
                if n:
                    counts[before.JobID] = n
                else:
                    del counts[before.JobID]
            if after is not None and not after.terminal():
                new_live.append(after)
                for r in resources_of(after):
                    cpu += r.CPU or 0
                    mem += r.MemoryMB or 0
                    disk += r.DiskMB or 0
                    iops += r.IOPS or 0
                counts[after.JobID] = counts.get(after.JobID, 0) + 1
        nxt = NodeUsage.__new__(NodeUsage)
        nxt.token = token
        nxt._live = None
        if self._live is not None:
            # Moved forward from the live list, not rebuilt from every allocation the
            # node ever had (terminal ones stay until the collector removes them).
            live = {a.ID: a for a in self._live}
            for _, before, after in changes:
                if before is not None:
                    live.pop(before.ID, None)
                if after is not None and not after.terminal():
                    live[after.ID] = after
            nxt._live = [live[k] for k in sorted(live)]
        nxt.cpu, nxt.memory, nxt.disk, nxt.iops = cpu, mem, disk, iops
        nxt.job_counts = counts.finish()
        nxt.only_added = None if gone else (self.token, new_live)
        return nxt


def node_usage(state: StateReader, node_id: str) -> NodeUsage:
    token = state.node_allocs_token(node_id)
    memo = state.memo
    key = (_USAGE, node_id)
    hit: Optional[NodeUsage] = memo.get(key)
    if hit is not None:
        if hit.token is token:
            return hit
        usage = hit.advanced(token)
        if usage is not None:
            memo[key] = usage
            return usage
    usage = NodeUsage(token)
    memo[key] = usage
    return usage


def node_network(state: StateReader, node: Node, usage: NodeUsage) -> NetworkIndex:
    """The network index of the node and its live allocations. Read-only: callers
    take ``overlay()`` of it before adding anything."""
    memo = state.memo
    key = (_NETWORK, node.ID)
    hit: Optional[tuple[Node, NodeUsage, NetworkIndex]] = memo.get(key)
    if hit is not None and hit[0] is node:
        if hit[1] is usage:
            return hit[2]
        step = usage.only_added
        if step is not None and step[0] is hit[1].token:
            # Only allocations were added since: extend a copy instead of rebuilding.
            idx = hit[2].copy()
            idx.add_allocs(step[1])
            memo[key] = (node, usage, idx)
            return idx
    idx = NetworkIndex()
    idx.set_node(node)
    idx.add_allocs(usage.live)
    memo[key] = (node, usage, idx)
    return idx


def resources_of(alloc: Allocation) -> Iterable[Resources]:
    """The pieces an allocation's usage is made of: its total when it has one, else
    (inside a plan) the shared resources and each task's, in task-name order."""
    if alloc.Resources is not None:
        return (alloc.Resources,)
    parts: list[Resources] = [alloc.SharedResources] if alloc.SharedResources is not None else []
    tasks = alloc.TaskResources or {}
    parts.extend(tasks[name] for name in sorted(tasks))
    return parts


def sum_allocs(allocs: Iterable[Allocation], reserved: Optional[Resources] = None) -> tuple[int, int, int, int]:
    """(CPU, MemoryMB, DiskMB, IOPS) of ``allocs`` plus ``reserved``."""
    cpu = mem = disk = iops = 0
    if reserved is not None:
        cpu, mem, disk, iops = reserved.CPU or 0, reserved.MemoryMB or 0, reserved.DiskMB or 0, reserved.IOPS or 0
    for alloc in allocs:
        for r in resources_of(alloc):
            cpu += r.CPU or 0
            mem += r.MemoryMB or 0
            disk += r.DiskMB or 0
            iops += r.IOPS or 0
    return cpu, mem, disk, iops
