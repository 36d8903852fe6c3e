"""The client agent's file streams (v0.7.1 ``command/agent/fs_endpoint.go``:
``StreamFramer`` and ``stream``): ``/v1/client/fs/stream`` and ``logs?follow=true``.

A simulated file changes only when its allocation's row does (a task that starts
again writes its output again), so a follower waits on that row in the state store
instead of polling a file, and between changes sends the framer's heartbeat once a
second, as Nomad does. A follower ends when its file goes away (the allocation is
collected: a ``file deleted`` frame), at the first beat after the server closes, or
when its reader has gone (the heartbeat's write fails, or ``alive`` says so).
"""

from __future__ import annotations

import base64
import json
import threading
import time
from typing import Callable, Iterator, Optional

from .state.mvcc import Database
from .state.store import ALLOCS, StateReader

__all__ = ["FRAME_BYTES", "HEARTBEAT_SECONDS", "frames", "Follower", "DELETED", "TRUNCATED"]

FRAME_BYTES = 64 * 1024  # the framer's largest frame
HEARTBEAT_SECONDS = 1.0  # streamHeartbeatRate
DELETED = "file deleted"
TRUNCATED = "file truncated"
HEARTBEAT = b"{}"  # an empty StreamFrame: every field is omitempty

#: What a follower reads: the file's bytes in a state, or None once it is gone.
Reader = Callable[[StateReader], Optional[bytes]]


def _frame(offset: int, data: bytes, file: str, event: str) -> bytes:
    """One StreamFrame as Nomad's codec writes it: fields in declaration order, every
    one omitted when empty, no separator after it."""
    out: dict[str, object] = {}
    if offset:
        out["Offset"] = offset
    if data:
        out["Data"] = base64.b64encode(data).decode()
    if file:
        out["File"] = file
    if event:
        out["FileEvent"] = event
    return json.dumps(out, separators=(",", ":")).encode()


def frames(data: bytes, start: int, file: str, plain: bool, event: str = "") -> list[bytes]:
    """``data`` (read from ``start`` of ``file``) as the framer sends it: at most
    :data:`FRAME_BYTES` a frame, each carrying the offset just past its bytes; in
    plain mode, the bytes alone. An event with no data still makes a frame."""
    if plain:
        return [data] if data else []
    if not data:
        return [_frame(start, b"", file, event)] if event else []
    return [_frame(start + at + len(data[at:at + FRAME_BYTES]), data[at:at + FRAME_BYTES], file, event)
            for at in range(0, len(data), FRAME_BYTES)]


class Follower:
    """An endless answer: the file from ``offset``, then what is appended to it, with
    heartbeats, until the file goes away or :meth:`close`. Iterate it once."""

    def __init__(self, db: Database, alloc_id: str, read: Reader, file: str, offset: int, plain: bool,
                 stop: threading.Event, alive: Optional[Callable[[], bool]] = None,
                 heartbeat_seconds: float = HEARTBEAT_SECONDS) -> None:
        self.db = db
        self.alloc_id = alloc_id
        self.read = read
        self.file = file
        self.offset = offset
        self.plain = plain
        self.stop = stop
        self.alive = alive
        self.heartbeat_seconds = heartbeat_seconds

    def __iter__(self) -> Iterator[bytes]:
        return self._run()

    def _run(self) -> Iterator[bytes]:
        state = StateReader(self.db.snapshot())
        data = self.read(state)
        if data is None:
            yield from frames(b"", self.offset, self.file, self.plain, DELETED)
            return
        if self.offset > len(data):
            # Nomad's file watcher takes a file shorter than the offset for a
            # truncated one and starts again from its beginning.
            yield from frames(data, 0, self.file, self.plain, TRUNCATED)
        else:
            yield from frames(data[self.offset:], self.offset, self.file, self.plain)
        self.offset = len(data)
        beat = time.monotonic() + self.heartbeat_seconds
        key = (ALLOCS, (self.alloc_id,))
        while not self.stop.is_set():
            seen = state.latest_index()
            # Woken by a change to the row, or at the next beat (which is also when a
            # closed server is noticed).
            state = StateReader(self.db.wait((), seen, max(0.0, beat - time.monotonic()), keys=[key]))
            if self.stop.is_set():
                return
            if state.latest_index() != seen:
                data = self.read(state)
                if data is None:
                    yield from frames(b"", self.offset, self.file, self.plain, DELETED)
                    return
                if len(data) < self.offset:
                    yield from frames(data, 0, self.file, self.plain, TRUNCATED)
                elif len(data) > self.offset:
                    yield from frames(data[self.offset:], self.offset, self.file, self.plain)
                self.offset = len(data)
            if time.monotonic() >= beat:
                beat += self.heartbeat_seconds
                if self.alive is not None and not self.alive():
                    return
                if not self.plain:
                    yield HEARTBEAT
                elif self.alive is None:
                    # Plain mode's heartbeat writes nothing; an empty chunk lets a
                    # server that gives no probe notice a reader that has gone.
                    yield b""
