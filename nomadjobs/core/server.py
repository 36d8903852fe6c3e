"""The server core: what one Nomad server is, without its endpoints.

It owns the state store, the FSM (its only writer), the clock, the seeded ID
generator, the evaluation broker with the scheduler worker, and the plan applier.
Every write runs under one re-entrant lock, so a virtual clock gives deterministic
runs and the HTTP server's threads see consistent state; readers take snapshots and
never wait for that lock. Services and lifecycles see it through
:class:`~nomadjobs.core.protocol.Core`; :class:`~nomadjobs.cluster.Cluster` is the
facade users call.
"""

from __future__ import annotations

import contextlib
import random
import threading
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Optional

from .. import fsm as cmds
from .. import gcpolicy
from .. import structs as s
from ..clock import Callback, Clock, VirtualClock, WallClock
from ..fsm import FSM, ApplyResult
from ..limits import DEFAULT_LIMITS, Limits
from ..scheduler import new_scheduler
from ..state.mvcc import Snapshot
from ..state.store import StateReader, new_database
from .blocked import BlockedEvals
from .durable import DataDirError, DurableLog, Record
from .broker import EvalBroker
from .plan_apply import WorkerPlanner, apply_plan
from .timetable import TimeTable
from .protocol import Listener

if TYPE_CHECKING:
    from .raft import Replica

__all__ = ["ServerCore", "make_clock"]

_NO_PAUSE = contextlib.nullcontext()


def make_clock(clock: str | Clock) -> Clock:
    """A clock by name (``virtual`` or ``wall``), or the one given."""
    if isinstance(clock, Clock):
        return clock
    if clock == "virtual":
        return VirtualClock()
    if clock == "wall":
        return WallClock()
    raise ValueError(f"unknown clock {clock!r} (virtual, wall)")


