"""The generic stack's ranking chain run as one loop.

A placement pulls every candidate through six iterators (static source, class-cached
feasibility, rank upgrade, bin-packing, job anti-affinity, limit) under a max-score
head: about twenty Python calls per candidate, and at 5,000 nodes a placement looks at
thirteen candidates. For the common case (no ``distinct_*`` constraint in play, a
group without network asks, a snapshot as the state) :class:`FusedRanker` walks the
same shuffled list with the same state, in the same order, and does what each
iterator does inline; any node that needs more than the common case (a class whose
verdict is not cached as eligible, a node the plan stops or replaces allocations on)
goes through the iterators' own methods. The chain stays the reference:
``tests/test_scheduler_fused.py`` holds both to the same placements and metrics.
"""

from __future__ import annotations

from typing import Optional

from ..golang.math import pow10
from .context import CLASS_ELIGIBLE, EvalContext
from .feasible import FeasibilityWrapper, StaticIterator
from .rank import (
    BinPackIterator,
    JobAntiAffinityIterator,
    LimitIterator,
    RankedNode,
    _exhausted,
    _has_networks,
    _score,
)
from .usage import sum_allocs



class FusedRanker:
    """``MaxScore(Limit(JobAntiAffinity(BinPack(FeasibleRank(Feasibility(Static))))))``
    as one loop. Shares the iterators' state (the source's offset, the limit's count,
    the class verdicts, the bin-packer's per-pass node bases), so a pass may switch
    between the two from one group to the next."""

    def __init__(self, ctx: EvalContext, source: StaticIterator, wrapped: FeasibilityWrapper,
                 bin_pack: BinPackIterator, anti_aff: JobAntiAffinityIterator, limit: LimitIterator) -> None:
        self.ctx = ctx
        self.source = source
        self.wrapped = wrapped
        self.bin_pack = bin_pack
        self.anti_aff = anti_aff
        self.limit = limit

    def applies(self) -> bool:
        """Whether the group just configured is the common case this loop covers."""
        bp = self.bin_pack
        return bp._static is not None and bp._bases is not None

    def next(self) -> Optional[RankedNode]:
        ctx = self.ctx
        metrics = ctx.metrics
        scores = metrics.Scores
        src = self.source
        nodes = src.nodes
        n = len(nodes)
        offset = src.offset
        seen = src.seen  # each node pulled counts as evaluated (added up at the end)
        wrapped = self.wrapped
        elig = ctx.eligibility
        job_classes = elig.job
        tg_name = wrapped.tg
        cacheable = not elig.job_escaped and not elig.tg_escaped.get(tg_name, False)
        tg_classes = elig.task_groups.get(tg_name) or {}
        passing: set[str] = set()  # classes seen eligible for the job and the group in this call
        bp = self.bin_pack
        bases = bp._bases
        static = bp._static
        assert bases is not None and static is not None  # applies() was checked
        total, task_resources = static
        total_cpu, total_mem, total_disk, total_iops = total.CPU, total.MemoryMB, total.DiskMB, total.IOPS
        plan = ctx.plan
        node_update = plan.NodeUpdate
        node_alloc = plan.NodeAllocation
        limit = self.limit.limit
        taken = self.limit.seen
        anti_aff = self.anti_aff
        job_id = anti_aff.job_id
        penalty = anti_aff.penalty
        best: Optional[RankedNode] = None
        best_score = 0.0
        while taken != limit:
            # StaticIterator: walk on from where the last placement stopped, once round.
            if offset == n or seen == n:
                if seen == n:
                    break
                offset = 0
            if offset >= src.final:
                src.draw(offset)
            node = nodes[offset]
            offset += 1
            seen += 1

            # FeasibilityWrapper: a class cached eligible for the job and the group
            # passes as is; anything else runs the wrapper's checks.
            cls = node.ComputedClass
            if cls not in passing:
                if cls and cacheable and job_classes.get(cls) == CLASS_ELIGIBLE \
                        and tg_classes.get(cls) == CLASS_ELIGIBLE:
                    passing.add(cls)  # verdicts only ever go from unknown to known
                else:
                    passed = wrapped.check(node)
                    tg_classes = elig.task_groups.get(tg_name) or {}  # the check may have filled it
                    if not passed:
                        continue

            # BinPackIterator with the group's static offer.
            node_id = node.ID
            placed = node_alloc.get(node_id)
            if (node_update and node_update.get(node_id)) or (placed and not ctx.plan_only_adds(node_id)):
                option = RankedNode(node)  # the plan stops or replaces allocations here
                if not bp.fit(option):
                    continue
                anti_aff.penalise(option)
                taken += 1
                if best is None or option.score > best_score:
                    best, best_score = option, option.score
                continue

            base = bases.get(node_id)
            if base is None or base[0] is not node:
                base = bp._base(node)
            _, usage, base_net, overcommitted, used, schedulable, binpack_key, anti_aff_key = base
            net_idx = None
            if placed:
                cpu, mem, disk, iops = sum_allocs(placed)
                cpu += used[0] + total_cpu
                mem += used[1] + total_mem
                disk += used[2] + total_disk
                iops += used[3] + total_iops
                if any(_has_networks(a) for a in placed):
                    net_idx = base_net.overlay()
                    net_idx.add_allocs(placed)
            else:
                cpu = used[0] + total_cpu
                mem = used[1] + total_mem
                disk = used[2] + total_disk
                iops = used[3] + total_iops
            # AllocsFit (rank._exhausted); the common answer, everything fits, inline.
            have = node.Resources
            if (have is None or have.CPU is None or have.CPU < cpu or have.MemoryMB is None
                    or have.MemoryMB < mem or have.DiskMB is None or have.DiskMB < disk
                    or have.IOPS is None or have.IOPS < iops
                    or (overcommitted if net_idx is None else net_idx.overcommitted())):
                dim = _exhausted(node, cpu, mem, disk, iops, overcommitted, net_idx)
                if dim:
                    metrics.exhausted_node(node, dim)
                    continue
            # ScoreFit (rank._score, inlined for schedulable CPU and memory above 0).
            node_cpu, node_mem = schedulable
            if node_cpu > 0.0 and node_mem > 0.0:
                score = 20.0 - (pow10(1.0 - cpu / node_cpu) + pow10(1.0 - mem / node_mem))
                if score > 18.0:
                    score = 18.0
                elif score < 0.0:
                    score = 0.0
            else:
                score = _score(cpu, mem, node_cpu, node_mem)
            scores[binpack_key] = score

            # JobAntiAffinityIterator.
            collisions = usage.job_counts.get(job_id, 0)
            if placed:
                collisions += sum(1 for a in placed if a.JobID == job_id)
            if collisions:
                pen = -1.0 * collisions * penalty
                score += pen
                scores[anti_aff_key] = pen

            # LimitIterator and MaxScoreIterator: only a new best becomes an option.
            taken += 1
            if best is None or score > best_score:
                best = RankedNode(node)
                best.usage = usage
                best.task_resources = task_resources
                best.alloc_total = total
                best.score = best_score = score
        metrics.NodesEvaluated += seen - src.seen
        src.offset = offset
        src.seen = seen
        self.limit.seen = taken
        return best
