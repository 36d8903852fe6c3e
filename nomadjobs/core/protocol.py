"""What services and lifecycles may use of the server core.

Nomad's endpoints and leader loops talk to a server through a handful of things: the
state store (snapshots, blocking waits), the Raft apply path, the eval broker and the
clock. :class:`Core` is that handful, so the layers above depend on a small seam
rather than on the whole :class:`~nomadjobs.core.server.ServerCore` (the durable and
replicated servers will offer the same seam over a log).
"""

from __future__ import annotations

import random
import threading
from pathlib import Path
from typing import Any, Callable, Optional, Protocol

from .. import structs as s
from ..clock import Clock
from ..fsm import ApplyResult
from ..limits import Limits
from ..state.mvcc import Database
from ..state.store import StateReader
from .raft import Replica
from .timetable import TimeTable

__all__ = ["Core", "Listener"]

#: Called after every applied command, with the command and its result.
Listener = Callable[[Any, ApplyResult], None]


class Core(Protocol):
    """The server core as the services and lifecycles see it."""

    #: Orders every write; timers and scheduler runs hold it too (re-entrant).
    lock: threading.RLock
    #: The state store (snapshots, blocking waits, dry-run transactions).
    db: Database
    clock: Clock
    #: The seeded generator behind every ID and scheduling choice.
    rng: random.Random
    seed: int
    region: str
    datacenter: str
    acl_enabled: bool
    limits: Limits
    #: Called after every applied command, in order (the lifecycles' hooks).
    listeners: list[Listener]
    #: Which index was current when (the garbage collector's thresholds).
    time_table: TimeTable
    #: The server's Raft group, when it is replicated.
    replica: Optional[Replica]

    def new_id(self) -> str: ...

    def data_dir(self) -> Optional[Path]: ...

    def now_ns(self) -> int: ...

    def snapshot(self) -> StateReader: ...

    def apply(self, command: Any) -> ApplyResult: ...

    def enqueue(self, ev: s.Evaluation) -> None: ...

    def process_evals(self) -> int: ...

    def unblock(self) -> int: ...
