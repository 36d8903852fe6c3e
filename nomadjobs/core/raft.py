"""Replicated servers: the FSM's commands go through a Raft log (PySyncObj), so every
server of a group applies the same commands in the same order.

How a write travels (the model is Nomad's: a leader decides everything, then submits):

* The leader applies a command at once, under the core's lock, as a single server
  does (it decides the IDs, times and placements before; the command carries them).
  :meth:`Replica.record` queues it with its index and time, and a sender thread submits
  what has queued as one Raft entry (``records``). The write is acknowledged only when
  :meth:`Replica.sync` has seen that entry committed, as the durable log's ``sync``.
* Every server applies committed entries in log order. A follower replays the
  records through the FSM without hooks (the index each lands on is checked); the
  leader only marks its own as committed.
* Each leader first commits a ``lead`` entry naming its term (Nomad's barrier). An
  entry of records is valid only if it carries the term of the latest ``lead`` entry
  and starts right after the last valid one, so an entry that a deposed leader
  submitted late is refused by every server alike.
* A leader that loses its leadership drops what it applied but did not see committed
  (:meth:`~nomadjobs.state.mvcc.Database.rewind` to the last committed state) and stops
  its leader work; whoever waits for those writes gets Raft's "leadership lost".

Persistence is PySyncObj's: its journal holds the log, its full dump a snapshot of
the state (taken in a forked child, so the servers go on), which a leader also sends
to a follower too far behind. Both hold pickled commands: a Raft port must only be
reachable by the group's own servers (it binds loopback unless told otherwise, and a
shared password then encrypts and authenticates the traffic).
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from pathlib import Path
from typing import Any, Callable, Optional

import attrs
from pysyncobj import SyncObj, SyncObjConf, replicated
from pysyncobj.syncobj import SyncObjConsumer
from pysyncobj.transport import TCPTransport

from ..errors import NomadError
from ..state.mvcc import Snapshot
from .durable import Record, SnapshotData, snapshot_payload
from .pickling import dumps, loads

__all__ = ["RaftSettings", "Replica", "NO_LEADER", "LEADERSHIP_LOST", "NOT_LEADER"]

log = logging.getLogger("nomadjobs.raft")

#: Nomad's error texts (structs.ErrNoLeader; hashicorp/raft's ErrLeadershipLost,
#: ErrNotLeader and ErrEnqueueTimeout).
NO_LEADER = "No cluster leader"
LEADERSHIP_LOST = "leadership lost while committing log"
NOT_LEADER = "node is not the leader"
ENQUEUE_TIMEOUT = "timed out enqueuing operation"

#: X-Nomad-LastContact of a server that never heard from a leader (as v0.7.1 answers).
NEVER_CONTACTED_MS = (2**63 - 1) // 10**6

# PySyncObj's states (pysyncobj.syncobj._RAFT_STATE).
FOLLOWER, CANDIDATE, LEADER = 0, 1, 2
STATE_NAMES = {FOLLOWER: "Follower", CANDIDATE: "Candidate", LEADER: "Leader"}

#: Records per Raft entry at most: entries stay a few MB, however far the leader ran ahead.
_MAX_BATCH = 1024
JOURNAL_FILE = "journal"
DUMP_FILE = "snapshot"


@attrs.frozen
class RaftSettings:
    """One server's place in a Raft group."""

    #: This server's Raft address (host:port), as its peers know it.
    bind: str
    #: The other servers' Raft addresses.
    peers: tuple[str, ...] = ()
    #: Where the journal and the snapshot live (None: in memory only).
    directory: Optional[str] = None
    #: This server's HTTP address, announced to the group when it leads (followers
    #: forward requests there).
    http_addr: str = ""
    #: Encrypts and authenticates the Raft traffic (needed off loopback).
    password: Optional[str] = None
    #: A follower that hears nothing from a leader for a random time in this range
    #: stands for election (Nomad's defaults give about 1 s).
    election_timeout: tuple[float, float] = (0.5, 1.0)
    #: How often a leader sends its heartbeat.
    heartbeat: float = 0.1
    #: A leader that has heard from no majority for this long steps down. Longer than
    #: the election timeout: a busy interpreter may hold the Raft thread up for a while.
    leader_lease: float = 2.0
    #: Log entries between snapshots (Nomad's snapshot_threshold).
    snapshot_threshold: int = 8192
    #: How long a write waits for its commit before it fails.
    apply_timeout: float = 30.0


