"""Constraint operands, version matching, networks, tasks_updated and a property
test that placements never over-commit a node."""

from __future__ import annotations

import random

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nomadjobs import structs as s
from nomadjobs.scheduler.context import EvalContext, PlanBuilder
from nomadjobs.scheduler.feasible import ConstraintChecker, DriverChecker, StaticIterator, resolve_target
from nomadjobs.scheduler.network import MAX_DYNAMIC_PORT, MIN_DYNAMIC_PORT, NetworkError, NetworkIndex
from nomadjobs.scheduler.util import tasks_updated
from nomadjobs.scheduler.version import parse_constraints, parse_version

from test_scheduler_harness import FakeState, Harness, make_group, make_job, make_node, make_task

NODE = make_node("web-1", dc="dc7", node_class="large",
                 attributes={"kernel.version": "4.9.0", "os.signals": "SIGHUP,SIGINT,SIGTERM",
                             "driver.java": "0", "driver.qemu": "true", "cpu.numcores": "8"},
                 meta={"rack": "r42", "tier": "gold"})


def ctx() -> EvalContext:
    return EvalContext(FakeState(), PlanBuilder("e", 50, None), random.Random(1))


def meets(l: str, op: str, r: str, node: s.Node = NODE) -> bool:
    return ConstraintChecker(ctx()).meets(s.Constraint(LTarget=l, RTarget=r, Operand=op), node)


@pytest.mark.parametrize("l,op,r,want", [
    ("${attr.kernel.name}", "=", "linux", True),
    ("${attr.kernel.name}", "==", "linux", True),
    ("${attr.kernel.name}", "is", "darwin", False),
    ("${attr.kernel.name}", "!=", "darwin", True),
    ("${attr.kernel.name}", "not", "linux", False),
    ("${attr.missing}", "!=", "x", False),          # unresolvable targets never match
    ("${node.datacenter}", "=", "dc7", True),
    ("${node.unique.name}", "=", "web-1", True),
    ("${node.unique.id}", "=", NODE.ID, True),
    ("${node.class}", "=", "large", True),
    ("${meta.rack}", "=", "r42", True),
    ("${meta.nope}", "=", "", False),
    ("${unknown.thing}", "=", "x", False),
    ("${attr.cpu.numcores}", ">", "10", True),      # lexical, as v0.7.1: "8" > "10"
    ("${attr.cpu.numcores}", "<", "10", False),
    ("${attr.cpu.numcores}", ">=", "8", True),
    ("${attr.cpu.numcores}", "<=", "7", False),
    ("${attr.kernel.version}", "version", ">= 4.0, < 5", True),
    ("${attr.kernel.version}", "version", "~> 4.8", True),
    ("${attr.kernel.version}", "version", "~> 4.8.1", False),
    ("${attr.kernel.version}", "version", "= 4.9", True),
    ("${attr.kernel.version}", "version", "!= 4.9.0", False),
    ("${attr.kernel.version}", "version", "not a constraint", False),
    ("${meta.rack}", "version", ">= 1", False),
    ("${attr.kernel.version}", "regexp", r"^4\.\d+", True),
    ("${meta.tier}", "regexp", "ol", True),          # unanchored search
    ("${meta.tier}", "regexp", "^ol", False),
    ("${meta.tier}", "regexp", "([", False),         # bad pattern never matches
    ("${attr.os.signals}", "set_contains", "SIGINT, SIGHUP", True),
    ("${attr.os.signals}", "set_contains", "SIGINT,SIGUSR1", False),
    ("", "distinct_hosts", "", True),                # handled by its own iterator
    ("${attr.kernel.name}", "bogus", "linux", False),
])
def test_constraint_operands(l, op, r, want):
    assert meets(l, op, r) is want


def test_constraint_checker_records_filter_key():
    c = ctx()
    checker = ConstraintChecker(c)
    checker.set_constraints([s.Constraint(LTarget="${meta.tier}", RTarget="silver", Operand="=")])
    assert not checker.feasible(NODE)
    assert c.metrics.ConstraintFiltered == {"${meta.tier} = silver": 1}
    assert c.metrics.ClassFiltered == {"large": 1}


def test_driver_checker_parses_bools():
    c = ctx()
    d = DriverChecker(c)
    d.set_drivers(["qemu", "exec"])
    assert d.feasible(NODE)
    d.set_drivers(["java"])  # "0" means disabled
    assert not d.feasible(NODE)
    d.set_drivers(["rkt"])
    assert not d.feasible(NODE)
    assert c.metrics.ConstraintFiltered == {"missing drivers": 2}


def test_resolve_literal_and_interpolations():
    assert resolve_target("plain", NODE) == ("plain", True)
    assert resolve_target("${attr.unique.hostname}", NODE) == ("web-1", True)


