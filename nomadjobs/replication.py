"""A cluster as one server of a Raft group (see :mod:`nomadjobs.core.raft` for the log).

What Nomad's leader does when it wins (``establishLeadership``) and when it loses
(``revokeLeadership``), on this project's parts: a new leader starts the lifecycles
(simulated clients, deployment watcher, periodic dispatcher, garbage collector) from
the state, re-queues the pending evaluations, rebuilds the blocked ones and reconciles
the job summaries in an entry of its own; the first leader of a new group also does
what a new single server does at start (its fleet, its bootstrap token). A server that
stops leading stops all of it.
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING, Callable, Optional

import attrs

from .core.durable import DataDir
from .core.raft import RaftSettings, Replica
from .core.server import ServerCore
from .lifecycle import Lifecycle
from .recovery import MODE_KEY, RAFT_MODE, check_mode, identity

if TYPE_CHECKING:
    from .cluster import Cluster

__all__ = ["RaftSettings", "start_replica", "RAFT_SUBDIR"]

log = logging.getLogger("nomadjobs.raft")

#: Where a data dir keeps the Raft journal and snapshot.
RAFT_SUBDIR = "raft"


def start_replica(cluster: "Cluster", settings: RaftSettings, data_dir: Optional[str | os.PathLike[str]],
                  first_start: Callable[[], None]) -> tuple[Replica, Optional[DataDir]]:
    """Join ``cluster`` to its Raft group (it starts as a follower with whatever its
    data dir holds). ``first_start`` runs on the first leader of a new group."""
    core, lifecycle = cluster.core, cluster.lifecycle
    lock_dir: Optional[DataDir] = None
    if data_dir is not None:
        lock_dir = DataDir(data_dir)  # one server per dir, this cluster's identity
        try:
            if lock_dir.is_new:
                lock_dir.initialize(identity(core))
                lock_dir.set_meta(MODE_KEY, RAFT_MODE)
            else:
                lock_dir.check_identity(identity(core))
                check_mode(lock_dir, raft=True)
            settings = attrs.evolve(settings, directory=os.path.join(os.fspath(data_dir), RAFT_SUBDIR))
        except BaseException:
            lock_dir.close()
            raise
    lifecycle.gc.stop()  # a server starts as a follower: no leader work yet
    replica = Replica(core, settings, on_lead=lambda term: _establish(core, lifecycle, term, first_start),
                      on_follow=lambda: _revoke(core, lifecycle))
    core.replica = replica
    return replica, lock_dir


def _establish(core: ServerCore, lifecycle: Lifecycle, term: int, first_start: Callable[[], None]) -> None:
    """Nomad's establishLeadership (under the core's lock, with writes allowed)."""
    # IDs from a generator of its own per term: the servers share a seed, and a new
    # leader must not draw the IDs an earlier one already used.
    core.rng.seed(f"{core.seed}/raft-term/{term}")
    fresh = core.db.latest_index == 0
    lifecycle.restart()
    core.establish_leadership()  # reconcileJobSummaries: an entry of the new term
    if fresh:
        first_start()
    state = core.snapshot()
    lifecycle.resume(state)
    core.blocked.rebuild(state)
    core.restore_broker()
    core.process_evals()
    log.info("leading at term %d from index %d", term, core.index)


def _revoke(core: ServerCore, lifecycle: Lifecycle) -> None:
    """Nomad's revokeLeadership: no timers, no queued evaluations, no collector."""
    core.clock.cancel_all()
    core.broker.clear()
    lifecycle.restart()
    lifecycle.gc.stop()
    log.info("no longer leading")