class _Transport(TCPTransport):  # type: ignore[misc]  # PySyncObj ships no types
    """PySyncObj's TCP transport, with a switch that drops all Raft traffic of this
    server both ways (a network partition, for tests) and the time a leader was last
    heard from."""

    isolated = False
    #: time.monotonic() of the last message from a leader (append_entries).
    last_contact = 0.0

    def send(self, node: Any, message: Any) -> bool:
        if self.isolated:
            return False
        return bool(super().send(node, message))

    def _onMessageReceived(self, node: Any, message: Any) -> None:
        if self.isolated:
            return
        if isinstance(message, dict) and message.get("type") == "append_entries":
            self.last_contact = time.monotonic()
            message = self._keep_what_matches(message)
        super()._onMessageReceived(node, message)

    def _keep_what_matches(self, message: dict[str, Any]) -> dict[str, Any]:
        """Guard against two gaps in PySyncObj 0.3.17's follower. First, it drops every entry
        after ``prevLogIdx`` before it appends, even entries that match. A leader that
        sends an entry again (after a stale reset of its next index) then makes the
        follower forget entries it already acknowledged, and the leader may count them
        as replicated and commit them with that follower's vote; should the leader die
        then, a committed write is lost (the chaos test saw it).

        Raft drops entries only where they conflict. When this server's last entry is
        of the sender's term, its whole log is the sender's (it was accepted through
        that leader's consistency check), so a message whose entries this log already
        holds is answered as a heartbeat at the end of the log: nothing is dropped,
        and the leader learns the true match index.

        Second, it never drops a conflicting tail itself (see below)."""
        if "prevLogIdx" not in message or message.get("transmission") is not None:
            return message
        sync_obj = self._syncObj
        raft_log = sync_obj._SyncObj__raftLog
        if not len(raft_log):
            return message
        first_index = raft_log[0][1]

        def term_at(index: int) -> Optional[int]:
            pos = index - first_index
            return raft_log[pos][2] if 0 <= pos < len(raft_log) else None

        prev = message["prevLogIdx"]
        held = term_at(prev)
        if held is not None and held != message["prevLogTerm"]:
            # Our entries from ``prev`` on conflict with the leader's. PySyncObj would
            # only answer "go back one", and the later messages of the same burst
            # (beyond our log) answer "go to your end": the leader's next index swings
            # between the two and a follower with a long conflicting tail never
            # catches up (the chaos test saw one stuck for good). Raft drops the
            # conflicting entries; then every answer points the same way.
            if message["term"] >= sync_obj.raftCurrentTerm and prev > sync_obj.raftLastApplied:
                sync_obj._SyncObj__deleteEntriesFrom(prev)
            return message
        last_index, last_term = raft_log[-1][1], raft_log[-1][2]
        entries = message.get("entries") or []
        end = entries[-1][1] if entries else prev
        if end >= last_index or last_term != message["term"] or held is None:
            return message  # nothing of this leader's beyond the message: handled as sent
        if any(term_at(index) != term for _, index, term in entries):
            return message
        return {**message, "prevLogIdx": last_index, "prevLogTerm": last_term, "entries": []}


@attrs.frozen
class _GroupState:
    """What the log says of the group, beside the tables: the term of the latest
    ``lead`` entry, who that leader is (Raft and HTTP addresses), and the last index
    a valid entry brought."""

    epoch: int = 0
    leader: str = ""
    leader_http: str = ""
    applied: int = 0


