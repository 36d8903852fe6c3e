"""The evaluation broker: pending evaluations in the order workers take them.

Nomad's broker hands out the highest priority first and, within a priority, the
oldest (lowest CreateIndex); an evaluation is queued at most once at a time.
"""

from __future__ import annotations

import heapq

from .. import structs as s

__all__ = ["EvalBroker"]


class EvalBroker:
    """A priority queue of evaluation IDs (not thread-safe: the core's lock guards it)."""

    def __init__(self) -> None:
        self._heap: list[tuple[int, int, int, str]] = []  # (-priority, create index, seq, eval id)
        self._queued: set[str] = set()
        self._seq = 0

    def enqueue(self, ev: s.Evaluation) -> None:
        if ev.ID in self._queued:
            return
        self._queued.add(ev.ID)
        self._seq += 1
        heapq.heappush(self._heap, (-ev.Priority, ev.CreateIndex, self._seq, ev.ID))

    def dequeue(self) -> str:
        """The next evaluation's ID (raises IndexError when empty)."""
        _, _, _, eval_id = heapq.heappop(self._heap)
        self._queued.discard(eval_id)
        return eval_id

    def clear(self) -> None:
        self._heap.clear()
        self._queued.clear()

    def __len__(self) -> int:
        return len(self._heap)

    def __contains__(self, eval_id: object) -> bool:
        return eval_id in self._queued
