"""A garbage-collector schedule for processes that hold a large cluster state.

The committed state is big, long-lived and free of reference cycles (frozen attrs
objects in persistent maps), and it is all tracked by CPython's collector. With the
default schedule a full collection runs whenever the tracked heap has grown by a
quarter, and each one walks the whole state: at a hundred thousand allocations the
collector costs more than scheduling them.

``after_commit()`` moves everything alive into the permanent generation
(``gc.freeze()``, constant time), so young collections never walk the state again.
Objects that die later are still freed by reference counting; only a cycle that was
frozen while alive would be kept, so a full collection of everything runs whenever the
frozen heap has doubled since the last one. That bounds such leftovers to the size of
the live heap at worst, at an amortized cost of one object visit per object created.

It changes a process-wide setting, so it is opt-in: ``Cluster(freeze_gc=True)``. The
HTTP server and the scheduler benchmark use it.
"""

from __future__ import annotations

import gc
import threading

#: No full collection before this many frozen objects (a small process never needs one).
FLOOR = 200_000

_lock = threading.Lock()
_next_full = FLOOR
# Counting frozen objects walks them all, so it is done every so many commits, fewer
# as the heap grows: about one object visit per commit, whatever the heap size.
_commits = 0
_check_every = 64


def after_commit() -> None:
    global _commits, _check_every, _next_full
    gc.freeze()
    _commits += 1
    if _commits < _check_every:
        return
    with _lock:
        _commits = 0
        frozen = gc.get_freeze_count()
        _check_every = max(64, frozen // 1_000)
        if frozen < _next_full:
            return
        gc.unfreeze()
        gc.collect()
        gc.freeze()
        _next_full = max(FLOOR, 2 * gc.get_freeze_count())
