"""The periodic dispatcher (nomad/periodic.go @ v0.7.1).

Tracks every periodic parent that is enabled, not stopped and not parameterized, keeps
one timer per parent at its next launch (cron, in the job's time zone, strictly after
the previous launch), and at launch registers a child ``<parent>/periodic-<unix s>``
plus a ``periodic-job`` evaluation, unless ProhibitOverlap finds a child still busy.
"""

from __future__ import annotations

import math
from datetime import datetime, timezone
from typing import Any, Optional
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


from .. import fsm as cmds
from .. import structs as s
from ..clock import Timer
from ..core.protocol import Core
from ..golang.strconv import quote

S = 1_000_000_000
PERIODIC_LAUNCH_SUFFIX = "/periodic-"
SPEC_CRON = "cron"
SPEC_TEST = "_internal_test"

Key = tuple[str, str]  # (namespace, job ID)


def _location(tz: Optional[str]) -> Optional[ZoneInfo]:
    name = tz or "UTC"
    if name == "Local":
        name = "UTC"  # the simulated servers run in UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def _cron_next(spec: str, after: datetime) -> Optional[datetime]:
    """cronexpr.Next: 5 fields (minute..weekday), 6 (plus a year) or 7 (seconds
    first, year last); the next match strictly after ``after``."""
    # Imported here: croniter pulls in dateutil and probes the platform, a cost every
    # server start would pay for the first periodic job only.
    from croniter import croniter

    fields = spec.split()
    try:
        if spec.startswith("@") or len(fields) == 5:
            it = croniter(spec, after)
        elif len(fields) == 6:
            it = croniter("0 " + spec, after, second_at_beginning=True)
        elif len(fields) == 7:
            it = croniter(spec, after, second_at_beginning=True)
        else:
            return None
        nxt: datetime = it.get_next(datetime)  # croniter is untyped
        return nxt
    except Exception:  # croniter raises a family of errors (bad spec, no match before its horizon)
        return None