class ServerCore:
    """One server's state machine and leader work (see the module docstring)."""

    def __init__(self, *, seed: int = 0, clock: str | Clock = "virtual", region: str = "global",
                 datacenter: str = "dc1", acl: bool = False, history: int = 256, record_log: bool = False,
                 freeze_gc: bool = False, limits: Limits = DEFAULT_LIMITS) -> None:
        self.seed = seed
        #: What one request may ask for (nomadjobs.limits).
        self.limits = limits
        self.rng = random.Random(seed)
        self.region = region
        self.datacenter = datacenter
        self.acl_enabled = acl
        self.lock = threading.RLock()
        self.db = new_database(history=history)
        self.fsm = FSM(self.db, on_apply=self._on_apply)
        # Keep every applied command (index, command): replaying it rebuilds the state.
        self.fsm.keep_log = record_log
        # Keep the collector off the committed state (process-wide; see gcpolicy).
        self.freeze_gc = freeze_gc
        self.clock = make_clock(clock)
        self.clock.run_guard = self._run_locked
        #: Where virtual time started (a reset goes back to it).
        self.start_ns: int = self.clock.now_ns()
        #: Which index was current when (the garbage collector's thresholds).
        self.time_table = TimeTable()
        self.broker = EvalBroker()
        #: Evaluations waiting for capacity (see nomadjobs.core.blocked).
        self.blocked = BlockedEvals()
        self._processing = False
        self._current: tuple[int, int] = (0, 0)  # broker order of the evaluation being scheduled
        self.listeners: list[Listener] = []
        #: The durable log beneath the FSM, when the server has a data dir.
        self.durable: Optional[DurableLog] = None
        #: The Raft group this server belongs to, when it is replicated (core/raft.py).
        self.replica: Optional[Replica] = None

    # --- identity and time -------------------------------------------------------------
    def new_id(self) -> str:
        """A UUID from the seeded generator: same seed, same IDs."""
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def now_ns(self) -> int:
        return self.clock.now_ns()

    def data_dir(self) -> Optional[Path]:
        """The directory holding the durable state, if there is one."""
        return self.durable.dir.path if self.durable is not None else None

    # --- reads -------------------------------------------------------------------------
    def snapshot(self) -> StateReader:
        return StateReader(self.db.snapshot())

    def snapshot_at(self, index: int) -> Optional[StateReader]:
        """The state as it was right after ``index`` was committed (time travel)."""
        snap = self.db.snapshot_at(index)
        return StateReader(snap) if snap is not None else None

    @property
    def index(self) -> int:
        return self.db.latest_index

    # --- writes --------------------------------------------------------------------------
    def apply(self, command: Any) -> ApplyResult:
        with self.lock:
            if self.replica is not None:
                self.replica.check_writable()  # only the leader decides what is written
            return self.fsm.apply(command)

    def establish_leadership(self) -> ApplyResult:
        """The part of becoming the leader that shows in the state: the job summaries
        are reconciled in a log entry of their own (v0.7.1 nomad/leader.go,
        ``establishLeadership`` -> ``reconcileJobSummaries``), so the job_summary table
        has a non-zero index from the start (a summary read of a missing job returns it)."""
        return self.apply(cmds.ReconcileJobSummaries())

    def _on_apply(self, command: Any, result: ApplyResult) -> None:
        if self.freeze_gc:
            gcpolicy.after_commit()
        now = self.clock.now_ns()
        self.time_table.witness(result.index, now)
        if self.durable is not None:
            self.durable.record(result.index, command, now, self._capture)
        if self.replica is not None:
            self.replica.record(result.index, command, now)
        if result.error is None:
            if isinstance(command, cmds.EvalUpdate):
                for ev in command.evals:
                    if ev.Status == s.EVAL_STATUS_PENDING:
                        self.enqueue(ev)
            elif isinstance(command, (cmds.DeploymentStatusChange, cmds.DeploymentPromotion,
                                      cmds.DeploymentAllocHealth)):
                if command.eval is not None and command.eval.Status == s.EVAL_STATUS_PENDING:
                    self.enqueue(command.eval)
            self._track_blocked(command)
        for listener in list(self.listeners):
            listener(command, result)

    def _capture(self) -> tuple[Snapshot, list[list[Optional[int]]], int]:
        """The state and what goes with it, for a snapshot (under the lock)."""
        return self.db.snapshot(), self.time_table.serialize(), self.clock.now_ns()

    def checkpoint(self) -> None:
        """Write the whole state as the durable log's new base (after a load or a reset,
        once the ID generator and the clock are set as well)."""
        if self.durable is not None:
            with self.lock:
                self.durable.replaced(self.db.snapshot(), self.time_table.serialize(), self.clock.now_ns(),
                                      self.rng.getstate())

    def sync(self) -> None:
        """Return once every write applied so far is on disk (at once without a data dir);
        on a replicated server, once this thread's writes are committed by the group."""
        if self.durable is not None:
            self.durable.sync()
        if self.replica is not None:
            self.replica.sync()

    def replay(self, records: Iterable[Record]) -> int:
        """Re-apply a durable log's records after a restore, without the hooks, then
        rebuild what the hooks keep (the blocked-evals tracker, the time table).
        Returns the time of the last record (0 without one)."""
        with self.lock:
            last = self._apply_records(records, "the data dir does not match its snapshot")
            self.blocked.rebuild(self.snapshot())
        return last

    def follow(self, records: Iterable[Record]) -> None:
        """Apply a leader's committed records on a follower: as :meth:`replay`, but the
        leader-only trackers are left alone (a new leader rebuilds them)."""
        with self.lock:
            self._apply_records(records, "this server's state does not match its Raft group's")

    def _apply_records(self, records: Iterable[Record], mismatch: str) -> int:
        """Apply logged records through the FSM without its hooks, each at the index it
        was logged at (else DataDirError, ``mismatch`` saying why); witness their times.
        Returns the last record's time (0 without one)."""
        last = 0
        for record in records:
            result = self.fsm.replay(record.command)
            if result.index != record.log_index:
                raise DataDirError(f"the record logged at index {record.log_index} applied at index "
                                   f"{result.index}: {mismatch}")
            self.time_table.witness(record.log_index, record.now_ns)
            last = record.now_ns
        return last

    def _track_blocked(self, command: Any) -> None:
        """Keep the blocked-evals tracker on the state: the evaluations a command wrote,
        and the jobs whose shape it may have changed."""
        jobs: set[tuple[str, str]] = set()
        if isinstance(command, cmds.EvalUpdate):
            jobs.update((ev.Namespace or "", ev.JobID or "") for ev in command.evals)
        elif isinstance(command, cmds.EvalDelete):
            for eval_id in command.evals:
                self.blocked.untrack(eval_id)
        elif isinstance(command, cmds.JobRegister):
            jobs.add((command.job.Namespace or "", command.job.ID or ""))
        elif isinstance(command, cmds.JobDeregister):
            jobs.add((command.namespace, command.job_id))
        elif isinstance(command, cmds.ApplyPlanResults):
            jobs.update((a.Namespace or "", a.JobID or "") for a in command.allocs)
            if command.job is not None:
                jobs.add((command.job.Namespace or "", command.job.ID or ""))
            if self._processing and any(a.DesiredStatus in (s.ALLOC_DESIRED_STOP, s.ALLOC_DESIRED_EVICT)
                                        for a in command.allocs):
                for ev in self.blocked.capacity_freed(self._current):
                    self.broker.enqueue(ev)
        if jobs:
            state = self.snapshot()
            for namespace, job_id in sorted(jobs):
                self.blocked.sync_job(state, namespace, job_id)

    def _run_locked(self, fn: Callback) -> None:
        with self.lock:
            fn()
            self.process_evals()

    # --- evaluations ---------------------------------------------------------------------
    def enqueue(self, ev: s.Evaluation) -> None:
        with self.lock:
            self.broker.enqueue(ev)

    def process_evals(self) -> int:
        """Run the scheduler on every queued evaluation, highest priority first, until
        none is left (a pass may queue more). Returns how many ran."""
        with self.lock:
            if self._processing:
                return 0  # re-entered from a listener: the outer loop drains the queue
            self._processing = True
            try:
                with gcpolicy.paused() if self.freeze_gc else _NO_PAUSE:
                    ran = self._drain()
            finally:
                self._processing = False
            return ran

    def _drain(self) -> int:
        ran = 0
        while self.broker:
            eval_id = self.broker.dequeue()
            ev = self.snapshot().eval_by_id(eval_id)
            if ev is None or ev.Status not in (s.EVAL_STATUS_PENDING, s.EVAL_STATUS_BLOCKED):
                self._finished(eval_id, wrote=True)
                continue
            before = self.db.latest_index
            self._current = (-(ev.Priority or 0), ev.CreateIndex or 0)
            self._schedule(ev)
            self._finished(eval_id, wrote=self.db.latest_index != before)
            ran += 1
        self.blocked.end_round()
        return ran

    def _finished(self, eval_id: str, wrote: bool) -> None:
        successor = self.blocked.finished(eval_id, wrote)
        if successor is not None:
            self.broker.enqueue(successor)

    def _schedule(self, ev: s.Evaluation) -> None:
        state = self.snapshot()
        planner = WorkerPlanner(self, state)
        sched = new_scheduler(ev.Type, state, planner, rng=self.rng, now_ns=self.now_ns, new_id=self.new_id)
        sched.process(ev)
        planner.finish()

    def unblock(self) -> int:
        """Capacity may have appeared: queue the blocked evaluations that may use it
        (the oldest of each shape; see nomadjobs.core.blocked). Returns how many."""
        with self.lock:
            heads = self.blocked.release()
            for ev in heads:
                self.broker.enqueue(ev)
            return len(heads)

    # --- plans -----------------------------------------------------------------------------
    def apply_plan(self, plan: s.Plan, planned_on: Optional[tuple[int, int]] = None
                   ) -> tuple[s.PlanResult, Optional[StateReader]]:
        """The plan applier (see :func:`~nomadjobs.core.plan_apply.apply_plan`)."""
        return apply_plan(self, plan, planned_on)

    # --- snapshot and restore ------------------------------------------------------------
    def restore(self, rows: dict[str, list[Any]], table_indexes: dict[str, int], index: int) -> None:
        """Replace the state (Nomad's FSM Restore): drop every timer and queued
        evaluation, swap the store's content and wake its blocked readers. The
        lifecycles are restarted by their owner; :meth:`restore_broker` then re-queues
        what was pending."""
        with self.lock:
            self.db.restore(rows, table_indexes, index)  # checks before it changes anything
            self.clock.cancel_all()
            self.broker.clear()
            self.blocked.rebuild(self.snapshot())
            self.time_table = TimeTable()
            self.fsm.log.clear()
            if self.durable is not None:
                self.durable.replaced(self.db.snapshot(), self.time_table.serialize(), self.clock.now_ns())

    def restore_broker(self) -> int:
        """Queue every pending evaluation, oldest first, as Nomad's new leader does
        (blocked ones wait for capacity, as in its blocked-evals tracker)."""
        pending = sorted((ev for ev in self.snapshot().evals() if ev.Status == s.EVAL_STATUS_PENDING),
                         key=lambda ev: ev.CreateIndex)
        for ev in pending:
            self.enqueue(ev)
        return len(pending)

    def close(self) -> None:
        if self.replica is not None:
            self.replica.close()
        self.clock.close()
        if self.durable is not None:
            self.sync()
            if self.durable.records_since_snapshot:
                self.checkpoint()  # a clean stop: the next start replays nothing
            self.durable.close()
