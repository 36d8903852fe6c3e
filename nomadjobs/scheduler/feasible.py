"""Feasibility checks (``scheduler/feasible.go``, ``scheduler/property_set.go``):
which nodes could run a task group at all, before any resources are counted."""

from __future__ import annotations

import random
import re
from typing import Any, Iterable, Optional, Protocol, cast

from ..structs import Allocation, Constraint, Job, Node, TaskGroup
from .context import (
    CLASS_ELIGIBLE,
    CLASS_ESCAPED,
    CLASS_INELIGIBLE,
    CLASS_UNKNOWN,
    EvalContext,
)
from .version import parse_constraints, parse_version

CONSTRAINT_DISTINCT_HOSTS = "distinct_hosts"
CONSTRAINT_DISTINCT_PROPERTY = "distinct_property"
CONSTRAINT_REGEX = "regexp"
CONSTRAINT_VERSION = "version"
CONSTRAINT_SET_CONTAINS = "set_contains"

FILTER_MISSING_DRIVERS = "missing drivers"
FILTER_CLASS_INELIGIBLE = "computed class ineligible"

_MISSING = object()


def constraint_string(c: Constraint) -> str:
    return f"{c.LTarget} {c.Operand} {c.RTarget}"


def resolve_target(target: str, node: Node) -> tuple[object, bool]:
    """A constraint side: a literal, or one of the node interpolations."""
    if not target.startswith("${"):
        return target, True
    if target == "${node.unique.id}":
        return node.ID, True
    if target == "${node.datacenter}":
        return node.Datacenter, True
    if target == "${node.unique.name}":
        return node.Name, True
    if target == "${node.class}":
        return node.NodeClass, True
    if target.startswith("${attr."):
        key = _strip(target, "${attr.")
        val = (node.Attributes or {}).get(key, _MISSING)
        return (val, True) if val is not _MISSING else (None, False)
    if target.startswith("${meta."):
        key = _strip(target, "${meta.")
        val = (node.Meta or {}).get(key, _MISSING)
        return (val, True) if val is not _MISSING else (None, False)
    return None, False


def _strip(target: str, prefix: str) -> str:
    body = target[len(prefix):]
    return body[:-1] if body.endswith("}") else body


def check_constraint(ctx: EvalContext, operand: str, lval: object, rval: object) -> bool:
    if operand in (CONSTRAINT_DISTINCT_HOSTS, CONSTRAINT_DISTINCT_PROPERTY):
        return True  # handled by their own iterators
    if operand in ("=", "==", "is"):
        return lval == rval
    if operand in ("!=", "not"):
        return lval != rval
    if operand in ("<", "<=", ">", ">="):
        return _lexical(operand, lval, rval)
    if operand == CONSTRAINT_VERSION:
        return _version(ctx, lval, rval)
    if operand == CONSTRAINT_REGEX:
        return _regexp(ctx, lval, rval)
    if operand == CONSTRAINT_SET_CONTAINS:
        return _set_contains(lval, rval)
    return False


def _lexical(op: str, l: object, r: object) -> bool:
    # v0.7.1 compares strings lexically (byte order == code point order for UTF-8).
    if not isinstance(l, str) or not isinstance(r, str):
        return False
    if op == "<":
        return l < r
    if op == "<=":
        return l <= r
    if op == ">":
        return l > r
    return l >= r


def _version(ctx: EvalContext, l: object, r: object) -> bool:
    if isinstance(l, bool) or not isinstance(l, (str, int)):
        return False
    v = parse_version(str(l))
    if v is None or not isinstance(r, str):
        return False
    cache = ctx.constraint_cache
    if r not in cache:
        cache[r] = parse_constraints(r)
    constraints = cache[r]
    return constraints is not None and constraints.check(v)


