"""Dump a cluster's whole state to JSON-ready data, load it back, reset to empty.

A dump holds every table of the state store (rows in Nomad's wire shape, written by
:func:`nomadjobs.codec.to_wire`), each table's index, the global index and the few
cluster scalars that decide what happens next (seed and random state, virtual time,
ACL switch, bootstrap token). Loading rebuilds the store so that every read and every
``X-Nomad-Index`` is what it was when the dump was taken.

What a dump does not hold: timers in flight (a task about to start, a health check
about to pass, a deployment eval being batched). After a load, periodic jobs are
tracked again, pending evaluations are queued again and pending allocations are started
again by the simulated clients; allocations already running stay running. Dump a quiet
cluster (``cluster.run_until_quiet()``) for a faithful continuation.

Loading and resetting happen *in place* (the same :class:`~nomadjobs.cluster.Cluster`
and the same database object), so an HTTP server in front of the cluster and its
blocked readers see the new state at once.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any, Optional

from . import structs as s
from .clock import Clock, VirtualClock
from .codec import from_wire, to_wire
from .state import mvcc
from .state.store import (ACL_POLICY, ACL_TOKEN, ALLOCS, DEPLOYMENT, EVALS, JOB_SUMMARY, JOB_VERSION, JOBS,
                          NODES, PERIODIC_LAUNCH, new_database)

if TYPE_CHECKING:
    from .cluster import Cluster

__all__ = ["FORMAT", "VERSION", "TABLE_TYPES", "DumpError", "dump_state", "load_state", "reset_cluster",
           "cluster_from_dump"]

FORMAT = "nomadjobs-state"
VERSION = 1

# Every table of the store and the model its rows decode to.
TABLE_TYPES: dict[str, type] = {
    JOBS: s.Job,
    JOB_VERSION: s.Job,
    JOB_SUMMARY: s.JobSummary,
    EVALS: s.Evaluation,
    ALLOCS: s.Allocation,
    DEPLOYMENT: s.Deployment,
    NODES: s.Node,
    PERIODIC_LAUNCH: s.PeriodicLaunch,
    ACL_POLICY: s.ACLPolicy,
    ACL_TOKEN: s.ACLToken,
}


class DumpError(ValueError):
    """The data is not a dump this version can load."""


# --- dump ----------------------------------------------------------------------------------

def dump_state(cluster: "Cluster") -> dict[str, Any]:
    """The cluster's whole state as plain, JSON-ready data (see the module docstring)."""
    with cluster.lock:  # no write lands between the snapshot and the scalars
        snap = cluster.db.snapshot()
        rng_version, rng_words, rng_gauss = cluster.rng.getstate()
        token = cluster.bootstrap_token
        meta: dict[str, Any] = {
            "seed": cluster.seed,
            "region": cluster.region,
            "datacenter": cluster.datacenter,
            "acl_enabled": cluster.acl_enabled,
            "bootstrap_accessor_id": token.AccessorID if token is not None else None,
            "clock": "virtual" if isinstance(cluster.clock, VirtualClock) else "wall",
            "now_ns": cluster.now_ns(),
            "start_ns": cluster.start_ns,
            "rng_state": [rng_version, list(rng_words), rng_gauss],
        }
    missing = set(snap.tables) - set(TABLE_TYPES)
    if missing:  # a table added to the schema must be added here too
        raise DumpError(f"no model known for tables {sorted(missing)}")
    tables = {name: {"index": snap.table_index(name), "rows": [to_wire(row) for row in snap.scan(name)]}
              for name in TABLE_TYPES}
    return {"format": FORMAT, "version": VERSION, "index": snap.latest_index, "cluster": meta,
            "tables": tables}


# --- load ----------------------------------------------------------------------------------

def _check(data: Any) -> None:
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise DumpError(f"not a {FORMAT} dump")
    if data.get("version") != VERSION:
        raise DumpError(f"unsupported dump version {data.get('version')!r} (this is {VERSION})")
    tables = data.get("tables")
    if not isinstance(tables, dict) or set(tables) != set(TABLE_TYPES):
        raise DumpError(f"a dump must hold exactly the tables {sorted(TABLE_TYPES)}")


def _build_root(data: dict[str, Any]) -> mvcc._Root:
    """A database root holding the dump's rows, with its table and global indexes."""
    scratch = new_database(history=1)
    txn = scratch.write_txn()
    try:
        for name, cls in TABLE_TYPES.items():
            for row in data["tables"][name]["rows"]:
                txn.insert(name, from_wire(row, cls))
    except Exception:
        txn.abort()
        raise
    txn.commit()
    built = scratch.snapshot()._root
    # The scratch commit stamped every table with index 1: put the dumped ones back.
    tables = {name: st.with_index(int(data["tables"][name]["index"])) for name, st in built.tables.items()}
    return mvcc._Root(tables, int(data["index"]))


def _install_root(db: mvcc.Database, root: mvcc._Root) -> None:
    """Swap the database's content for ``root`` and wake every blocked reader. Holding
    the write transaction keeps any commit from interleaving; the history restarts at
    the new root (older indexes are not part of the loaded state)."""
    txn = db.write_txn()
    try:
        db._history = (root,)
        db._root = root
        fire = db._waiters_for(root.tables, ())
    finally:
        txn.abort()  # nothing was written through it: it only held the lock
    for ev in fire:
        ev.set()


