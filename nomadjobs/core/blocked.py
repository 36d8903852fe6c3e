"""Blocked evaluations: the ones waiting for capacity, grouped so a backlog stays cheap.

An evaluation that could not place everything is blocked until capacity may have
appeared (a node became ready, an allocation finished, a drain ended); then every
blocked evaluation goes back to the broker, oldest first (Nomad's blocked-evals
tracker, ``nomad/blocked_evals.go``). With N identical blocked jobs (dispatched
children, periodic launches) that is N scheduler passes per freed slot, and draining
the backlog costs N².

Evaluations whose jobs have never had an allocation or a deployment and are equal
apart from their identity fail or succeed alike on the same state: they share a
*shape*. A release hands the broker only the oldest member of each shape. Its
successor follows when that pass wrote something (it placed, or gave up); when it
wrote nothing, every later member would have failed the same way on the same state
and is left where it is. Another job's allocations only take capacity away, so that
stays true for the rest of the drain unless a plan stops allocations: then the
members still due in this round are released after all. The broker's order is kept,
so the same evaluation gets the capacity as when all of them were queued.
"""

from __future__ import annotations

from typing import Hashable, Optional

from sortedcontainers import SortedList

from .. import structs as s
from ..state.store import StateReader

__all__ = ["BlockedEvals", "order_key"]

#: Broker order: highest priority first, then oldest; the ID breaks ties.
OrderKey = tuple[int, int, str]


def order_key(ev: s.Evaluation) -> OrderKey:
    return (-(ev.Priority or 0), ev.CreateIndex or 0, ev.ID or "")


def _job_shape(job: s.Job) -> str:
    """The job's spec without what names one job: what placement depends on."""
    return repr(s.evolve(job, ID="", Name="", ParentID="", Payload=None, Meta=None, VaultToken=None,
                         Status=None, StatusDescription=None, Stable=None, Version=None, SubmitTime=None,
                         CreateIndex=None, ModifyIndex=None, JobModifyIndex=None))


class _Member:
    __slots__ = ("ev", "shape", "generation")

    def __init__(self, ev: s.Evaluation, shape: Hashable, generation: int) -> None:
        self.ev = ev
        self.shape = shape
        self.generation = generation  # the release count when it was first tracked