def _regexp(ctx: EvalContext, l: object, r: object) -> bool:
    if not isinstance(l, str) or not isinstance(r, str):
        return False
    cache = ctx.regexp_cache
    if r not in cache:
        try:
            cache[r] = re.compile(r)
        except re.error:
            cache[r] = None
    pattern = cache[r]
    return pattern is not None and pattern.search(l) is not None


def _set_contains(l: object, r: object) -> bool:
    if not isinstance(l, str) or not isinstance(r, str):
        return False
    have = {part.strip() for part in l.split(",")}
    return all(part.strip() in have for part in r.split(","))


# --- node sources ----------------------------------------------------------------------

class FeasibleIterator(Protocol):
    """A stream of nodes that passed the checks so far (``FeasibleIterator`` in Go)."""

    def next(self) -> Optional[Node]: ...

    def reset(self) -> None: ...


class StaticIterator:
    """Yields the base nodes in order. The offset survives ``reset`` so successive
    placements keep walking the (shuffled) list where the last one stopped.

    Nomad shuffles every ready node at the start of each evaluation, yet a placement
    usually looks at a handful (two for batch jobs, ceil(log2 n) for services). Given
    an rng, the shuffle here is a Fisher-Yates from the front drawn lazily: position
    ``k`` gets a uniform pick among the positions not yet drawn, the first time the
    walk reaches it (``final`` counts the positions drawn), so every order is equally
    likely, as with the whole shuffle, and a placement on 500 nodes draws a few
    positions instead of 500.
    """

    _AHEAD = 8  # positions drawn per refill: fewer calls, no effect on the distribution

    def __init__(self, ctx: EvalContext, nodes: Optional[list[Node]] = None) -> None:
        self.ctx = ctx
        self.nodes: list[Node] = list(nodes or ())
        self.offset = 0
        self.seen = 0
        self.final = len(self.nodes)
        self._rng: Any = None

    def next(self) -> Optional[Node]:
        n = len(self.nodes)
        if self.offset == n or self.seen == n:
            if self.seen != n:
                self.offset = 0
            else:
                return None
        if self.offset >= self.final:
            self.draw(self.offset)
        node = self.nodes[self.offset]
        self.offset += 1
        self.seen += 1
        self.ctx.metrics.evaluate_node()
        return node

    def reset(self) -> None:
        self.seen = 0

    def set_nodes(self, nodes: list[Node], rng: Any = None, final: Optional[int] = None) -> None:
        """Walk ``nodes`` from the start: as given, or shuffled by ``rng`` (lazily;
        ``final`` says how many leading positions are already drawn)."""
        self.nodes = list(nodes)
        self.offset = 0
        self.seen = 0
        self._rng = rng
        self.final = len(self.nodes) if rng is None else (final or 0)

    def order(self) -> tuple[list[Node], Any, int]:
        """What ``set_nodes(*order)`` needs to come back to this order later."""
        return self.nodes, self._rng, self.final

    def draw(self, position: int) -> None:
        """Draw the shuffle up to ``position`` (and a few beyond)."""
        nodes = self.nodes
        n = len(nodes)
        stop = min(n, max(position + 1, self.final + self._AHEAD))
        rng = self._rng
        if getattr(type(rng), "_randbelow", None) is _RANDBELOW_WITH_GETRANDBITS:
            # Random._randbelow inlined: draw bit_length bits, redraw while too big.
            getrandbits = rng.getrandbits
            for k in range(self.final, stop):
                m = n - k
                bits = m.bit_length()
                j = getrandbits(bits)
                while j >= m:
                    j = getrandbits(bits)
                j += k
                nodes[k], nodes[j] = nodes[j], nodes[k]
        else:
            for k in range(self.final, stop):
                j = k + rng.randrange(n - k)
                nodes[k], nodes[j] = nodes[j], nodes[k]
        self.final = stop


_RANDBELOW_WITH_GETRANDBITS = getattr(random.Random, "_randbelow_with_getrandbits", None)


# --- per-node checkers -------------------------------------------------------------------