def next_launch(job: s.Job, after_ns: int) -> Optional[int]:
    """PeriodicConfig.Next: the next launch after ``after_ns`` (unix ns), or None
    (Go's zero time) when there is none or the spec cannot be read."""
    periodic = job.Periodic
    if periodic is None:
        return None
    if periodic.SpecType == SPEC_TEST:
        for part in (periodic.Spec or "").split(","):
            try:
                at = int(part) * S
            except ValueError:
                return None
            if at > after_ns:
                return at
        return None
    if (periodic.SpecType or SPEC_CRON) != SPEC_CRON:
        return None
    loc = _location(periodic.TimeZone)
    if loc is None:
        return None
    # cronexpr works at second granularity: from 12:00:00.5 the next "every minute"
    # match is 12:01:00, and from exactly 12:00:00 too.
    after = datetime.fromtimestamp(after_ns // S, tz=timezone.utc).astimezone(loc)
    nxt = _cron_next(periodic.Spec or "", after)
    if nxt is None:
        return None
    return int(nxt.timestamp()) * S


def derived_job_id(parent_id: str, launch_ns: int) -> str:
    return f"{parent_id}{PERIODIC_LAUNCH_SUFFIX}{math.floor(launch_ns / S)}"


def is_tracked_kind(job: s.Job) -> bool:
    """Whether the dispatcher launches this job at all."""
    # job.is_periodic() spelled out, so that the checker sees Periodic is set.
    return (job.Periodic is not None and bool(job.Periodic.Enabled) and not job.Stop
            and not job.is_parameterized())


class PeriodicDispatcher:
    def __init__(self, core: Core) -> None:
        self.core = core
        self.tracked: dict[Key, s.Job] = {}
        self.launches: dict[Key, int] = {}  # next launch per tracked job (ns)
        self._timers: dict[Key, Timer] = {}

    # --- listener (schedules only) -----------------------------------------------------
    def on_apply(self, command: Any, result: cmds.ApplyResult) -> None:
        if result.error is not None:
            return
        if isinstance(command, cmds.JobRegister):
            job = result.value if isinstance(result.value, s.Job) else command.job
            self.add(job)
        elif isinstance(command, cmds.JobDeregister):
            self.remove(command.namespace, command.job_id)

    # --- tracking ------------------------------------------------------------------------
    def add(self, job: s.Job) -> None:
        """Track (or stop tracking) a job as the FSM registers it."""
        key = (job.Namespace or s.DEFAULT_NAMESPACE, job.ID or "")
        if not is_tracked_kind(job):
            self.remove(*key)
            return
        self.tracked[key] = job
        self._schedule(key, next_launch(job, self.core.now_ns()))

    def remove(self, namespace: str, job_id: str) -> None:
        key = (namespace, job_id)
        self.tracked.pop(key, None)
        self.launches.pop(key, None)
        timer = self._timers.pop(key, None)
        if timer is not None:
            timer.cancel()

    def _schedule(self, key: Key, at_ns: Optional[int]) -> None:
        timer = self._timers.pop(key, None)
        if timer is not None:
            timer.cancel()
        if at_ns is None:
            self.launches.pop(key, None)
            return
        self.launches[key] = at_ns
        self._timers[key] = self.core.clock.call_at(at_ns, lambda: self._launch(key, at_ns))

    # --- launching (timer callbacks) -----------------------------------------------------------
    def _launch(self, key: Key, launch_ns: int) -> None:
        job = self.tracked.get(key)
        if job is None or self.launches.get(key) != launch_ns:
            return
        self._timers.pop(key, None)
        # The next launch counts from this one, not from "now".
        self._schedule(key, next_launch(job, launch_ns))
        assert job.Periodic is not None  # tracked jobs are periodic
        if job.Periodic.ProhibitOverlap and self.running_children(job):
            return
        self._dispatch(job, launch_ns)

    def running_children(self, job: s.Job) -> bool:
        """Any child (``<id>/periodic-*`` with this ParentID) with a non-terminal eval
        or a non-terminal alloc of one of its evals."""
        state = self.core.snapshot()
        assert job.Namespace is not None  # stored jobs are canonical
        for child in state.jobs_by_prefix(job.Namespace, f"{job.ID}{PERIODIC_LAUNCH_SUFFIX}"):
            if child.ParentID != job.ID:
                continue
            assert child.Namespace is not None and child.ID is not None
            for ev in state.evals_by_job(child.Namespace, child.ID):
                if not ev.terminal():
                    return True
                if any(not a.terminal() for a in state.allocs_by_eval(ev.ID)):
                    return True
        return False

    def derive_job(self, parent: s.Job, launch_ns: int) -> s.Job:
        child_id = derived_job_id(parent.ID or "", launch_ns)
        return s.evolve(parent, ID=child_id, Name=child_id, ParentID=parent.ID, Periodic=None,
                            Status="", StatusDescription="", SubmitTime=self.core.now_ns(),
                            Version=0, CreateIndex=0, ModifyIndex=0, JobModifyIndex=0)

    def _dispatch(self, parent: s.Job, launch_ns: int) -> tuple[s.Job, s.Evaluation]:
        """Server.DispatchJob: register the child, then its periodic-job eval."""
        child = self.derive_job(parent, launch_ns)
        # The FSM records the launch on the parent from the child's time suffix.
        launch_s_ns = math.floor(launch_ns / S) * S
        registered = self.core.apply(cmds.JobRegister(child, launch_time_ns=launch_s_ns))
        if registered.error is not None:
            raise ValueError(registered.error)
        # Derived from a stored (canonical) job, so every field below is set.
        assert child.Namespace is not None and child.ID is not None
        stored = self.core.snapshot().job_by_id(child.Namespace, child.ID) or child
        assert (stored.Namespace is not None and stored.ID is not None and stored.Priority is not None
                and stored.Type is not None)
        ev = s.Evaluation(ID=self.core.new_id(), Namespace=stored.Namespace, Priority=stored.Priority,
                          Type=stored.Type, TriggeredBy=s.TRIGGER_PERIODIC_JOB, JobID=stored.ID,
                          JobModifyIndex=registered.index, Status=s.EVAL_STATUS_PENDING)
        result = self.core.apply(cmds.EvalUpdate([ev]))
        if result.error is not None:
            raise ValueError(result.error)
        ev = self.core.snapshot().eval_by_id(ev.ID) or s.evolve(ev, CreateIndex=result.index,
                                                                        ModifyIndex=result.index)
        return stored, ev

    def force_run(self, namespace: str, job_id: str) -> tuple[s.Job, s.Evaluation]:
        """PeriodicDispatch.ForceRun: launch now, ignoring ProhibitOverlap. Raises
        ValueError for a job the dispatcher does not track."""
        with self.core.lock:
            job = self.tracked.get((namespace, job_id))
            if job is None:
                raise ValueError(f"can't force run non-tracked job {quote(job_id)} ({namespace})")
            return self._dispatch(job, self.core.now_ns())

    def next_launch(self, job: s.Job, after_ns: int) -> Optional[int]:
        return next_launch(job, after_ns)
