"""Clocks and timers.

The library runs on a :class:`VirtualClock` by default: time stands still until the
caller advances it, and every timer fires in order on the caller's thread, so a test
is deterministic. The server runs on a :class:`WallClock`, whose timers fire on one
background thread that sleeps until the next deadline (no polling).
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from typing import Callable, Optional

Callback = Callable[[], object]  # what a timer returns is ignored

# 2026-01-01T00:00:00Z: a fixed, recognisable start for virtual time.
DEFAULT_EPOCH_NS = 1_767_225_600 * 10**9


def _call(fn: Callback) -> None:
    fn()


class Timer:
    __slots__ = ("at_ns", "seq", "fn", "cancelled", "background")

    def __init__(self, at_ns: int, seq: int, fn: Callback, background: bool = False) -> None:
        self.at_ns = at_ns
        self.seq = seq
        self.fn = fn
        self.cancelled = False
        # A ticker that always re-arms (the garbage collector): it fires when time
        # passes it, but neither counts as pending nor keeps run_until_idle going.
        self.background = background

    def cancel(self) -> None:
        self.cancelled = True

    def __lt__(self, other: "Timer") -> bool:
        return (self.at_ns, self.seq) < (other.at_ns, other.seq)


class Clock:
    """Common timer queue; subclasses decide what "now" is and who fires timers."""

    def __init__(self) -> None:
        self._heap: list[Timer] = []
        self._seq = itertools.count()
        self._lock = threading.Lock()
        # Set by the cluster: timers run while holding the cluster's lock.
        self.run_guard: Callable[[Callback], None] = _call

    def now_ns(self) -> int:
        raise NotImplementedError

    def call_at(self, at_ns: int, fn: Callback, background: bool = False) -> Timer:
        with self._lock:
            timer = Timer(at_ns, next(self._seq), fn, background)
            heapq.heappush(self._heap, timer)
        self._wake()
        return timer

    def call_later(self, delay_ns: int, fn: Callback, background: bool = False) -> Timer:
        return self.call_at(self.now_ns() + max(0, delay_ns), fn, background)

    def next_deadline(self) -> Optional[int]:
        with self._lock:
            while self._heap and self._heap[0].cancelled:
                heapq.heappop(self._heap)
            return self._heap[0].at_ns if self._heap else None

    def pending(self) -> int:
        """Timers waiting to fire, background tickers not counted."""
        with self._lock:
            return sum(1 for t in self._heap if not t.cancelled and not t.background)

    def _next_due(self, horizon_ns: int) -> Optional[int]:
        """When the next timer that run_until_idle should fire is due: the earliest
        one, unless it is a background ticker and no other timer is due by the
        horizon (scanned only then: tickers are few)."""
        with self._lock:
            while self._heap and self._heap[0].cancelled:
                heapq.heappop(self._heap)
            if not self._heap or self._heap[0].at_ns > horizon_ns:
                return None
            top = self._heap[0]
            if top.background and not any(not t.cancelled and not t.background and t.at_ns <= horizon_ns
                                          for t in self._heap):
                return None
            return top.at_ns

    def cancel_all(self) -> int:
        """Cancel every pending timer (a restore drops what was in flight). Returns
        how many were pending."""
        with self._lock:
            pending = sum(1 for t in self._heap if not t.cancelled)
            for timer in self._heap:
                timer.cancel()
            self._heap.clear()
        return pending

    def _pop_due(self, now_ns: int) -> Optional[Timer]:
        with self._lock:
            while self._heap:
                top = self._heap[0]
                if top.cancelled:
                    heapq.heappop(self._heap)
                    continue
                if top.at_ns <= now_ns:
                    return heapq.heappop(self._heap)
                return None
            return None

    def _wake(self) -> None:
        pass

    def close(self) -> None:
        pass


class VirtualClock(Clock):
    """Time moves only when :meth:`advance` is called."""

    def __init__(self, start_ns: int = DEFAULT_EPOCH_NS) -> None:
        super().__init__()
        self._now = start_ns

    def now_ns(self) -> int:
        return self._now

    def set_now(self, now_ns: int) -> None:
        """Put virtual time at ``now_ns`` (a restore or reset; backwards is allowed,
        so call it with no timer pending)."""
        self._now = int(now_ns)

    def advance(self, seconds: float) -> int:
        """Move time forward, firing every timer that falls due, in order. Returns
        how many timers fired."""
        target = self._now + int(seconds * 10**9)
        fired = 0
        while True:
            timer = self._pop_due(target)
            if timer is None:
                break
            self._now = max(self._now, timer.at_ns)
            self.run_guard(timer.fn)
            fired += 1
        self._now = max(self._now, target)
        return fired

    def run_until_idle(self, limit_seconds: float = 3600.0, max_timers: int = 100_000) -> int:
        """Fire timers until none is left within ``limit_seconds`` of now (background
        tickers fire on the way, but do not keep it going)."""
        horizon = self._now + int(limit_seconds * 10**9)
        fired = 0
        while fired < max_timers:
            deadline = self._next_due(horizon)
            if deadline is None:
                break
            timer = self._pop_due(deadline)
            if timer is None:
                break
            self._now = max(self._now, timer.at_ns)
            self.run_guard(timer.fn)
            fired += 1
        return fired


class WallClock(Clock):
    """Real time; one daemon thread fires timers as they fall due."""

    def __init__(self) -> None:
        super().__init__()
        self._cond = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="nomadjobs-clock", daemon=True)
        self._thread.start()

    def now_ns(self) -> int:
        return time.time_ns()

    def _wake(self) -> None:
        with self._cond:
            self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                if self._closed:
                    return
                deadline = self.next_deadline()
                now = self.now_ns()
                if deadline is None or deadline > now:
                    timeout = None if deadline is None else (deadline - now) / 1e9
                    self._cond.wait(timeout)
                    continue
            timer = self._pop_due(self.now_ns())
            if timer is not None:
                try:
                    self.run_guard(timer.fn)
                except Exception:  # a failing timer must not stop the clock
                    import logging
                    logging.getLogger("nomadjobs").exception("timer failed")

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify()