class _Capture:
    """The state for a snapshot; pickled (in PySyncObj's forked child) as the durable
    log's snapshot payload, so it is written without stopping the servers."""

    def __init__(self, view: Snapshot, time_table: list[list[Optional[int]]], now_ns: int,
                 group: _GroupState) -> None:
        self.view, self.time_table, self.now_ns, self.group = view, time_table, now_ns, group

    def __reduce__(self) -> tuple[Any, ...]:
        payload, _ = snapshot_payload(self.view, self.time_table, self.now_ns)
        return _Loaded, (payload, attrs.astuple(self.group))


class _Loaded:
    """A snapshot read back: the tables and the group state."""

    def __init__(self, payload: bytes, group: tuple[Any, ...]) -> None:
        self.data = SnapshotData(*loads(payload))
        self.group = _GroupState(*group)


class _StateConsumer(SyncObjConsumer):  # type: ignore[misc]
    """Hands PySyncObj the state for its snapshots and takes it back on a restore."""

    def __init__(self, replica: "Replica") -> None:
        self._replica = replica
        super().__init__()

    def _serialize(self) -> dict[str, Any]:
        return {"state": self._replica._capture()}

    def _deserialize(self, data: dict[str, Any]) -> None:
        loaded = data.get("state")
        if isinstance(loaded, _Loaded):
            self._replica._install(loaded)


class _RaftNode(SyncObj):  # type: ignore[misc]
    """The PySyncObj node: two replicated operations, applied on every server in log
    order (by PySyncObj's thread)."""

    def __init__(self, replica: "Replica", settings: RaftSettings, conf: SyncObjConf) -> None:
        self._replica = replica
        super().__init__(settings.bind, list(settings.peers), conf, consumers=[replica._consumer],
                         transportClass=_Transport)

    @replicated  # type: ignore[untyped-decorator]  # PySyncObj ships no types
    def lead(self, term: int, addr: str, http_addr: str) -> None:
        self._replica._apply_lead(term, addr, http_addr)

    @replicated  # type: ignore[untyped-decorator]
    def records(self, term: int, first: int, blob: bytes) -> bool:
        return self._replica._apply_records(term, first, blob)