class FeasibilityChecker(Protocol):
    def feasible(self, node: Node) -> bool: ...


_GO_TRUE = {"1", "t", "T", "TRUE", "true", "True"}


class DriverChecker:
    def __init__(self, ctx: EvalContext) -> None:
        self.ctx = ctx
        self.drivers: list[str] = []

    def set_drivers(self, drivers: Iterable[str]) -> None:
        self.drivers = sorted(set(drivers))

    def feasible(self, node: Node) -> bool:
        attrs_ = node.Attributes or {}
        # strconv.ParseBool: anything not true-ish (or unparsable) disables the driver.
        if all(attrs_.get(f"driver.{d}") in _GO_TRUE for d in self.drivers):
            return True
        self.ctx.metrics.filter_node(node, FILTER_MISSING_DRIVERS)
        return False


class ConstraintChecker:
    def __init__(self, ctx: EvalContext) -> None:
        self.ctx = ctx
        self.constraints: list[Constraint] = []

    def set_constraints(self, constraints: Iterable[Constraint]) -> None:
        self.constraints = list(constraints or ())

    def feasible(self, node: Node) -> bool:
        for c in self.constraints:
            if not self.meets(c, node):
                self.ctx.metrics.filter_node(node, constraint_string(c))
                return False
        return True

    def meets(self, c: Constraint, node: Node) -> bool:
        lval, ok = resolve_target(c.LTarget, node)
        if not ok:
            return False
        rval, ok = resolve_target(c.RTarget, node)
        if not ok:
            return False
        return check_constraint(self.ctx, c.Operand, lval, rval)


class FeasibilityWrapper:
    """Runs the class-cacheable checks, reusing a verdict per computed node class."""

    def __init__(self, ctx: EvalContext, source: StaticIterator, job_checkers: list[FeasibilityChecker],
                 tg_checkers: list[FeasibilityChecker]) -> None:
        self.ctx = ctx
        self.source = source
        self.job_checkers = job_checkers
        self.tg_checkers = tg_checkers
        self.tg = ""

    def set_task_group(self, tg: str) -> None:
        self.tg = tg

    def reset(self) -> None:
        self.source.reset()

    def next(self) -> Optional[Node]:
        while True:
            option = self.source.next()
            if option is None or self.check(option):
                return option

    def check(self, option: Node) -> bool:
        """Whether the node passes the job's and the group's checks, consulting and
        filling the per-class verdicts (the fused ranker calls this for every node
        whose class is not already known eligible for both)."""
        elig = self.ctx.eligibility
        cls = option.ComputedClass
        # Without a computed class there is nothing to cache on: always check.
        job_status = elig.job_status(cls) if cls else CLASS_ESCAPED
        if job_status == CLASS_INELIGIBLE:
            self.ctx.metrics.filter_node(option, FILTER_CLASS_INELIGIBLE)
            return False
        # Nomad re-runs the job checks on an eligible class too; they can only pass
        # again (the class covers every non-unique value they read), so skip them.
        if job_status != CLASS_ELIGIBLE:
            if not all(check.feasible(option) for check in self.job_checkers):
                if job_status != CLASS_ESCAPED:
                    elig.set_job_eligibility(False, cls)
                return False
            if job_status == CLASS_UNKNOWN:
                elig.set_job_eligibility(True, cls)

        tg_status = elig.task_group_status(self.tg, cls) if cls else CLASS_ESCAPED
        if tg_status == CLASS_INELIGIBLE:
            self.ctx.metrics.filter_node(option, FILTER_CLASS_INELIGIBLE)
            return False
        if tg_status == CLASS_ELIGIBLE:
            return True
        if not all(check.feasible(option) for check in self.tg_checkers):
            if tg_status != CLASS_ESCAPED:
                elig.set_task_group_eligibility(False, self.tg, cls)
            return False
        if tg_status == CLASS_UNKNOWN:
            elig.set_task_group_eligibility(True, self.tg, cls)
        return True


