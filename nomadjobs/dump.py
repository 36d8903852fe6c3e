"""Dump a cluster's whole state to JSON-ready data and load it back (Snapshot/Restore).

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

Loading happens *in place* (the same server core and the same database object), so an
HTTP server in front of the cluster and its blocked readers see the new state at once.
It follows Nomad's FSM Restore and its leader's ``establishLeadership``: the store is
restored through :meth:`Database.restore <nomadjobs.state.mvcc.Database.restore>`, the
lifecycles restart, and the eval broker is filled again from the state.
"""

from __future__ import annotations

from typing import Any, Optional

from . import structs as s
from .clock import VirtualClock
from .codec import from_wire, to_wire
from .core.server import ServerCore
from .lifecycle import Lifecycle
from .state.store import (ACL_POLICY, ACL_TOKEN, ACL_TOKEN_BOOTSTRAP, ALLOCS, DEPLOYMENT, EVALS, JOB_SUMMARY,
                          JOB_VERSION, JOBS, NODES, PERIODIC_LAUNCH)

__all__ = ["FORMAT", "VERSION", "TABLE_TYPES", "DumpError", "check_dump", "dump_state", "load_state"]

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
    ACL_TOKEN_BOOTSTRAP: s.ACLToken,
}
# Tables a dump written before they existed may lack (their index is then 0).
LATER_TABLES = frozenset({ACL_TOKEN_BOOTSTRAP})


class DumpError(ValueError):
    """The data is not a dump this version can load."""


# --- dump ----------------------------------------------------------------------------------

def dump_state(core: ServerCore, bootstrap_token: Optional[s.ACLToken] = None) -> dict[str, Any]:
    """The core's whole state as plain, JSON-ready data (see the module docstring)."""
    with core.lock:  # no write lands between the snapshot and the scalars
        snap = core.db.snapshot()
        rng_version, rng_words, rng_gauss = core.rng.getstate()
        meta: dict[str, Any] = {
            "seed": core.seed,
            "region": core.region,
            "datacenter": core.datacenter,
            "acl_enabled": core.acl_enabled,
            "bootstrap_accessor_id": bootstrap_token.AccessorID if bootstrap_token is not None else None,
            "clock": "virtual" if isinstance(core.clock, VirtualClock) else "wall",
            "now_ns": core.now_ns(),
            "start_ns": core.start_ns,
            "rng_state": [rng_version, list(rng_words), rng_gauss],
            "time_table": core.time_table.serialize(),
        }
    missing = set(snap.tables) - set(TABLE_TYPES)
    if missing:  # a table added to the schema must be added here too
        raise DumpError(f"no model known for tables {sorted(missing)}")
    tables = {name: {"index": snap.table_index(name), "rows": [to_wire(row) for row in snap.scan(name)]}
              for name in TABLE_TYPES}
    return {"format": FORMAT, "version": VERSION, "index": snap.latest_index, "cluster": meta,
            "tables": tables}


# --- load ----------------------------------------------------------------------------------

def check_dump(data: Any) -> dict[str, Any]:
    """``data`` if it is a dump this version can load, else :class:`DumpError`."""
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise DumpError(f"not a {FORMAT} dump")
    if data.get("version") != VERSION:
        raise DumpError(f"unsupported dump version {data.get('version')!r} (this is {VERSION})")
    tables = data.get("tables")
    if not isinstance(tables, dict) or not set(TABLE_TYPES) - LATER_TABLES <= set(tables) <= set(TABLE_TYPES):
        raise DumpError(f"a dump must hold exactly the tables {sorted(TABLE_TYPES)}")
    return data


def load_state(core: ServerCore, lifecycle: Lifecycle, data: dict[str, Any]) -> Optional[s.ACLToken]:
    """Replace the core's state with the dump ``data`` (in place) and resume what a new
    leader resumes. Returns the dump's bootstrap token (None when it has none). A
    dump that cannot be decoded changes nothing."""
    check_dump(data)
    tables = data["tables"]
    empty = {"index": 0, "rows": []}
    rows: dict[str, list[Any]] = {name: [from_wire(row, cls) for row in tables.get(name, empty)["rows"]]
                                  for name, cls in TABLE_TYPES.items()}
    table_indexes = {name: int(tables.get(name, empty)["index"]) for name in TABLE_TYPES}
    meta = data.get("cluster") or {}
    with core.lock:
        core.restore(rows, table_indexes, int(data["index"]))
        lifecycle.restart()
        state = core.snapshot()
        core.seed = int(meta.get("seed", core.seed))
        core.region = meta.get("region", core.region)
        core.datacenter = meta.get("datacenter", core.datacenter)
        core.acl_enabled = bool(meta.get("acl_enabled", core.acl_enabled))
        if meta.get("rng_state"):
            version, words, gauss = meta["rng_state"]
            core.rng.setstate((version, tuple(words), gauss))
        else:
            core.rng.seed(core.seed)
        if isinstance(core.clock, VirtualClock) and meta.get("now_ns") is not None:
            core.clock.set_now(int(meta["now_ns"]))
        if meta.get("start_ns") is not None:
            core.start_ns = int(meta["start_ns"])
        if meta.get("time_table"):
            core.time_table.restore(meta["time_table"])
        accessor = meta.get("bootstrap_accessor_id")
        token = (next((t for t in state.acl_tokens() if t.AccessorID == accessor), None)
                 if accessor else None)
        lifecycle.resume(state)
        core.restore_broker()
    return token