class Replica:
    """A :class:`~nomadjobs.core.server.ServerCore` as one server of a Raft group (see
    the module docstring). ``on_lead(term)`` runs, under the core's lock, when this
    server's ``lead`` entry is committed (Nomad's establishLeadership); ``on_follow()``
    when it stops leading (revokeLeadership)."""

    def __init__(self, core: Any, settings: RaftSettings, on_lead: Callable[[int], None],
                 on_follow: Callable[[], None]) -> None:
        self.core = core
        self.settings = settings
        self._on_lead = on_lead
        self._on_follow = on_follow
        self._cv = threading.Condition()
        self.group = _GroupState()
        #: The state at ``group.applied``: what a rewind goes back to.
        self.committed_view: Snapshot = core.db.snapshot()
        #: The term in which this server leads and takes writes (None: it does not).
        self.serving_term: Optional[int] = None
        self._raft_term: Optional[int] = None  # term in which PySyncObj made it leader
        self._queue: list[tuple[int, int, Any, Snapshot]] = []  # records not yet submitted
        self._queue_term = 0
        self._pending: dict[tuple[int, int], tuple[int, Snapshot]] = {}  # (term, first) -> (last, view)
        self._written = threading.local()  # per thread: (index, term) of its last write
        self._events: queue.Queue[tuple[str, int]] = queue.Queue()
        self._closed = False
        self._consumer = _StateConsumer(self)
        directory = settings.directory
        if directory is not None:
            Path(directory).mkdir(parents=True, exist_ok=True)
        low, high = settings.election_timeout
        conf = SyncObjConf(
            journalFile=os.path.join(directory, JOURNAL_FILE) if directory else None,
            fullDumpFile=os.path.join(directory, DUMP_FILE) if directory else None,
            password=settings.password,
            # Send each entry at once rather than on the next heartbeat: a write waits
            # for its commit, so the round trip is its latency.
            appendEntriesUseBatch=False,
            raftMinTimeout=low, raftMaxTimeout=high, appendEntriesPeriod=settings.heartbeat,
            leaderFallbackTimeout=settings.leader_lease,
            connectionTimeout=max(high * 2, 2.0), connectionRetryTime=0.5,
            logCompactionMinEntries=settings.snapshot_threshold,
            logCompactionMinTime=10**9,  # by size only
            onStateChanged=self._state_changed,
            commandsWaitLeader=True,
        )
        self._sender = threading.Thread(target=self._send_loop, name="nomadjobs-raft-sender", daemon=True)
        self._leader_worker = threading.Thread(target=self._leader_loop, name="nomadjobs-raft-leader",
                                               daemon=True)
        self._sender.start()
        self._leader_worker.start()
        self.node = _RaftNode(self, settings, conf)

    # --- what the rest of the server asks ------------------------------------------------
    @property
    def transport(self) -> _Transport:
        return self.node._SyncObj__transport  # type: ignore[no-any-return]

    def is_leader(self) -> bool:
        return self.node._isLeader()  # type: ignore[no-any-return]

    def leader_addr(self) -> Optional[str]:
        """The Raft address of the leader this server knows of, if any."""
        leader = self.node._getLeader()
        return leader.address if leader is not None else None

    def leader_http(self) -> Optional[str]:
        """Where the known leader takes HTTP requests: None until its ``lead`` entry is
        applied here (or if it has no address), ``""`` for this server itself."""
        addr = self.leader_addr()
        if addr is None:
            return None
        if addr == self.settings.bind:
            return "" if self.serving_term is not None else None
        group = self.group
        if group.leader == addr and group.leader_http:
            return group.leader_http
        return None

    def wait_for_leader(self, timeout: float) -> Optional[str]:
        """:meth:`leader_http` once there is one, waiting up to ``timeout`` seconds (as
        Nomad holds an RPC while there is no leader); None if there is still none."""
        deadline = time.monotonic() + timeout
        with self._cv:
            while True:
                target = self.leader_http()
                if target is not None:
                    return target
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._closed:
                    return None
                # Woken by a lead entry or a change of state; the short cap covers a
                # leader learned from a heartbeat alone (PySyncObj tells no one).
                self._cv.wait(min(remaining, 0.05))

    def known_leader(self) -> bool:
        return self.leader_addr() is not None

    def last_contact_ms(self) -> int:
        """Milliseconds since the leader was last heard from (0 on the leader)."""
        if self.is_leader():
            return 0
        contact = self.transport.last_contact
        # Never heard from one: Nomad reports the largest duration (math.MaxInt64 ns) in ms.
        return int((time.monotonic() - contact) * 1000) if contact else NEVER_CONTACTED_MS

    def reachable(self, addr: str) -> bool:
        """Whether this server has a connection to the peer at ``addr``."""
        if self.transport.isolated:
            return False
        return any(node.address == addr and self.node.isNodeConnected(node) for node in self.node.otherNodes)

    def raft_stats(self) -> dict[str, str]:
        """The agent's ``stats.raft`` (Nomad's raft.Stats, the fields clients read)."""
        raw = self.node.getStatus()
        # In the FSM's indexes (one Raft entry carries many commands): committed is
        # what is applied; the last index includes a leader's writes not yet committed.
        return {"state": STATE_NAMES.get(raw["state"], str(raw["state"])), "term": str(raw["raft_term"]),
                "applied_index": str(self.group.applied), "commit_index": str(self.group.applied),
                "last_log_index": str(self.core.index), "num_peers": str(len(self.settings.peers)),
                "last_contact": f"{self.last_contact_ms()}ms"}

    def last_log_index(self) -> int:
        return int(self.node._SyncObj__getCurrentLogIndex())

    def servers(self) -> list[str]:
        """Every server of the group, by Raft address."""
        return sorted({self.settings.bind, *self.settings.peers})

    def status(self) -> dict[str, Any]:
        """This server's view of the group (the admin endpoint's answer). ``Index`` and
        ``AppliedIndex`` are the FSM's (applied here, committed); ``CommitIndex``,
        ``FirstLogIndex`` and ``LastLogIndex`` are positions in the Raft log."""
        raw = self.node.getStatus()
        return {"State": STATE_NAMES.get(raw["state"], str(raw["state"])), "Term": raw["raft_term"],
                "Leader": self.leader_addr() or "", "Servers": self.servers(), "Self": self.settings.bind,
                "AppliedIndex": self.group.applied, "Index": self.core.index,
                "CommitIndex": raw["commit_idx"], "LastLogIndex": self.last_log_index(),
                "FirstLogIndex": int(self.node._SyncObj__raftLog[0][1]), "Isolated": self.transport.isolated,
                "Serving": self.serving_term is not None}

    # --- writes on the leader ------------------------------------------------------------------
    def check_writable(self) -> None:
        """Raise unless this server leads (a library caller on a follower)."""
        if self.serving_term is None:
            raise NomadError(NOT_LEADER if self.known_leader() else NO_LEADER, 500)

    def record(self, index: int, command: Any, now_ns: int) -> None:
        """Queue an applied command for the log (under the core's lock, in index order)."""
        term = self.serving_term
        if term is None:
            # The leadership went between the core's check and this write: it will be
            # rewound, and its writer's sync() fails.
            self._written.last = (index, -1)
            return
        with self._cv:
            if self._queue and self._queue_term != term:
                self._queue.clear()
            self._queue.append((index, now_ns, command, self.core.db.snapshot()))
            self._queue_term = term
            self._cv.notify_all()
        self._written.last = (index, term)

    def sync(self) -> None:
        """Return once the writes this thread made are committed; NomadError (500) if
        the leadership was lost first or the commit takes too long."""
        last = getattr(self._written, "last", None)
        if last is None:
            return
        self._written.last = None  # answered once, whatever the outcome
        index, term = last
        deadline = time.monotonic() + self.settings.apply_timeout
        with self._cv:
            while True:
                if self.serving_term != term:
                    raise NomadError(LEADERSHIP_LOST, 500)
                if self.group.applied >= index:
                    return
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise NomadError(ENQUEUE_TIMEOUT, 500)
                self._cv.wait(remaining)

    def _send_loop(self) -> None:
        while True:
            with self._cv:
                while not self._queue and not self._closed:
                    self._cv.wait()
                if self._closed:
                    return
                batch, term = self._queue[:_MAX_BATCH], self._queue_term
                del self._queue[:_MAX_BATCH]
                first, last, view = batch[0][0], batch[-1][0], batch[-1][3]
                self._pending[(term, first)] = (last, view)
            try:
                blob = dumps([(index, now_ns, command) for index, now_ns, command, _ in batch])
                self.node.records(term, first, blob)
            except Exception:  # a broken record must not end replication
                log.exception("could not submit records %d-%d", first, last)

    # --- leadership ------------------------------------------------------------------------------
    def _state_changed(self, old: int, new: int) -> None:
        # PySyncObj's thread: no core lock here, the leader thread does the work.
        if new == LEADER:
            term = self.node.raftCurrentTerm if hasattr(self, "node") else None
            if term is not None:
                self._raft_term = term
                self.node.lead(term, self.settings.bind, self.settings.http_addr)
        elif old == LEADER:
            self._raft_term = None
            with self._cv:
                self.serving_term = None
                self._queue.clear()
                self._pending.clear()
                self._cv.notify_all()
            self._events.put(("follow", 0))
        with self._cv:
            self._cv.notify_all()

    def _leader_loop(self) -> None:
        while True:
            kind, term = self._events.get()
            if kind == "stop":
                return
            try:
                with self.core.lock:
                    if kind == "lead":
                        if self._raft_term != term or self.serving_term is not None:
                            continue  # lost again before it could start
                        self._rewind()
                        with self._cv:
                            self.serving_term = term
                        self._on_lead(term)
                    else:
                        if self.serving_term is None:
                            self._on_follow()
                            self._rewind()
            except NomadError as exc:  # the leadership went while it was established
                log.warning("leadership of term %d not established: %s", term, exc)
            except Exception:
                log.exception("leader work failed (%s, term %d)", kind, term)
            finally:
                with self._cv:
                    self._cv.notify_all()

    def _rewind(self) -> None:
        """Drop what was applied here but not committed (under the core's lock)."""
        if self.core.db.latest_index != self.group.applied:
            log.info("dropping uncommitted writes %d-%d", self.group.applied + 1, self.core.db.latest_index)
            self.core.db.rewind(self.committed_view)

    # --- applying committed entries (PySyncObj's thread) -----------------------------------------
    def _apply_lead(self, term: int, addr: str, http_addr: str) -> None:
        with self._cv:
            self.group = attrs.evolve(self.group, epoch=term, leader=addr, leader_http=http_addr)
            self._cv.notify_all()
        if self._raft_term == term:
            self._events.put(("lead", term))

    def _apply_records(self, term: int, first: int, blob: bytes) -> bool:
        group = self.group
        if term != group.epoch or first != group.applied + 1:
            return False  # from a deposed leader: refused alike everywhere
        with self._cv:
            own = self._pending.pop((term, first), None) if self.serving_term == term else None
            if own is not None:
                last, view = own
                self.group = attrs.evolve(group, applied=last)
                self.committed_view = view
                self._cv.notify_all()
                return True
        started = time.monotonic()
        records = [Record(*item) for item in loads(blob)]
        with self.core.lock:
            self._rewind()
            self.core.follow(records)
            with self._cv:
                self.group = attrs.evolve(self.group, applied=records[-1].log_index)
                self.committed_view = self.core.db.snapshot()
                self._cv.notify_all()
        self._busy_since(started)
        return True

    def _busy_since(self, started: float) -> None:
        """Applying ran on PySyncObj's thread, which meanwhile read no heartbeat: push
        its election deadline back by the time it took, or a follower that applied a
        big entry (or a snapshot) would stand for election against a live leader."""
        took = time.monotonic() - started
        if took > 0.05:
            self.node._SyncObj__raftElectionDeadline += took

    # --- snapshots -------------------------------------------------------------------------------
    def _capture(self) -> _Capture:
        return _Capture(self.committed_view, self.core.time_table.serialize(), self.core.now_ns(), self.group)

    def _install(self, loaded: _Loaded) -> None:
        """A snapshot replaces the state: at start, or sent by the leader."""
        started = time.monotonic()
        data = loaded.data
        with self.core.lock:
            self.core.restore({name: rows for name, (_, rows) in data.tables.items()},
                              {name: index for name, (index, _) in data.tables.items()}, data.last_index)
            self.core.time_table.restore(data.time_table)
            with self._cv:
                self.group = loaded.group
                self.committed_view = self.core.db.snapshot()
                self._cv.notify_all()
        if hasattr(self, "node"):  # not while the node is built (a snapshot read at start)
            self._busy_since(started)
        log.info("installed a snapshot at index %d", data.last_index)

    # --- faults and shutdown ---------------------------------------------------------------------
    def isolate(self, isolated: bool = True) -> None:
        """Drop (or stop dropping) all of this server's Raft traffic, both ways."""
        self.transport.isolated = isolated

    def close(self) -> None:
        with self._cv:
            self._closed = True
            self._cv.notify_all()
        self._events.put(("stop", 0))
        try:
            self.node.destroy_synchronous()
        except Exception:  # pragma: no cover - a transport already torn down
            log.exception("stopping the Raft node")
        self._sender.join(timeout=5)
        self._leader_worker.join(timeout=5)
