"""The durable log beneath the FSM: every applied command in a SQLite database in the
data directory, bounded by snapshots of the whole state.

The FSM applies a command in memory first; :meth:`DurableLog.record` (called under
the core's lock, in index order) queues it, and one writer thread appends what has
queued in one transaction (group commit), as one row. A write is acknowledged only
after :meth:`DurableLog.sync` has seen it committed, so an acknowledged write survives
a crash; what was applied but not yet committed was never acknowledged. Once the log
holds ``SNAPSHOT_THRESHOLD`` records (Nomad's Raft snapshot threshold), or as many as
the state has rows if that is more, a snapshot of the state is written by a background
thread and the log before it dropped.

SQLite does what a home-made log would have to: a transaction is all or nothing, and
a torn last write (a crash in the middle of a commit) is found by the write-ahead
log's checksums and rolled back when the database is next opened. Durability:
``synchronous=NORMAL`` (the default) survives a crash of the process, ``FULL``
(``fsync=True``) also a crash of the machine (docs/durability.md).

Commands and snapshots are stored pickled: a data directory is the server's own
trusted state, like Nomad's, and must not be loaded from an untrusted source.
"""

from __future__ import annotations

import array
import fcntl
import json
import os
import queue
import sqlite3
import struct
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Callable, Iterator, NamedTuple, Optional

from ..state.mvcc import Snapshot
from .pickling import dumps, loads

__all__ = ["DataDir", "DataDirError", "DurabilityError", "DurableLog", "Record", "SnapshotData",
           "FORMAT", "FORMAT_VERSION", "SNAPSHOT_THRESHOLD"]