class BlockedEvals:
    """The blocked evaluations of one server (the core's lock guards it)."""

    def __init__(self, group_shapes: bool = True) -> None:
        #: False gives every evaluation a shape of its own: each release then queues
        #: every blocked evaluation, as Nomad's tracker does (the reference in tests).
        self.group_shapes = group_shapes
        self._reset()

    def _reset(self) -> None:
        self._members: dict[str, _Member] = {}
        self._shapes: dict[Hashable, SortedList] = {}  # shape -> order keys of its members
        self._by_job: dict[tuple[str, str], set[str]] = {}
        self._spec_shapes: dict[tuple[str, str], tuple[int, str]] = {}  # job -> (JobModifyIndex, shape)
        self._generation = 0
        # Shapes with a member in the broker: shape -> (that member's key, its release's generation).
        self._active: dict[Hashable, tuple[OrderKey, int]] = {}
        self._active_eval: dict[str, Hashable] = {}
        # Shapes whose member found nothing to do in this drain: shape -> (its key, generation).
        self._dormant: dict[Hashable, tuple[OrderKey, int]] = {}

    def __len__(self) -> int:
        return len(self._members)

    def shape_count(self) -> int:
        return len(self._shapes)

    # --- keeping up with the state ---------------------------------------------------------
    def sync_job(self, state: StateReader, namespace: str, job_id: str) -> None:
        """Track exactly the job's blocked evaluations, under its current shape."""
        job_key = (namespace, job_id)
        blocked = [ev for ev in state.evals_by_job(namespace, job_id) if ev.Status == s.EVAL_STATUS_BLOCKED]
        for eval_id in self._by_job.get(job_key, set()) - {ev.ID for ev in blocked}:
            self.untrack(eval_id)
        if not blocked:
            self._spec_shapes.pop(job_key, None)
            return
        spec = self._spec_shape(state, namespace, job_id) if self.group_shapes else None
        for ev in blocked:
            shape: Hashable = ("eval", ev.ID) if spec is None else (spec, ev.Namespace, ev.Type, ev.TriggeredBy)
            self.track(ev, shape)

    def untrack(self, eval_id: str) -> None:
        member = self._members.pop(eval_id, None)
        if member is None:
            return
        keys = self._shapes[member.shape]
        keys.remove(order_key(member.ev))
        if not keys:
            del self._shapes[member.shape]
        job_key = (member.ev.Namespace or "", member.ev.JobID or "")
        ids = self._by_job[job_key]
        ids.discard(eval_id)
        if not ids:
            del self._by_job[job_key]

    def rebuild(self, state: StateReader) -> None:
        """Forget everything and track the state's blocked evaluations (after a restore)."""
        self._reset()
        jobs = {(ev.Namespace or "", ev.JobID or "") for ev in state.evals() if ev.Status == s.EVAL_STATUS_BLOCKED}
        for namespace, job_id in sorted(jobs):
            self.sync_job(state, namespace, job_id)

    def track(self, ev: s.Evaluation, shape: Hashable) -> None:
        """Track a blocked evaluation under ``shape`` (again: its place in the release
        order is kept)."""
        old = self._members.get(ev.ID)
        generation = self._generation
        if old is not None:
            if old.shape == shape and order_key(old.ev) == order_key(ev):
                old.ev = ev
                return
            generation = old.generation
            self.untrack(ev.ID)
        self._members[ev.ID] = _Member(ev, shape, generation)
        self._shapes.setdefault(shape, SortedList()).add(order_key(ev))
        self._by_job.setdefault((ev.Namespace or "", ev.JobID or ""), set()).add(ev.ID)

    def _spec_shape(self, state: StateReader, namespace: str, job_id: str) -> Optional[str]:
        """The job's shape, or None when it cannot share one (it has run, or is gone)."""
        job = state.job_by_id(namespace, job_id)
        if job is None or job.Stop or state.allocs_by_job(namespace, job_id) \
                or state.deployments_by_job(namespace, job_id):
            return None
        cached = self._spec_shapes.get((namespace, job_id))
        if cached is not None and cached[0] == job.JobModifyIndex:
            return cached[1]
        shape = _job_shape(job)
        self._spec_shapes[(namespace, job_id)] = (job.JobModifyIndex or 0, shape)
        return shape

    # --- releasing -------------------------------------------------------------------------
    def release(self) -> list[s.Evaluation]:
        """Capacity may have appeared: the oldest member of every shape not already queued."""
        self._generation += 1
        heads = []
        for shape, keys in self._shapes.items():
            if shape in self._active:
                continue
            self._dormant.pop(shape, None)
            heads.append(self._activate(shape, keys[0], self._generation))
        return heads

    def finished(self, eval_id: str, wrote: bool) -> Optional[s.Evaluation]:
        """A pass over ``eval_id`` ended; the shape's next member when it is due."""
        shape = self._active_eval.pop(eval_id, None)
        if shape is None:
            return None
        key, generation = self._active.pop(shape)
        if not wrote:
            self._dormant[shape] = (key, generation)
            return None
        return self._next(shape, key, generation)

    def capacity_freed(self, current: tuple[int, int]) -> list[s.Evaluation]:
        """A plan in this drain stopped allocations: the members still due in it (after
        the evaluation being processed, in broker order) run after all."""
        released = []
        for shape, (key, generation) in list(self._dormant.items()):
            del self._dormant[shape]
            after = max(key, (current[0], current[1], "\uffff"))
            nxt = self._next(shape, after, generation)
            if nxt is not None:
                released.append(nxt)
        return released

    def end_round(self) -> None:
        """The broker is empty: every member released in this drain has had its turn."""
        self._dormant.clear()

    def _next(self, shape: Hashable, after: OrderKey, generation: int) -> Optional[s.Evaluation]:
        keys = self._shapes.get(shape)
        if keys is None:
            return None
        for key in keys.irange(minimum=after, inclusive=(False, False)):
            if self._members[key[2]].generation < generation:  # it was blocked at the release
                return self._activate(shape, key, generation)
        return None

    def _activate(self, shape: Hashable, key: OrderKey, generation: int) -> s.Evaluation:
        self._active[shape] = (key, generation)
        self._active_eval[key[2]] = shape
        return self._members[key[2]].ev