# --- checks that depend on other allocations ------------------------------------------------

class DistinctHostsIterator:
    def __init__(self, ctx: EvalContext, source: FeasibleIterator) -> None:
        self.ctx = ctx
        self.source = source
        self.job: Optional[Job] = None
        self.tg: Optional[TaskGroup] = None
        self.job_distinct = False
        self.tg_distinct = False

    def set_job(self, job: Job) -> None:
        self.job = job
        self.job_distinct = _has_operand(job.Constraints, CONSTRAINT_DISTINCT_HOSTS)

    def set_task_group(self, tg: TaskGroup) -> None:
        self.tg = tg
        self.tg_distinct = _has_operand(tg.Constraints, CONSTRAINT_DISTINCT_HOSTS)

    def reset(self) -> None:
        self.source.reset()

    def next(self) -> Optional[Node]:
        while True:
            option = self.source.next()
            if option is None or not (self.job_distinct or self.tg_distinct):
                return option
            if not self._satisfies(option):
                self.ctx.metrics.filter_node(option, CONSTRAINT_DISTINCT_HOSTS)
                continue
            return option

    def _satisfies(self, option: Node) -> bool:
        assert self.job is not None and self.tg is not None
        for alloc in self.ctx.proposed_allocs(option.ID):
            job_collision = alloc.JobID == self.job.ID
            tg_collision = alloc.TaskGroup == self.tg.Name
            if (self.job_distinct and job_collision) or (job_collision and tg_collision):
                return False
        return True


def _has_operand(constraints: Optional[list[Constraint]], operand: str) -> bool:
    return any(c.Operand == operand for c in constraints or ())


def get_property(node: Optional[Node], prop: str) -> tuple[str, bool]:
    if node is None or not prop:
        return "", False
    val, ok = resolve_target(prop, node)
    if not ok or not isinstance(val, str):
        return "", False
    return val, True


class PropertySet:
    """How many allocations of the job (or group) already use each value of a node
    property, for one ``distinct_property`` constraint."""

    def __init__(self, ctx: EvalContext, job: Job) -> None:
        self.ctx = ctx
        self.job_id = job.ID or ""
        self.namespace = job.Namespace or ""
        self.task_group = ""
        self.constraint: Optional[Constraint] = None
        self.allowed = 1
        self.error = ""
        self.existing: dict[str, int] = {}
        self.proposed: dict[str, int] = {}
        self.cleared: dict[str, int] = {}

    def set_constraint(self, c: Constraint, task_group: str = "") -> None:
        self.task_group = task_group
        self.constraint = c
        if c.RTarget:
            if re.fullmatch(r"[0-9]+", c.RTarget) is None:
                self.error = (f'failed to convert RTarget "{c.RTarget}" to uint64: strconv.ParseUint: '
                              f'parsing "{c.RTarget}": invalid syntax')
                return
            self.allowed = int(c.RTarget)
        else:
            self.allowed = 1
        self._populate_existing()
        self.populate_proposed()

    def _filter(self, allocs: Iterable[Allocation], drop_terminal: bool) -> list[Allocation]:
        out = []
        for a in allocs:
            if drop_terminal and a.terminal():
                continue
            if self.task_group and a.TaskGroup != self.task_group:
                continue
            out.append(a)
        return out

    def _nodes(self, allocs: list[Allocation]) -> dict[str, Optional[Node]]:
        return {nid: self.ctx.state.node_by_id(nid) for nid in sorted({a.NodeID for a in allocs})}

    def _count(self, allocs: list[Allocation], nodes: dict[str, Optional[Node]], into: dict[str, int]) -> None:
        assert self.constraint is not None
        for a in allocs:
            value, ok = get_property(nodes.get(a.NodeID), self.constraint.LTarget)
            if ok:
                into[value] = into.get(value, 0) + 1

    def _populate_existing(self) -> None:
        allocs = self._filter(self.ctx.state.allocs_by_job(self.namespace, self.job_id, False), True)
        self.existing = {}
        self._count(allocs, self._nodes(allocs), self.existing)

    def populate_proposed(self) -> None:
        self.proposed, self.cleared = {}, {}
        if self.constraint is None or self.error:
            return
        plan = self.ctx.plan
        stopping = self._filter([a for k in sorted(plan.NodeUpdate) for a in plan.NodeUpdate[k]], False)
        proposed = self._filter([a for k in sorted(plan.NodeAllocation) for a in plan.NodeAllocation[k]], True)
        nodes = self._nodes(stopping + proposed)
        self._count(proposed, nodes, self.proposed)
        self._count(stopping, nodes, self.cleared)
        # A value freed by a stop but taken again by a placement is not free.
        for value in self.proposed:
            current = self.cleared.get(value)
            if current is None:
                continue
            if current == 0:
                del self.cleared[value]
            elif current > 1:
                self.cleared[value] = current - 1

    def satisfies(self, option: Node) -> tuple[bool, str]:
        if self.error:
            return False, self.error
        assert self.constraint is not None
        value, ok = get_property(option, self.constraint.LTarget)
        if not ok:
            return False, f'missing property "{self.constraint.LTarget}"'
        combined: dict[str, int] = {}
        for src in (self.existing, self.proposed):
            for k, v in src.items():
                combined[k] = combined.get(k, 0) + v
        for k, cleared in self.cleared.items():
            if k in combined:
                combined[k] = max(0, combined[k] - cleared)
        if value not in combined:
            return True, ""
        used = combined[value]
        if used < self.allowed:
            return True, ""
        return False, f"distinct_property: {value} used by {used} allocs"


