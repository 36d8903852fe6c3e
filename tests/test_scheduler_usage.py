"""Node usage memoized across snapshots (nomadjobs.scheduler.usage) must always equal
what a fresh read of the node's allocations gives, however the allocations changed."""

from __future__ import annotations

import gc
import weakref

from hypothesis import given, settings
from hypothesis import strategies as st

from nomadjobs import structs as s
from nomadjobs.scheduler.network import NetworkIndex
from nomadjobs.scheduler.usage import NodeUsage, node_network, node_usage, sum_allocs
from nomadjobs.state.store import ALLOCS, NODES, StateReader, new_database

NODE_IDS = ("n1", "n2")


def _node(node_id: str) -> s.Node:
    net = s.NetworkResource(Device="eth0", CIDR="10.0.0.1/32", IP="10.0.0.1", MBits=1000)
    return s.Node(ID=node_id, Name=node_id, Status="ready",
                  Resources=s.Resources(CPU=4000, MemoryMB=8192, DiskMB=100000, IOPS=100, Networks=[net]),
                  Reserved=s.Resources(CPU=100, MemoryMB=256, DiskMB=4096, IOPS=0))


def _alloc(i: int, node: str, job: str, cpu: int, port: int, status: str) -> s.Allocation:
    net = s.NetworkResource(Device="eth0", IP="10.0.0.1", MBits=10,
                            DynamicPorts=[s.Port(Label="http", Value=port)])
    task = s.Resources(CPU=cpu, MemoryMB=cpu // 2, DiskMB=0, IOPS=0, Networks=[net])
    return s.Allocation(ID=f"alloc-{i:03d}", NodeID=node, JobID=job, Namespace="default", EvalID="e",
                        Name=f"{job}.g[{i}]", TaskGroup="g", DesiredStatus="run", ClientStatus=status,
                        Resources=s.Resources(CPU=cpu, MemoryMB=cpu // 2, DiskMB=150, IOPS=0, Networks=[net]),
                        TaskResources={"t": task})


op = st.tuples(
    st.sampled_from(["put", "put", "put", "delete"]),
    st.integers(0, 12),                      # alloc number
    st.sampled_from(NODE_IDS),
    st.sampled_from(["j1", "j2", "j3"]),
    st.integers(1, 500),                     # cpu
    st.integers(20000, 20010),               # port
    st.sampled_from(["pending", "running", "complete", "failed"]),
)


def _fresh(reader: StateReader, node_id: str) -> tuple:
    live = [a for a in reader.allocs_by_node(node_id) if not a.terminal()]
    counts: dict[str, int] = {}
    for a in live:
        counts[a.JobID] = counts.get(a.JobID, 0) + 1
    return live, sum_allocs(live), counts


def _ports(idx: NetworkIndex) -> dict:
    return {ip: sorted(ports) for ip, ports in idx.used_ports.items() if list(ports)}


@settings(max_examples=80, deadline=None)
@given(commits=st.lists(st.lists(op, min_size=1, max_size=4), min_size=1, max_size=12),
       probe_every=st.integers(1, 3))
def test_memoized_usage_matches_a_fresh_read(commits, probe_every):
    db = new_database()
    with db.write_txn() as txn:
        for node_id in NODE_IDS:
            txn.insert(NODES, _node(node_id))
    for n, ops in enumerate(commits):
        with db.write_txn() as txn:
            for kind, i, node, job, cpu, port, status in ops:
                if kind == "put":
                    txn.insert(ALLOCS, _alloc(i, node, job, cpu, port, status))
                else:
                    txn.delete(ALLOCS, (f"alloc-{i:03d}",))
        if n % probe_every:
            continue  # let several commits pile up between reads
        reader = StateReader(db.snapshot())
        for node_id in NODE_IDS:
            usage = node_usage(reader, node_id)
            live, totals, counts = _fresh(reader, node_id)
            assert usage.live == live
            assert (usage.cpu, usage.memory, usage.disk, usage.iops) == totals
            assert dict(usage.job_counts) == counts
            assert node_usage(reader, node_id) is usage  # memoized for this version
            fresh = NodeUsage(reader.node_allocs_token(node_id))
            assert (fresh.cpu, fresh.memory, fresh.disk, fresh.iops, dict(fresh.job_counts)) == (
                usage.cpu, usage.memory, usage.disk, usage.iops, dict(usage.job_counts))
            # The network index, extended or rebuilt, matches one built from scratch.
            node = reader.node_by_id(node_id)
            built = NetworkIndex()
            built.set_node(node)
            built.add_allocs(live)
            idx = node_network(reader, node, usage)
            assert _ports(idx) == _ports(built)
            assert idx.used_bandwidth == built.used_bandwidth


def test_usage_moves_forward_without_rereading(monkeypatch):
    """After a commit that only adds allocations, usage advances from the previous
    one (the node's rows are not read again)."""
    db = new_database()
    with db.write_txn() as txn:
        txn.insert(NODES, _node("n1"))
        txn.insert(ALLOCS, _alloc(1, "n1", "j1", 100, 20000, "running"))
    first = node_usage(StateReader(db.snapshot()), "n1")
    with db.write_txn() as txn:
        txn.insert(ALLOCS, _alloc(2, "n1", "j2", 200, 20001, "pending"))
    reader = StateReader(db.snapshot())
    monkeypatch.setattr(StateReader, "allocs_by_node", lambda *_: (_ for _ in ()).throw(AssertionError("re-read")))
    second = node_usage(reader, "n1")
    assert second.only_added is not None and second.only_added[0] is first.token
    assert (second.cpu, dict(second.job_counts)) == (300, {"j1": 1, "j2": 1})


def test_usages_do_not_keep_earlier_versions_alive():
    db = new_database(history=1)  # the database itself keeps only the latest root
    with db.write_txn() as txn:
        txn.insert(NODES, _node("n1"))
    tokens = []
    for i in range(20):
        with db.write_txn() as txn:
            txn.insert(ALLOCS, _alloc(i, "n1", "j1", 10, 20000 + i, "running"))
        reader = StateReader(db.snapshot())
        node_usage(reader, "n1")
        tokens.append(weakref.ref(reader.node_allocs_token("n1")))
        del reader
    gc.collect()
    # The current version, and the one the memoized usage moved forward from.
    assert [i for i, t in enumerate(tokens) if t() is not None] == [18, 19]


def test_overlay_leaves_the_shared_index_alone():
    base = NetworkIndex()
    base.set_node(_node("n1"))
    base.add_allocs([_alloc(1, "n1", "j1", 100, 20000, "running")])
    before = _ports(base), dict(base.used_bandwidth)
    over = base.overlay()
    assert over.add_allocs([_alloc(2, "n1", "j1", 100, 20000, "running")])  # port 20000 collides
    over.add_allocs([_alloc(3, "n1", "j1", 100, 20005, "running")])
    assert _ports(over) == {"10.0.0.1": [20000, 20005]}
    assert over.used_bandwidth == {"eth0": 30}
    assert (_ports(base), dict(base.used_bandwidth)) == before