@pytest.mark.parametrize("v,c,want", [
    ("1.2.3", ">= 1.2", True),
    ("1.2.3", "< 1.2.3", False),
    ("1.2", "= 1.2.0", True),
    ("v1.10.0", "> 1.9", True),
    ("1.2.3-beta", ">= 1.2", False),        # a prerelease only matches prerelease constraints
    ("1.2.3-beta", ">= 1.2.3-alpha", True),
    ("1.2.3-beta.2", "> 1.2.3-beta.10", False),
    ("1.2.3+meta", "= 1.2.3", True),
    ("2.0.0", "~> 1.2", False),
    ("1.9.9", "~> 1.2", True),
    ("1.3.0", "~> 1.2.0", False),
    ("1.2.9", "~> 1.2.0", True),
    ("1.0.0", ">1.0.0,<2", False),
])
def test_version_constraints(v, c, want):
    version, constraints = parse_version(v), parse_constraints(c)
    assert version is not None and constraints is not None
    assert constraints.check(version) is want


def test_version_parse_errors():
    assert parse_version("banana") is None
    assert parse_constraints(">= x.y") is None


# --- networks ---------------------------------------------------------------------------------

def test_network_index_collisions_and_bandwidth():
    node = make_node("n", mbits=100, ip="10.1.1.1")
    idx = NetworkIndex()
    assert not idx.set_node(node)
    rng = random.Random(3)
    offer = idx.assign_network(s.NetworkResource(MBits=60, ReservedPorts=[s.Port("a", 80)]), rng)
    assert (offer.Device, offer.IP, offer.MBits) == ("eth0", "10.1.1.1", 60)
    idx.add_reserved(offer)
    with pytest.raises(NetworkError, match="bandwidth exceeded"):
        idx.assign_network(s.NetworkResource(MBits=60), rng)
    with pytest.raises(NetworkError, match="reserved port collision"):
        idx.assign_network(s.NetworkResource(MBits=10, ReservedPorts=[s.Port("b", 80)]), rng)
    assert idx.add_reserved(offer)  # adding the same ports again collides
    assert idx.overcommitted()


def test_dynamic_ports_fall_back_to_precise_search():
    idx = NetworkIndex()
    idx.set_node(make_node("n"))
    free = {20500, 31999}
    idx.used_ports["10.0.0.1"] = set(range(MIN_DYNAMIC_PORT, MAX_DYNAMIC_PORT + 1)) - free
    offer = idx.assign_network(s.NetworkResource(MBits=1, DynamicPorts=[s.Port("a", 0), s.Port("b", 0)]),
                               random.Random(0))
    assert {p.Value for p in offer.DynamicPorts} == free
    idx.used_ports["10.0.0.1"].add(20500)
    with pytest.raises(NetworkError, match="dynamic port selection failed"):
        idx.assign_network(s.NetworkResource(MBits=1, DynamicPorts=[s.Port("a", 0), s.Port("b", 0)]),
                           random.Random(0))


# --- tasks_updated ---------------------------------------------------------------------------------

def _job_with(task: s.Task, **group_kw) -> s.Job:
    return make_job("j", [make_group(tasks=[task], **group_kw)])


@pytest.mark.parametrize("change,destructive", [
    (lambda t: attrs.evolve(t, Driver="docker"), True),
    (lambda t: attrs.evolve(t, User="nobody"), True),
    (lambda t: attrs.evolve(t, Config={"command": "/bin/other"}), True),
    (lambda t: attrs.evolve(t, Env={"A": "1"}), True),
    (lambda t: attrs.evolve(t, Meta={"k": "v"}), True),
    (lambda t: attrs.evolve(t, Resources=attrs.evolve(t.Resources, CPU=501)), True),
    (lambda t: attrs.evolve(t, Resources=attrs.evolve(t.Resources, MemoryMB=1)), True),
    (lambda t: attrs.evolve(t, Resources=attrs.evolve(t.Resources, IOPS=5)), True),
    (lambda t: attrs.evolve(t, Resources=attrs.evolve(t.Resources, Networks=[
        s.NetworkResource(MBits=10, DynamicPorts=[s.Port("other", 0)])])), True),
    (lambda t: attrs.evolve(t, Resources=attrs.evolve(t.Resources, Networks=[
        s.NetworkResource(MBits=10, DynamicPorts=[s.Port("http", 12345)])])), False),  # values ignored
    (lambda t: attrs.evolve(t, KillTimeout=1), False),
    (lambda t: attrs.evolve(t, Services=[s.Service(Name="x")]), False),
    (lambda t: attrs.evolve(t, LogConfig=s.LogConfig(MaxFiles=1, MaxFileSizeMB=1)), False),
    (lambda t: attrs.evolve(t, Constraints=[s.Constraint("a", "b", "=")]), False),
])
def test_tasks_updated(change, destructive):
    base = make_task(dynamic_ports=["http"])
    a, b = _job_with(base), _job_with(change(base))
    assert tasks_updated(a, b, "web") is destructive