def _restart_machinery(cluster: "Cluster") -> None:
    """Drop everything in flight (timers, queued evals) and give the cluster a fresh
    set of lifecycles, keeping their settings and any listener a user added."""
    from .lifecycle import Lifecycle

    clock = cluster.clock
    with clock._lock:
        for timer in clock._heap:
            timer.cancel()
        clock._heap.clear()
    cluster._queue.clear()
    cluster._queued.clear()
    old = cluster.lifecycle
    parts = {id(p) for p in (old.nodes, old.clients, old.deployments, old.periodic) if p is not None}
    user = [fn for fn in cluster.listeners if id(getattr(fn, "__self__", None)) not in parts]
    cluster.listeners.clear()
    cluster.lifecycle = Lifecycle(cluster, simulate_clients=old.simulate_clients,
                                  timing=old.clients.timing if old.clients is not None else None,
                                  deployment_eval_batch_ns=old.deployments.eval_batch_ns)
    cluster.listeners.extend(user)  # after the lifecycles, as in a freshly built cluster
    cluster.fsm.log.clear()


def _set_virtual_time(clock: Clock, now_ns: Optional[int]) -> None:
    if isinstance(clock, VirtualClock) and now_ns is not None:
        clock._now = int(now_ns)


def load_state(cluster: "Cluster", data: dict[str, Any]) -> None:
    """Replace ``cluster``'s state with the dump ``data`` (in place)."""
    _check(data)
    root = _build_root(data)  # fails before anything is touched
    meta = data.get("cluster") or {}
    with cluster.lock:
        _restart_machinery(cluster)
        _install_root(cluster.db, root)
        state = cluster.snapshot()
        cluster.seed = int(meta.get("seed", cluster.seed))
        cluster.region = meta.get("region", cluster.region)
        cluster.datacenter = meta.get("datacenter", cluster.datacenter)
        cluster.acl_enabled = bool(meta.get("acl_enabled", cluster.acl_enabled))
        if meta.get("rng_state"):
            version, words, gauss = meta["rng_state"]
            cluster.rng.setstate((version, tuple(words), gauss))
        else:
            cluster.rng.seed(cluster.seed)
        _set_virtual_time(cluster.clock, meta.get("now_ns"))
        if meta.get("start_ns") is not None:
            cluster.start_ns = int(meta["start_ns"])
        accessor = meta.get("bootstrap_accessor_id")
        cluster.bootstrap_token = (next((t for t in state.acl_tokens() if t.AccessorID == accessor), None)
                                   if accessor else None)
        _resume(cluster, state)


def _resume(cluster: "Cluster", state: Any) -> None:
    """Restart what Nomad's leader restarts on election: the periodic dispatcher's
    tracking and the eval broker's pending evaluations; and let the simulated clients
    pick up allocations they had not started. Nothing is written here."""
    lifecycle = cluster.lifecycle
    for job in state.jobs():
        lifecycle.periodic.add(job)
    pending = sorted((ev for ev in state.evals() if ev.Status == s.EVAL_STATUS_PENDING),
                     key=lambda ev: ev.CreateIndex)
    for ev in pending:
        cluster.enqueue(ev)
    clients = lifecycle.clients
    if clients is None:
        return
    for alloc in state.allocs():
        node = state.node_by_id(alloc.NodeID)
        if (alloc.DesiredStatus == s.ALLOC_DESIRED_RUN and alloc.ClientStatus == s.ALLOC_CLIENT_PENDING
                and node is not None and node.Status != s.NODE_STATUS_DOWN):
            clients._new_runner(alloc)


def cluster_from_dump(data: dict[str, Any], *, clock: str | Clock = "virtual") -> "Cluster":
    """A new cluster (no fleet of its own: the dump's nodes are its nodes) holding ``data``."""
    from .cluster import Cluster

    _check(data)
    meta = data.get("cluster") or {}
    cluster = Cluster([], seed=int(meta.get("seed", 0)), clock=clock, acl=False,
                      region=meta.get("region", "global"), datacenter=meta.get("datacenter", "dc1"))
    load_state(cluster, data)
    return cluster


# --- reset ---------------------------------------------------------------------------------

def reset_cluster(cluster: "Cluster") -> None:
    """Empty the cluster and rebuild it as its constructor did: the same fleet (node
    IDs included, from the re-seeded generator), virtual time back at its start, and
    the same bootstrap SecretID, so a token a test already holds keeps working."""
    secret = cluster.bootstrap_token.SecretID if cluster.bootstrap_token is not None else None
    empty = new_database(history=1).snapshot()._root
    with cluster.lock:
        _restart_machinery(cluster)
        _install_root(cluster.db, empty)
        cluster.rng = random.Random(cluster.seed)
        _set_virtual_time(cluster.clock, cluster.start_ns)
        cluster.bootstrap_token = None
        for spec in cluster.fleet_specs:
            cluster.add_node(spec)
        if secret is not None:
            cluster.bootstrap_token = cluster.jobs.acl_bootstrap(_bootstrap_secret(cluster, secret))


def _bootstrap_secret(cluster: "Cluster", secret: str) -> Optional[str]:
    """None when the seeded generator would mint ``secret`` itself (a cluster built with
    ``acl=True``): bootstrapping without a fixed secret then draws the same IDs as at
    construction. A secret chosen from outside (``--acl-token``) is kept as given."""
    saved = cluster.rng.getstate()
    cluster.new_id()  # the AccessorID
    minted = cluster.new_id()
    cluster.rng.setstate(saved)
    return None if minted == secret else secret