FORMAT = "nomadjobs-data-dir"
FORMAT_VERSION = 1
#: Records between snapshots (Nomad's default Raft snapshot_threshold); at least as
#: many as the state has rows, so that writing snapshots costs O(1) per record however
#: big the state grows (a snapshot writes every row; a replay reads no more records).
SNAPSHOT_THRESHOLD = 8192
_CHUNK = 16 * 1024 * 1024  # a snapshot is stored in pieces this big
DB_FILE = "state.db"
LOCK_FILE = "lock"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS log (last INTEGER PRIMARY KEY, first INTEGER NOT NULL, records BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS snapshot (seq INTEGER PRIMARY KEY, chunk BLOB NOT NULL);
"""


class DataDirError(Exception):
    """A data directory this server cannot use (in use, another format, another cluster)."""


class DurabilityError(RuntimeError):
    """Writing the log failed: what is applied in memory may not be on disk."""


class Record(NamedTuple):
    log_index: int
    now_ns: int
    command: Any


class SnapshotData(NamedTuple):
    """A whole state as the snapshot stored it."""

    last_index: int
    tables: dict[str, tuple[int, list[Any]]]  # name -> (table index, rows)
    time_table: list[list[Optional[int]]]
    now_ns: int


def pack_rng(state: tuple[int, tuple[int, ...], Optional[float]]) -> bytes:
    """``random.getstate()`` as bytes: its version, gauss flag and value, then the
    Mersenne Twister's 625 words (packed in C: it is written with every commit)."""
    version, words, gauss = state
    head = struct.pack("<Bd?", version, gauss or 0.0, gauss is not None)
    return head + array.array("I", words).tobytes()


def unpack_rng(blob: bytes) -> tuple[int, tuple[int, ...], Optional[float]]:
    version, gauss, has_gauss = struct.unpack_from("<Bd?", blob)
    words = array.array("I")
    words.frombytes(blob[struct.calcsize("<Bd?"):])
    return version, tuple(words), gauss if has_gauss else None


class DataDir:
    """The directory: its lock, its SQLite database and what the meta table says.
    Not thread-safe: the owner serializes its use."""

    def __init__(self, path: str | os.PathLike[str], fsync: bool = False) -> None:
        self.path = Path(path)
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DataDirError(f"cannot create data dir {self.path}: {exc.strerror}") from None
        self._lock_file = self._take_lock()
        try:
            self.db = sqlite3.connect(self.path / DB_FILE, isolation_level=None, check_same_thread=False)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute(f"PRAGMA synchronous={'FULL' if fsync else 'NORMAL'}")
            self.db.executescript(_SCHEMA)
            self._check_format()
        except sqlite3.DatabaseError as exc:
            self._release_lock()
            raise DataDirError(f"data dir {self.path} holds no readable state ({DB_FILE}: {exc})") from None
        except BaseException:
            self._release_lock()
            raise

    def _take_lock(self) -> Any:
        lock = open(self.path / LOCK_FILE, "a+")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            lock.seek(0)
            holder = lock.read().strip() or "another process"
            lock.close()
            raise DataDirError(f"data dir {self.path} is in use by another nomadjobs server (pid {holder})") \
                from None
        lock.seek(0)
        lock.truncate()
        lock.write(str(os.getpid()))
        lock.flush()
        return lock

    def _release_lock(self) -> None:
        if self._lock_file is not None:
            fcntl.flock(self._lock_file, fcntl.LOCK_UN)
            self._lock_file.close()
            self._lock_file = None

    def _check_format(self) -> None:
        found = self.meta("format")
        if found is None:
            if self.db.execute("SELECT 1 FROM log LIMIT 1").fetchone() is not None:
                raise DataDirError(f"data dir {self.path} has a log but no format marker")
            return
        version = self.meta("format_version")
        if found != FORMAT or version is None:
            raise DataDirError(f"data dir {self.path} was not written by nomadjobs ({found!r})")
        if int(version) != FORMAT_VERSION:
            newer = int(version) > FORMAT_VERSION
            raise DataDirError(
                f"data dir {self.path} was written in format version {version} by "
                f"{'a newer' if newer else 'an older'} nomadjobs; this one reads version {FORMAT_VERSION}")

    # --- meta ------------------------------------------------------------------------------
    def meta(self, key: str) -> Any:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row is not None else None

    def set_meta(self, key: str, value: Any) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, json.dumps(value)))

    def blob(self, key: str) -> Optional[bytes]:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return bytes(row[0]) if row is not None else None

    def set_blob(self, key: str, value: bytes) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    def rng_state(self) -> Any:
        """The ID generator's state after the last committed record, or None."""
        blob = self.blob("rng")
        return unpack_rng(blob) if blob is not None else None

    @property
    def is_new(self) -> bool:
        return self.meta("format") is None

    def initialize(self, identity: dict[str, Any]) -> None:
        """Mark a new directory as this cluster's."""
        with self.transaction():
            self.set_meta("format", FORMAT)
            self.set_meta("format_version", FORMAT_VERSION)
            self.set_meta("cluster_id", str(uuid.uuid4()))
            self.set_meta("identity", identity)

    def check_identity(self, identity: dict[str, Any]) -> None:
        """Refuse a directory written by a cluster configured otherwise."""
        stored = self.meta("identity") or {}
        differ = sorted(k for k in identity if k in stored and stored[k] != identity[k])
        if differ:
            said = ", ".join(f"{k} {stored[k]!r} (asked for {identity[k]!r})" for k in differ)
            raise DataDirError(f"data dir {self.path} belongs to another cluster: {said}")

    def transaction(self) -> "_Transaction":
        return _Transaction(self.db)

    # --- reading back --------------------------------------------------------------------
    def snapshot_index(self) -> int:
        return int(self.meta("snapshot_index") or 0)

    def read_snapshot(self) -> Optional[SnapshotData]:
        chunks = [row[0] for row in self.db.execute("SELECT chunk FROM snapshot ORDER BY seq")]
        if not chunks:
            return None
        data = loads(b"".join(chunks))
        return SnapshotData(*data)

    def records(self, after: int) -> Iterator[Record]:
        """The logged commands after index ``after``, in order. A row is one commit:
        the records it carried, pickled together (a job is written once per commit,
        not once per command that holds it)."""
        for (blob,) in self.db.execute("SELECT records FROM log WHERE last > ? ORDER BY last", (after,)):
            for index, now_ns, command in loads(blob):
                if index > after:
                    yield Record(index, now_ns, command)

    def close(self) -> None:
        try:
            self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self.db.close()
        finally:
            self._release_lock()


class _Transaction:
    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> sqlite3.Connection:
        self.db.execute("BEGIN IMMEDIATE")
        return self.db

    def __exit__(self, kind: Any, *_: Any) -> None:
        self.db.execute("COMMIT" if kind is None else "ROLLBACK")


def snapshot_payload(snap: Snapshot, time_table: list[list[Optional[int]]], now_ns: int) -> tuple[bytes, int]:
    """A whole state as a snapshot stores it (see :class:`SnapshotData`), and its rows."""
    tables = {name: (snap.table_index(name), list(snap.scan(name))) for name in snap.tables}
    rows = sum(len(table_rows) for _, table_rows in tables.values())
    return dumps(tuple(SnapshotData(snap.latest_index, tables, time_table, now_ns))), rows


