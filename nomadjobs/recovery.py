"""A server's data directory: a new one is marked as this cluster's; an existing one is
restored (its snapshot, then the log after it, as Nomad restores a Raft snapshot and
replays its log) and what a new leader resumes is resumed, as after a :mod:`dump` load.

Restoring writes nothing: the index, every table and the ID generator carry on where
the last committed write left them, and on the virtual clock so does time.
"""

from __future__ import annotations

import os
from typing import Any, Optional

from . import structs as s
from .clock import VirtualClock
from .core.durable import SNAPSHOT_THRESHOLD, DataDir, DataDirError, DurableLog
from .core.server import ServerCore
from .lifecycle import Lifecycle
from .state.store import ACL_TOKEN_BOOTSTRAP

__all__ = ["DataDirError", "open_data_dir", "identity"]


def identity(core: ServerCore) -> dict[str, Any]:
    """What makes a data dir this cluster's: a server configured for another region or
    datacenter refuses it."""
    return {"region": core.region, "datacenter": core.datacenter}


def open_data_dir(core: ServerCore, lifecycle: Lifecycle, path: str | os.PathLike[str], fsync: bool = False,
                  snapshot_threshold: int = SNAPSHOT_THRESHOLD) -> bool:
    """Put a durable log under ``core``. Returns True when an existing state was
    restored (the caller then skips what a new cluster does at start), False for a new
    directory. Raises :class:`DataDirError` for a directory this server cannot use."""
    data_dir = DataDir(path, fsync=fsync)
    try:
        if data_dir.is_new:
            data_dir.initialize(identity(core))
            core.durable = DurableLog(data_dir, snapshot_threshold)
            return False
        data_dir.check_identity(identity(core))
        _restore(core, lifecycle, data_dir)
        core.durable = DurableLog(data_dir, snapshot_threshold, last_index=core.index,
                                  since_snapshot=core.index - data_dir.snapshot_index())
        return True
    except BaseException:
        data_dir.close()
        raise


def _restore(core: ServerCore, lifecycle: Lifecycle, data_dir: DataDir) -> None:
    snap = data_dir.read_snapshot()
    with core.lock:
        now = core.now_ns()
        if snap is not None:
            core.restore({name: rows for name, (_, rows) in snap.tables.items()},
                         {name: index for name, (index, _) in snap.tables.items()}, snap.last_index)
            core.time_table.restore(snap.time_table)
            now = max(now, snap.now_ns)
        elif data_dir.snapshot_index():
            raise DataDirError(f"data dir {data_dir.path} lost its snapshot at index {data_dir.snapshot_index()}")
        last_now = [now]

        def records() -> Any:
            for record in data_dir.records(data_dir.snapshot_index()):
                last_now[0] = max(last_now[0], record.now_ns)
                yield record

        core.replay(records())
        rng = data_dir.rng_state()
        if rng is not None:
            core.rng.setstate(rng)
        if isinstance(core.clock, VirtualClock):
            core.clock.set_now(max(last_now[0], int(data_dir.meta("clock") or 0)))
        lifecycle.restart()
        lifecycle.resume(core.snapshot())
        core.restore_broker()


def bootstrap_token(core: ServerCore) -> Optional[s.ACLToken]:
    """The token the state records as the ACL bootstrap, if any."""
    rows = list(core.db.snapshot().scan(ACL_TOKEN_BOOTSTRAP))
    return rows[0] if rows else None
