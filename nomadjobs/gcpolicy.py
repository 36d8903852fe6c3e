"""A garbage-collector schedule for processes that hold a large cluster state.

The committed state is big, long-lived and free of reference cycles (frozen attrs
objects in persistent maps), and it is all tracked by CPython's collector. With the
default schedule a full collection runs whenever the tracked heap has grown by a
quarter, and each one walks the whole state: at a hundred thousand allocations the
collector costs more than scheduling them.

``after_commit()`` moves everything alive into the permanent generation
(``gc.freeze()``, constant time), so young collections never walk the state again.
Objects that die later are still freed by reference counting; only a cycle that was
frozen while alive would be kept, so a full collection of everything runs once the
frozen heap has doubled since the last one. That bounds such leftovers to the size of
the live heap at worst.

Whether it has doubled is counted, not guessed: the collector's counters only say
roughly how much was frozen since (and far more than stays: every commit replaces
index nodes and rows whose old versions die by reference counting), so once that
estimate reaches twice the heap, the frozen objects are counted
(``gc.get_freeze_count()``, a list walk about ten times cheaper per object than a
collection), and the full collection runs only if the count has really doubled.
Before this, the estimate itself triggered the collection, about five times too
often: a quarter of a second at a quarter of a million objects, every thousand
registrations or so.

While the scheduler works (``paused()``), the collector does not run at all. An
evaluation builds its plan between two commits: at C1M's shape, a thousand
placements, each with its metrics. Every young collection on the way walked all
of it again, a fifth of a late C1M evaluation. What dies meanwhile is still freed
by reference counting; a cycle would be frozen at the next commit, like anything
else, and reclaimed by the next full collection.

It changes a process-wide setting, so it is opt-in: ``Cluster(freeze_gc=True)``. The
HTTP server and the scheduler benchmark use it.
"""

from __future__ import annotations

import gc
import threading
from contextlib import contextmanager
from typing import Iterator

#: No full collection before this many objects were frozen (a small process never needs one).
FLOOR = 200_000

_lock = threading.Lock()
_heap = 0       # frozen objects counted at the last full collection
_grown = 0      # objects frozen since the last count, estimated from the collector's counters
_last_gen1 = 0


def after_commit() -> None:
    global _grown, _last_gen1
    # The young generation's count is what was allocated since the last freeze, and
    # each young collection in between (gen 1's count) stands for its threshold's
    # worth: an overestimate, which only decides when to count.
    gen0, gen1, _ = gc.get_count()
    young = gen0 + gc.get_threshold()[0] * (gen1 - _last_gen1 if gen1 >= _last_gen1 else gen1)
    _last_gen1 = gen1
    gc.freeze()
    _grown += young
    if _grown < 2 * max(FLOOR, _heap):
        return
    with _lock:
        if _grown < 2 * max(FLOOR, _heap):
            return
        _grown = 0
        if gc.get_freeze_count() >= max(FLOOR, 2 * _heap):
            full_collection()


def full_collection() -> None:
    """Collect everything, frozen objects included, and freeze what survives."""
    global _heap, _grown
    gc.unfreeze()
    gc.collect()
    gc.freeze()
    _heap = gc.get_freeze_count()
    _grown = 0


def adopt() -> None:
    """Freeze everything alive as the new baseline, as a full collection would leave
    it, without walking it: for a state just restored from disk, which is made of the
    same cycle-free objects the collector would only find alive."""
    global _heap, _grown, _last_gen1
    gc.freeze()
    _heap = gc.get_freeze_count()
    _grown = 0
    _last_gen1 = gc.get_count()[1]


@contextmanager
def paused() -> Iterator[None]:
    """No automatic collection inside the block (restored after, if it was on)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()