class DistinctPropertyIterator:
    def __init__(self, ctx: EvalContext, source: FeasibleIterator) -> None:
        self.ctx = ctx
        self.source = source
        self.job: Optional[Job] = None
        self.tg: Optional[TaskGroup] = None
        self.job_sets: list[PropertySet] = []
        self.group_sets: dict[str, list[PropertySet]] = {}
        self.active = False

    def set_job(self, job: Job) -> None:
        self.job = job
        for c in job.Constraints or ():
            if c.Operand == CONSTRAINT_DISTINCT_PROPERTY:
                ps = PropertySet(self.ctx, job)
                ps.set_constraint(c)
                self.job_sets.append(ps)

    def set_task_group(self, tg: TaskGroup) -> None:
        assert self.job is not None
        self.tg = tg
        name = cast(str, tg.Name)  # a canonical job names every group
        if name not in self.group_sets:
            sets = []
            for c in tg.Constraints or ():
                if c.Operand == CONSTRAINT_DISTINCT_PROPERTY:
                    ps = PropertySet(self.ctx, self.job)
                    ps.set_constraint(c, name)
                    sets.append(ps)
            self.group_sets[name] = sets
        self.active = bool(self.job_sets) or bool(self.group_sets[name])

    def next(self) -> Optional[Node]:
        while True:
            option = self.source.next()
            if option is None or not self.active:
                return option
            assert self.tg is not None
            if not self._satisfies(option, self.job_sets) or \
                    not self._satisfies(option, self.group_sets.get(self.tg.Name, [])):  # type: ignore[arg-type]  # groups are named
                continue
            return option

    def _satisfies(self, option: Node, sets: list[PropertySet]) -> bool:
        for ps in sets:
            ok, reason = ps.satisfies(option)
            if not ok:
                self.ctx.metrics.filter_node(option, reason)
                return False
        return True

    def reset(self) -> None:
        self.source.reset()
        for ps in self.job_sets:
            ps.populate_proposed()
        for name in sorted(self.group_sets):
            for ps in self.group_sets[name]:
                ps.populate_proposed()