class _Snapshot(NamedTuple):
    last_index: int
    blob: bytes
    replace: bool  # the state was replaced (load, reset): the whole log goes
    rows: int  # how many rows it holds
    rng_state: Any = None  # a replacement's ID generator state


class DurableLog:
    """Group commit of the FSM's commands into a :class:`DataDir` (see the module
    docstring). ``record`` is called in index order under the core's lock."""

    def __init__(self, data_dir: DataDir, lock: Any, rng_state: Callable[[], Any],
                 snapshot_threshold: int = SNAPSHOT_THRESHOLD, last_index: int = 0, since_snapshot: int = 0,
                 state_rows: int = 0) -> None:
        self.dir = data_dir
        #: The core's write lock and its ID generator: the writer takes a batch and the
        #: generator's state together under the lock, so the state stored with a commit
        #: is the one right after its last command (draws made since by work not yet
        #: applied are kept too: their IDs are skipped after a restart, never reused).
        self._core_lock = lock
        self._rng_state = rng_state
        self.snapshot_threshold = snapshot_threshold
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._cond = threading.Condition()
        self._recorded = last_index  # the last index queued
        self._durable = last_index  # the last index committed
        self._since_snapshot = since_snapshot
        self._state_rows = state_rows  # rows in the last snapshot written
        self._snapshotting = False  # one is due or being written (written by the writer thread)
        self._in_flight = False  # one was captured and is being written
        self._error: Optional[BaseException] = None
        self._closed = False
        #: Set by the writer when a snapshot is due; the next record() captures one.
        self._want_snapshot = False
        self._thread = threading.Thread(target=self._write_loop, name="nomadjobs-durable-log", daemon=True)
        self._thread.start()

    # --- called by the core ------------------------------------------------------------------
    def record(self, index: int, command: Any, now_ns: int, capture: Any = None) -> None:
        """Queue the command applied at ``index``. ``capture``, if a snapshot is due,
        is a callable giving (db snapshot, time table, now) at this index."""
        # No lock: the caller holds the core's, and the writer only reads these.
        if self._closed:
            raise DurabilityError("the durable log is closed")
        self._recorded = index
        snapshot_due = self._want_snapshot and capture is not None
        if snapshot_due:
            self._want_snapshot = False
            self._in_flight = True
        self._queue.put((index, now_ns, command))
        if snapshot_due:
            threading.Thread(target=self._snapshot, args=(capture(),), name="nomadjobs-snapshot",
                             daemon=True).start()

    def replaced(self, snap: Snapshot, time_table: list[list[Optional[int]]], now_ns: int,
                 rng_state: Any = None) -> None:
        """The state was replaced wholesale (a load or a reset): write it as the new
        base, before anything recorded after it (with the ID generator's state, when
        given)."""
        with self._cond:
            self._recorded = snap.latest_index
        blob, rows = snapshot_payload(snap, time_table, now_ns)
        self._queue.put(_Snapshot(snap.latest_index, blob, True, rows, rng_state))

    def note_clock(self, now_ns: int) -> None:
        """The virtual clock moved without a write: keep where it is."""
        self._queue.put(("clock", now_ns))

    def put_meta(self, key: str, value: Any) -> None:
        """Keep a JSON value in the directory's meta table (through the writer)."""
        self._queue.put(("meta", key, value))

    def _snapshot(self, captured: tuple[Snapshot, list[list[Optional[int]]], int]) -> None:
        """The background thread of a periodic snapshot: pickle it, hand it to the writer."""
        snap, time_table, now_ns = captured
        try:
            blob, rows = snapshot_payload(snap, time_table, now_ns)
        except BaseException as exc:  # noqa: BLE001 - reported to every later sync
            self._fail(exc)
            return
        self._queue.put(_Snapshot(snap.latest_index, blob, False, rows))

    # --- the writer thread ---------------------------------------------------------------------
    def _take(self) -> tuple[list[Any], Any]:
        """Everything queued, and the ID generator's state after it."""
        batch = [self._queue.get()]
        with self._core_lock:
            while True:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            rng_state = self._rng_state() if any(type(item) is tuple and len(item) == 3
                                                 and type(item[0]) is int for item in batch) else None
        return batch, rng_state

    def _write_loop(self) -> None:
        while True:
            batch, rng_state = self._take()
            stop = any(item is None for item in batch)
            try:
                self._write(batch, rng_state)
            except BaseException as exc:  # noqa: BLE001 - the server must learn of it
                self._fail(exc)
                return
            if stop:
                return

    def _write(self, batch: list[Any], rng_state: Any) -> None:
        records: list[tuple[int, int, Any]] = []
        clock = None
        last = None
        with self.dir.transaction() as db:
            for item in batch:
                if item is None:
                    continue
                if isinstance(item, _Snapshot):
                    self._flush(db, records, clock)
                    records, clock = [], None
                    self._put_snapshot(db, item)
                elif isinstance(item, tuple) and item[0] == "clock":
                    clock = item[1]
                elif isinstance(item, tuple) and item[0] == "meta":
                    self.dir.set_meta(item[1], item[2])
                else:
                    records.append(item)
                    last = item[0]
            self._flush(db, records, clock)
            if rng_state is not None:
                self.dir.set_blob("rng", pack_rng(rng_state))
        with self._cond:
            if last is not None:
                self._durable = max(self._durable, last)
            for item in batch:
                if isinstance(item, _Snapshot):
                    self._durable = max(self._durable, item.last_index)
            self._cond.notify_all()

    def _flush(self, db: sqlite3.Connection, records: list[tuple[int, int, Any]], clock: Optional[int]) -> None:
        if records:
            db.execute("INSERT OR REPLACE INTO log (last, first, records) VALUES (?, ?, ?)",
                       (records[-1][0], records[0][0], dumps(records)))
            self._since_snapshot += len(records)
            if self._since_snapshot >= max(self.snapshot_threshold, self._state_rows) and not self._snapshotting:
                self._snapshotting = True
                self._want_snapshot = True
        if clock is not None:
            self.dir.set_meta("clock", clock)

    def _put_snapshot(self, db: sqlite3.Connection, snap: _Snapshot) -> None:
        db.execute("DELETE FROM snapshot")
        for seq, at in enumerate(range(0, len(snap.blob), _CHUNK)):
            db.execute("INSERT INTO snapshot (seq, chunk) VALUES (?, ?)", (seq, snap.blob[at:at + _CHUNK]))
        if snap.replace:
            db.execute("DELETE FROM log")
        else:
            db.execute("DELETE FROM log WHERE last <= ?", (snap.last_index,))
        self.dir.set_meta("snapshot_index", snap.last_index)
        if snap.rng_state is not None:
            self.dir.set_blob("rng", pack_rng(snap.rng_state))
        self._since_snapshot = 0 if snap.replace else max(0, self._since_snapshot - self.snapshot_threshold)
        self._state_rows = snap.rows
        if not snap.replace:
            self._snapshotting = False
            with self._cond:
                self._in_flight = False

    def _fail(self, exc: BaseException) -> None:
        with self._cond:
            self._error = exc
            self._cond.notify_all()

    # --- waiting and closing -----------------------------------------------------------------------
    def sync(self, index: Optional[int] = None, timeout: Optional[float] = None) -> None:
        """Return once everything recorded up to ``index`` (default: everything
        recorded so far) is committed; raise :class:`DurabilityError` if the log failed."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            target = self._recorded if index is None else index
            while self._durable < target and self._error is None:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise DurabilityError(f"the durable log did not reach index {target} in {timeout}s")
                self._cond.wait(remaining)
            if self._error is not None:
                raise DurabilityError(f"the durable log failed: {self._error}") from self._error

    @property
    def durable_index(self) -> int:
        return self._durable

    def wait_for_snapshot(self, timeout: float) -> None:
        """Return once no snapshot taken is still being written (tests and benchmarks;
        one that is due is taken at the next write)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._in_flight and self._error is None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise DurabilityError(f"no snapshot written in {timeout}s")
                self._cond.wait(remaining)

    @property
    def records_since_snapshot(self) -> int:
        """Log records a restart would replay (as far as the writer has seen)."""
        return self._since_snapshot

    def close(self) -> None:
        """Commit what is queued (a snapshot being written included) and close the
        directory."""
        with self._cond:
            if self._closed:
                return
            while self._in_flight and self._error is None:
                self._cond.wait()
            self._closed = True
        self._queue.put(None)
        self._thread.join()
        self.dir.close()
