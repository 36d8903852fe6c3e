"""A server's data directory: a new one is marked as this cluster's; an existing one is
restored (its snapshot, then the log after it, as Nomad restores a Raft snapshot and
replays its log) and what a new leader resumes is resumed, as after a :mod:`dump` load.

Restoring writes nothing: the index, every table and the ID generator carry on where
the last committed write left them, and on the virtual clock so does time.
"""

from __future__ import annotations

import os
from typing import Any, Optional

from . import gcpolicy
from . import structs as s
from .clock import VirtualClock
from .core.durable import SNAPSHOT_THRESHOLD, DataDir, DataDirError, DurableLog
from .core.server import ServerCore
from .lifecycle import Lifecycle

__all__ = ["BOOTSTRAP_SECRET", "DataDirError", "open_data_dir", "check_data_dir", "identity"]

#: Meta key: the SecretID of the token bootstrapped when the cluster was created.
BOOTSTRAP_SECRET = "acl_bootstrap_secret"
#: Meta key and value: the dir belongs to a server of a Raft group.
MODE_KEY, RAFT_MODE = "mode", "raft"


def identity(core: ServerCore) -> dict[str, Any]:
    """What makes a data dir this cluster's: a server configured for another region or
    datacenter refuses it."""
    return {"region": core.region, "datacenter": core.datacenter}


def open_data_dir(core: ServerCore, lifecycle: Lifecycle, path: str | os.PathLike[str], fsync: bool = False,
                  snapshot_threshold: int = SNAPSHOT_THRESHOLD) -> Optional[s.ACLToken | bool]:
    """Put a durable log under ``core``. Returns None for a new directory; for an
    existing one, whose state is restored (the caller then skips what a new cluster
    does at start), the token bootstrapped when it was created, or True. Raises
    :class:`DataDirError` for a directory this server cannot use."""
    data_dir = DataDir(path, fsync=fsync)
    try:
        if data_dir.is_new:
            data_dir.initialize(identity(core))
            core.durable = DurableLog(data_dir, core.lock, core.rng.getstate, snapshot_threshold)
            return None
        data_dir.check_identity(identity(core))
        check_mode(data_dir, raft=False)
        _restore(core, lifecycle, data_dir)
        secret = data_dir.meta(BOOTSTRAP_SECRET)
        view = core.db.snapshot()
        core.durable = DurableLog(data_dir, core.lock, core.rng.getstate, snapshot_threshold,
                                  last_index=core.index, since_snapshot=core.index - data_dir.snapshot_index(),
                                  state_rows=sum(view.count(name) for name in view.tables))
        token = core.snapshot().acl_token_by_secret(secret) if secret else None
        return token if token is not None else True
    except BaseException:
        data_dir.close()
        raise


def check_data_dir(path: str | os.PathLike[str], region: str = "global",
                   datacenter: str = "dc1", raft: bool = False) -> Optional[dict[str, Any]]:
    """Raise :class:`DataDirError` if a server could not open ``path`` now (it is in
    use, of another format or another cluster's, or a Raft server's when ``raft`` is
    false and the other way round); changes nothing. Returns what the directory says
    of itself (None for a new one): ``bootstrap_secret``, the ACL bootstrap token's
    SecretID when the cluster was bootstrapped at its start."""
    data_dir = DataDir(path)
    try:
        if data_dir.is_new:
            return None
        data_dir.check_identity({"region": region, "datacenter": datacenter})
        check_mode(data_dir, raft)
        return {"bootstrap_secret": data_dir.meta(BOOTSTRAP_SECRET)}
    finally:
        data_dir.close()


def check_mode(data_dir: DataDir, raft: bool) -> None:
    """Refuse a single server's dir to a Raft server, and the other way round."""
    held = data_dir.meta(MODE_KEY) == RAFT_MODE
    if held and not raft:
        raise DataDirError(f"data dir {data_dir.path} belongs to a server of a Raft group; start it with "
                           "--raft-bind and --peers, or use a new dir")
    if raft and not held:
        raise DataDirError(f"data dir {data_dir.path} holds a single server's state, not a Raft server's; "
                           "start it without --raft-bind, or use a new dir")


def _restore(core: ServerCore, lifecycle: Lifecycle, data_dir: DataDir) -> None:
    # The restored state is big, long-lived and free of cycles: a collector walking it
    # again and again while it is built would cost more than building it (gcpolicy).
    with gcpolicy.paused():
        _restore_state(core, lifecycle, data_dir)
        if core.freeze_gc:
            # Frozen before the collector is back: its first run would walk it all.
            gcpolicy.adopt()


def _restore_state(core: ServerCore, lifecycle: Lifecycle, data_dir: DataDir) -> None:
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
        now = max(now, core.replay(data_dir.records(data_dir.snapshot_index())))
        rng = data_dir.rng_state()
        if rng is not None:
            core.rng.setstate(rng)
        if isinstance(core.clock, VirtualClock):
            core.clock.set_now(max(now, int(data_dir.meta("clock") or 0)))
        lifecycle.restart()
        lifecycle.resume(core.snapshot())
        core.restore_broker()