def test_tasks_updated_group_level():
    t = make_task()
    assert tasks_updated(_job_with(t), _job_with(t, disk=500), "web")
    assert tasks_updated(_job_with(t), make_job("j", [make_group(tasks=[t, make_task("side")])]), "web")
    assert tasks_updated(_job_with(t), _job_with(t, meta={"g": "1"}), "web")  # combined meta
    assert not tasks_updated(_job_with(t), _job_with(t, count=9), "web")


# --- no over-commit -----------------------------------------------------------------------------------

job_spec = st.tuples(
    st.sampled_from(["service", "batch"]),
    st.integers(1, 8),                 # count
    st.integers(50, 2500),             # cpu
    st.integers(32, 3000),             # memory
    st.integers(0, 3),                 # dynamic ports
    st.booleans(),                     # a reserved port
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(specs=st.lists(job_spec, min_size=1, max_size=6), seed=st.integers(0, 2 ** 16), nodes=st.integers(1, 4))
def test_placements_never_overcommit(specs, seed, nodes):
    h = Harness(seed=seed)
    for i in range(nodes):
        h.state.upsert_node(make_node(f"n{i}", ip=f"10.0.0.{i + 1}", cpu=4000, mem=4096, mbits=100))
    for j, (type_, count, cpu, mem, ndyn, reserved) in enumerate(specs):
        task = make_task(cpu=cpu, mem=mem, mbits=10, dynamic_ports=[f"p{k}" for k in range(ndyn)],
                         reserved_ports=[("static", 8080)] if reserved else ())
        job = h.state.upsert_job(make_job(f"job{j}", [make_group(count=count, tasks=[task])], type_=type_))
        ev = h.run(job)
        placed = len(h.live_allocs(job.ID))
        assert placed + ev.QueuedAllocations["web"] == count
        assert (ev.FailedTGAllocs is None) == (placed == count)

    for node in h.state.nodes():
        live = [a for a in h.state.allocs_by_node(node.ID) if not a.terminal()]
        assert sum(a.Resources.CPU for a in live) <= node.Resources.CPU
        assert sum(a.Resources.MemoryMB for a in live) <= node.Resources.MemoryMB
        assert sum(a.Resources.DiskMB for a in live) <= node.Resources.DiskMB
        nets = [n for a in live for tr in a.TaskResources.values() for n in tr.Networks or ()]
        assert sum(n.MBits for n in nets) <= 100
        ports = [p.Value for n in nets for p in (n.ReservedPorts or []) + (n.DynamicPorts or [])]
        assert len(ports) == len(set(ports))


# --- the lazily shuffled node source ------------------------------------------------------

def _walk(nodes: list, rng: random.Random, take: int) -> tuple[list, StaticIterator]:
    ctx = EvalContext(FakeState(), PlanBuilder("e", 50, None), rng)
    it = StaticIterator(ctx)
    it.set_nodes(nodes, rng)
    return [it.next() for _ in range(take)], it


def _front_fisher_yates(items: list, rng: random.Random) -> list:
    items = list(items)
    for k in range(len(items)):
        j = k + rng.randrange(len(items) - k)
        items[k], items[j] = items[j], items[k]
    return items


class _FloatsOnly(random.Random):
    def random(self) -> float:  # Random then draws below n from floats, not bits
        return super().random()


@pytest.mark.parametrize("length", [1, 2, 3, 9, 50, 257])
@pytest.mark.parametrize("rng_type", [random.Random, _FloatsOnly])
def test_the_lazy_shuffle_is_a_fisher_yates_from_the_front(length: int, rng_type: type) -> None:
    nodes = list(range(length))
    walked, _ = _walk(nodes, rng_type(3), length)
    assert walked == _front_fisher_yates(nodes, rng_type(3))
    assert sorted(walked) == nodes  # a permutation


def test_the_lazy_shuffle_draws_only_what_the_walk_reaches() -> None:
    rng = random.Random(1)
    walked, it = _walk(list(range(500)), rng, 3)
    assert it.final < 20
    assert walked == _front_fisher_yates(list(range(500)), random.Random(1))[:3]


def test_the_lazy_shuffle_gives_every_order_equally_often() -> None:
    rng = random.Random(7)
    counts: dict[tuple, int] = {}
    for _ in range(6000):
        order = tuple(_walk(["a", "b", "c"], rng, 3)[0])
        counts[order] = counts.get(order, 0) + 1
    assert len(counts) == 6
    assert all(850 < c < 1150 for c in counts.values()), counts  # 1,000 each, 3 sigma is about 90
