"""Nomad's time table: which index was current at a given time (v0.7.1 ``nomad/timetable.go``).

The FSM witnesses every applied command with the time it was applied, but keeps an
entry only when at least ``granularity`` has passed since the newest one, up to
``limit`` of history. The garbage collector turns "older than its threshold" into
"modified at or before the index that was current then". The table starts with one
entry at index 0 and the zero time, so until an entry is older than the threshold the
answer is 0 and the timed collections find nothing: on a young or idle cluster only a
forced collection collects.
"""

from __future__ import annotations

from typing import Optional

__all__ = ["TimeTable", "GRANULARITY_NS", "LIMIT_NS"]

GRANULARITY_NS = 5 * 60 * 10**9  # nomad/fsm.go timeTableGranularity
LIMIT_NS = 72 * 3600 * 10**9  # nomad/fsm.go timeTableLimit


class TimeTable:
    """(index, time) entries, newest first; None is Go's zero time (before any time)."""

    def __init__(self, granularity_ns: int = GRANULARITY_NS, limit_ns: int = LIMIT_NS) -> None:
        self.granularity_ns = granularity_ns
        self.size = limit_ns // granularity_ns
        self.entries: list[tuple[int, Optional[int]]] = [(0, None)]

    def witness(self, index: int, when_ns: int) -> None:
        newest_index, newest_time = self.entries[0]
        if newest_index > index:
            return
        if newest_time is not None and when_ns - newest_time < self.granularity_ns:
            return
        self.entries.insert(0, (index, when_ns))
        del self.entries[self.size:]

    def nearest_index(self, when_ns: int) -> int:
        """The index of the newest entry not after ``when_ns`` (0 when none is)."""
        for index, at in self.entries:
            if at is None or at <= when_ns:
                return index
        return 0

    def serialize(self) -> list[list[Optional[int]]]:
        return [[index, at] for index, at in self.entries]

    def restore(self, entries: list[list[Optional[int]]]) -> None:
        self.entries = [(int(index or 0), None if at is None else int(at)) for index, at in entries] or [(0, None)]
