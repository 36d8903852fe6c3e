"""The allocation reconciler for service and batch jobs (``scheduler/reconcile.go``,
``scheduler/reconcile_util.go`` at v0.7.1): compare the job with its allocations and
decide, per task group, what to place, stop, update in place or destructively,
canary, migrate or leave alone, and how deployments move."""

from __future__ import annotations

from typing import Callable, Iterable, Optional

import attrs

from ..structs import (
    ALLOC_CLIENT_LOST,
    DEPLOYMENT_DESC_NEWER_JOB,
    DEPLOYMENT_DESC_RUNNING,
    DEPLOYMENT_DESC_RUNNING_NEEDS_PROMOTION,
    DEPLOYMENT_DESC_STOPPED_JOB,
    DEPLOYMENT_DESC_SUCCESSFUL,
    DEPLOYMENT_STATUS_CANCELLED,
    DEPLOYMENT_STATUS_FAILED,
    DEPLOYMENT_STATUS_PAUSED,
    DEPLOYMENT_STATUS_RUNNING,
    DEPLOYMENT_STATUS_SUCCESSFUL,
    JOB_TYPE_BATCH,
    Allocation,
    Deployment,
    DeploymentState,
    DeploymentStatusUpdate,
    DesiredUpdates,
    Job,
    Node,
    TaskGroup,
    evolve,
)
from .util import (
    ALLOC_LOST,
    ALLOC_MIGRATING,
    ALLOC_NOT_NEEDED,
    ALLOC_UPDATING,
    alloc_index,
    alloc_name,
    group_update_strategy,
    job_stopped,
    node_terminal,
    ran_successfully,
)

AllocSet = dict[str, Allocation]
# (existing alloc, new job, new group) -> (ignore, destructive, in-place updated alloc)
AllocUpdateFn = Callable[[Allocation, Job, TaskGroup], tuple[bool, bool, Optional[Allocation]]]


# --- results ---------------------------------------------------------------------------------

@attrs.define
class PlaceResult:
    name: str
    task_group: TaskGroup
    canary: bool = False
    previous_alloc: Optional[Allocation] = None

    def stop_previous(self) -> tuple[bool, str]:
        return False, ""


@attrs.define
class DestructiveResult:
    name: str
    task_group: TaskGroup
    previous_alloc: Allocation
    stop_description: str = ALLOC_UPDATING
    canary: bool = False

    def stop_previous(self) -> tuple[bool, str]:
        return True, self.stop_description


@attrs.define
class StopResult:
    alloc: Allocation
    client_status: str = ""
    description: str = ""


@attrs.define
class DesiredUpdatesDraft:
    Ignore: int = 0
    Place: int = 0
    Migrate: int = 0
    Stop: int = 0
    InPlaceUpdate: int = 0
    DestructiveUpdate: int = 0
    Canary: int = 0

    def freeze(self) -> DesiredUpdates:
        return DesiredUpdates(**attrs.asdict(self))


@attrs.define
class GroupStateDraft:
    AutoRevert: bool = False
    Promoted: bool = False
    PlacedCanaries: list[str] = attrs.Factory(list)
    DesiredCanaries: int = 0
    DesiredTotal: int = 0
    PlacedAllocs: int = 0
    HealthyAllocs: int = 0
    UnhealthyAllocs: int = 0

    @classmethod
    def of(cls, st: DeploymentState) -> "GroupStateDraft":
        return cls(AutoRevert=st.AutoRevert, Promoted=st.Promoted, PlacedCanaries=list(st.PlacedCanaries or ()),
                   DesiredCanaries=st.DesiredCanaries, DesiredTotal=st.DesiredTotal,
                   PlacedAllocs=st.PlacedAllocs, HealthyAllocs=st.HealthyAllocs,
                   UnhealthyAllocs=st.UnhealthyAllocs)

    def freeze(self) -> DeploymentState:
        d = attrs.asdict(self)
        d["PlacedCanaries"] = list(self.PlacedCanaries) or None
        return DeploymentState(**d)


class DeploymentDraft:
    """A deployment the plan will upsert (new, or an existing one that changed)."""

    def __init__(self, base: Deployment) -> None:
        self.base = base
        self.groups: dict[str, GroupStateDraft] = {k: GroupStateDraft.of(v) for k, v in base.TaskGroups.items()}

    @classmethod
    def new(cls, job: Job, deployment_id: str) -> "DeploymentDraft":
        return cls(Deployment(
            ID=deployment_id, Namespace=job.Namespace or "", JobID=job.ID or "",
            JobVersion=job.Version or 0, JobModifyIndex=job.ModifyIndex or 0,
            JobCreateIndex=job.CreateIndex or 0, TaskGroups={}, Status=DEPLOYMENT_STATUS_RUNNING,
            StatusDescription=DEPLOYMENT_DESC_RUNNING))

    @property
    def ID(self) -> str:
        return self.base.ID

    def requires_promotion(self) -> bool:
        if not self.groups or self.base.Status != DEPLOYMENT_STATUS_RUNNING:
            return False
        return any(g.DesiredCanaries > 0 and not g.Promoted for g in self.groups.values())

    def freeze(self) -> Deployment:
        return evolve(self.base, TaskGroups={k: v.freeze() for k, v in self.groups.items()})


@attrs.define
class ReconcileResults:
    deployment: Optional[DeploymentDraft] = None
    deployment_updates: list[DeploymentStatusUpdate] = attrs.Factory(list)
    place: list[PlaceResult] = attrs.Factory(list)
    destructive_update: list[DestructiveResult] = attrs.Factory(list)
    inplace_update: list[Allocation] = attrs.Factory(list)
    stop: list[StopResult] = attrs.Factory(list)
    desired_tg_updates: dict[str, DesiredUpdatesDraft] = attrs.Factory(dict)
    followup_eval_wait: int = 0

    def frozen_desired_updates(self) -> dict[str, DesiredUpdates]:
        return {k: v.freeze() for k, v in self.desired_tg_updates.items()}


# --- alloc sets ----------------------------------------------------------------------------------

def name_order(s: AllocSet) -> list[Allocation]:
    return sorted(s.values(), key=lambda a: (alloc_index(a), a.Name, a.ID))


def difference(s: AllocSet, *others: AllocSet) -> AllocSet:
    return {k: v for k, v in s.items() if not any(k in o for o in others)}


def union(s: AllocSet, *others: AllocSet) -> AllocSet:
    out = dict(s)
    for o in others:
        out.update(o)
    return out


def from_keys(s: AllocSet, keys: Iterable[str]) -> AllocSet:
    return {k: s[k] for k in keys if k in s}


def filter_by_tainted(s: AllocSet, tainted: dict[str, Optional[Node]]) -> tuple[AllocSet, AllocSet, AllocSet]:
    untainted: AllocSet = {}
    migrate: AllocSet = {}
    lost: AllocSet = {}
    for aid, a in s.items():
        if a.NodeID not in tainted:
            untainted[aid] = a
            continue
        # A batch alloc that already finished cleanly has nothing left to move.
        if a.Job is not None and a.Job.Type == JOB_TYPE_BATCH and ran_successfully(a):
            untainted[aid] = a
            continue
        if node_terminal(tainted[a.NodeID]):
            lost[aid] = a
        else:
            migrate[aid] = a
    return untainted, migrate, lost


def filter_by_deployment(s: AllocSet, deployment_id: str) -> tuple[AllocSet, AllocSet]:
    match = {k: v for k, v in s.items() if v.DeploymentID == deployment_id}
    return match, {k: v for k, v in s.items() if k not in match}


def _healthy(a: Allocation) -> bool:
    return a.DeploymentStatus is not None and a.DeploymentStatus.Healthy is True


def _unhealthy(a: Allocation) -> bool:
    return a.DeploymentStatus is not None and a.DeploymentStatus.Healthy is False


class NameIndex:
    """Chooses ``<job>.<group>[i]`` names: lowest free index to place, highest to stop."""

    def __init__(self, job_id: str, group: str, count: int, taken: AllocSet) -> None:
        self.job_id = job_id
        self.group = group
        self.count = count
        self.used: set[int] = {alloc_index(a) for a in taken.values()}

    def _name(self, idx: int) -> str:
        return alloc_name(self.job_id, self.group, idx)

    def highest(self, n: int) -> set[str]:
        out = set()
        for idx in sorted(self.used, reverse=True)[:n]:
            self.used.discard(idx)
            out.add(self._name(idx))
        return out

    def set(self, s: AllocSet) -> None:
        self.used.update(alloc_index(a) for a in s.values())

    def unset_index(self, idx: int) -> None:
        self.used.discard(idx)

    def next(self, n: int) -> list[str]:
        out: list[str] = []
        for idx in range(self.count):
            if len(out) == n:
                return out
            if idx not in self.used:
                out.append(self._name(idx))
                self.used.add(idx)
        # Every index in [0, count) is taken: reuse names from the bottom.
        i = 0
        while len(out) < n:
            out.append(self._name(i))
            self.used.add(i)
            i += 1
        return out

    def next_canaries(self, n: int, existing: AllocSet, destructive: AllocSet) -> list[str]:
        """allocNameIndex.NextCanaries, quirks included: names of allocations being
        replaced first, then free names below the count, then overlapping names from
        index 0, but only as many as the free-name pass left wanting (Go's first loop
        shadows ``remainder``, so when that pass finds nothing no overlap is tried)."""
        out: list[str] = []
        existing_names = {a.Name for a in existing.values()}
        for idx in sorted({alloc_index(a) for a in destructive.values()}):
            if idx >= self.count:
                continue
            name = self._name(idx)
            if name not in existing_names:
                out.append(name)
                self.used.add(idx)
                if len(out) == n:
                    return out
        remainder = 0
        for idx in range(self.count):
            name = self._name(idx)
            if idx not in self.used and name not in existing_names:
                out.append(name)
                self.used.add(idx)
                remainder = n - len(out)
                if remainder == 0:
                    return out
        i = 0
        while i < remainder:
            name = self._name(i)
            if name not in existing_names:
                out.append(name)
                self.used.add(i)
                remainder = n - len(out)
                if remainder == 0:
                    return out
            i += 1
        return out


# --- the reconciler ---------------------------------------------------------------------------------

class AllocReconciler:
    def __init__(self, update_fn: AllocUpdateFn, batch: bool, job_id: str, job: Optional[Job],
                 deployment: Optional[Deployment], existing: list[Allocation],
                 tainted: dict[str, Optional[Node]], new_id: Callable[[], str]) -> None:
        self.update_fn = update_fn
        self.batch = batch
        self.job_id = job_id
        self.job = job
        self.deployment = deployment
        self.old_deployment: Optional[Deployment] = None
        self.draft: Optional[DeploymentDraft] = None
        self.paused = False
        self.failed = False
        self.existing = existing
        self.tainted = tainted
        self.new_id = new_id
        self.result = ReconcileResults()

    # deployment accessors: the draft (if any) stands in for the current deployment
    def _deployment_id(self) -> str:
        if self.draft is not None:
            return self.draft.ID
        return self.deployment.ID if self.deployment is not None else ""

    def _has_deployment(self) -> bool:
        return self.draft is not None or self.deployment is not None

    def compute(self) -> ReconcileResults:
        matrix = self._matrix()
        self._cancel_deployments()
        if job_stopped(self.job):
            self._handle_stop(matrix)
            return self.result
        if self.deployment is not None:
            self.paused = self.deployment.Status == DEPLOYMENT_STATUS_PAUSED
            self.failed = self.deployment.Status == DEPLOYMENT_STATUS_FAILED
        complete = True
        for group, allocs in matrix.items():
            complete = self._compute_group(group, allocs) and complete
        if self._has_deployment() and complete:
            self.result.deployment_updates.append(DeploymentStatusUpdate(
                DeploymentID=self._deployment_id(), Status=DEPLOYMENT_STATUS_SUCCESSFUL,
                StatusDescription=DEPLOYMENT_DESC_SUCCESSFUL))
        d = self.result.deployment
        if d is not None and d.requires_promotion():
            d.base = evolve(d.base, StatusDescription=DEPLOYMENT_DESC_RUNNING_NEEDS_PROMOTION)
        return self.result

    def _matrix(self) -> dict[str, AllocSet]:
        """Allocs by group: the job's groups first (in job order), then leftovers."""
        m: dict[str, AllocSet] = {}
        if self.job is not None:
            for tg in self.job.TaskGroups or ():
                m[tg.Name] = {}  # type: ignore[index]  # a canonical job names every group
        for a in sorted(self.existing, key=lambda a: (a.TaskGroup, alloc_index(a), a.ID)):
            m.setdefault(a.TaskGroup, {})[a.ID] = a
        return m

    def _cancel_deployments(self) -> None:
        d = self.deployment
        if job_stopped(self.job):
            if d is not None and d.active():
                self.result.deployment_updates.append(DeploymentStatusUpdate(
                    DeploymentID=d.ID, Status=DEPLOYMENT_STATUS_CANCELLED,
                    StatusDescription=DEPLOYMENT_DESC_STOPPED_JOB))
            self.old_deployment, self.deployment = d, None
            return
        if d is None:
            return
        assert self.job is not None
        if d.JobCreateIndex != (self.job.CreateIndex or 0) or d.JobVersion != (self.job.Version or 0):
            if d.active():
                self.result.deployment_updates.append(DeploymentStatusUpdate(
                    DeploymentID=d.ID, Status=DEPLOYMENT_STATUS_CANCELLED,
                    StatusDescription=DEPLOYMENT_DESC_NEWER_JOB))
            self.old_deployment, self.deployment = d, None
        if d.Status == DEPLOYMENT_STATUS_SUCCESSFUL:
            self.old_deployment, self.deployment = d, None

    def _handle_stop(self, matrix: dict[str, AllocSet]) -> None:
        for group, allocs in matrix.items():
            untainted, migrate, lost = filter_by_tainted(allocs, self.tainted)
            self._mark_stop(untainted, "", ALLOC_NOT_NEEDED)
            self._mark_stop(migrate, "", ALLOC_NOT_NEEDED)
            self._mark_stop(lost, ALLOC_CLIENT_LOST, ALLOC_LOST)
            self.result.desired_tg_updates[group] = DesiredUpdatesDraft(Stop=len(allocs))

    def _mark_stop(self, allocs: AllocSet, client_status: str, desc: str) -> None:
        for a in name_order(allocs):
            self.result.stop.append(StopResult(a, client_status, desc))

    def _compute_group(self, group: str, all_allocs: AllocSet) -> bool:
        assert self.job is not None
        changes = DesiredUpdatesDraft()
        self.result.desired_tg_updates[group] = changes
        tg = self.job.lookup_task_group(group)
        if tg is None:
            # The group was removed from the job: stop everything it still runs.
            untainted, migrate, lost = filter_by_tainted(all_allocs, self.tainted)
            self._mark_stop(untainted, "", ALLOC_NOT_NEEDED)
            self._mark_stop(migrate, "", ALLOC_NOT_NEEDED)
            self._mark_stop(lost, ALLOC_CLIENT_LOST, ALLOC_LOST)
            changes.Stop = len(untainted) + len(migrate) + len(lost)
            return True

        strategy = group_update_strategy(tg)
        dstate: Optional[GroupStateDraft] = None
        existing_deployment = False
        if self.draft is not None and group in self.draft.groups:
            dstate, existing_deployment = self.draft.groups[group], True
        elif self.deployment is not None and group in self.deployment.TaskGroups:
            dstate, existing_deployment = GroupStateDraft.of(self.deployment.TaskGroups[group]), True
        if not existing_deployment:
            dstate = GroupStateDraft(AutoRevert=bool(tg.Update is not None and tg.Update.AutoRevert))
        assert dstate is not None

        all_allocs, ignore = self._batch_filtration(all_allocs)
        changes.Ignore += len(ignore)

        canaries, all_allocs = self._handle_group_canaries(all_allocs, changes)

        untainted, migrate, lost = filter_by_tainted(all_allocs, self.tainted)
        name_index = NameIndex(self.job_id, group, tg.Count or 0, union(untainted, migrate))

        canary_state = dstate.DesiredCanaries != 0 and not dstate.Promoted
        stop = self._compute_stop(tg, name_index, untainted, migrate, lost, canaries, canary_state)
        changes.Stop += len(stop)
        untainted = difference(untainted, stop)

        if not canary_state:
            # Promoted (or no) canaries count as ordinary allocations from here on.
            untainted = union(untainted, canaries)
            name_index.set(canaries)

        ignore_set, inplace, destructive = self._compute_updates(tg, untainted)
        changes.Ignore += len(ignore_set)
        changes.InPlaceUpdate += len(inplace)
        if not existing_deployment:
            dstate.DesiredTotal += len(destructive) + len(inplace)

        num_destructive = len(destructive)
        require_canary = (num_destructive != 0 and strategy is not None
                          and len(canaries) < (strategy.Canary or 0) and not dstate.Promoted)
        if require_canary and not self.paused and not self.failed:
            assert strategy is not None
            number = min(num_destructive, (strategy.Canary or 0) - len(canaries))
            changes.Canary += number
            if not existing_deployment:
                dstate.DesiredCanaries = strategy.Canary or 0
            for name in name_index.next_canaries(number, canaries, destructive):
                self.result.place.append(PlaceResult(name=name, task_group=tg, canary=True))

        canary_state = dstate.DesiredCanaries != 0 and not dstate.Promoted
        limit = self._compute_limit(tg, untainted, destructive, migrate, canary_state)

        place = self._compute_placements(tg, name_index, untainted, migrate)
        if not existing_deployment:
            dstate.DesiredTotal += len(place)

        if not self.paused and not self.failed and not canary_state:
            changes.Place += len(place)
            self.result.place.extend(place)
            limit -= min(len(place), limit)
        elif lost:
            # Never leave lost allocations unreplaced, even while a deployment
            # is paused, failed or waiting on canaries.
            allowed = min(len(lost), len(place))
            changes.Place += allowed
            self.result.place.extend(place[:allowed])

        n = min(len(destructive), limit)
        limit -= n
        changes.DestructiveUpdate += n
        changes.Ignore += len(destructive) - n
        for a in name_order(destructive)[:n]:
            self.result.destructive_update.append(DestructiveResult(
                name=a.Name, task_group=tg, previous_alloc=a, stop_description=ALLOC_UPDATING))

        m = min(len(migrate), limit)
        if not self.failed and not self.paused:
            changes.Migrate += m
            changes.Ignore += len(migrate) - m
        else:
            changes.Stop += len(migrate)
        followup = False
        for i, a in enumerate(name_order(migrate)):
            if i >= limit:
                followup = True
                break
            self.result.stop.append(StopResult(a, "", ALLOC_MIGRATING))
            self.result.place.append(PlaceResult(name=a.Name, task_group=tg, previous_alloc=a))
        if followup and tg.Update is not None and self.result.followup_eval_wait < (tg.Update.Stagger or 0):
            self.result.followup_eval_wait = tg.Update.Stagger or 0

        if not existing_deployment and strategy is not None and dstate.DesiredTotal != 0:
            if self.draft is None:
                if self.deployment is None:
                    self.draft = DeploymentDraft.new(self.job, self.new_id())
                else:
                    # An existing deployment of this version that lacks the group.
                    self.draft = DeploymentDraft(self.deployment)
                self.result.deployment = self.draft
            self.draft.groups[group] = dstate

        complete = (len(destructive) + len(inplace) + len(place) + len(migrate) == 0
                    and not require_canary)
        if complete and self._has_deployment():
            part_of, _ = filter_by_deployment(untainted, self._deployment_id())
            if any(not _healthy(a) for a in part_of.values()):
                complete = False
        return complete

    def _batch_filtration(self, all_allocs: AllocSet) -> tuple[AllocSet, AllocSet]:
        if not self.batch:
            return all_allocs, {}
        assert self.job is not None
        filtered: AllocSet = {}
        ignored: AllocSet = {}
        for aid, a in all_allocs.items():
            aj = a.Job
            older = aj is not None and ((aj.Version or 0) < (self.job.Version or 0)
                                        or (aj.CreateIndex or 0) < (self.job.CreateIndex or 0))
            if older and a.terminal():
                ignored[aid] = a
            else:
                filtered[aid] = a
        return filtered, ignored

    def _handle_group_canaries(self, all_allocs: AllocSet, changes: DesiredUpdatesDraft) -> tuple[AllocSet, AllocSet]:
        stop_ids: list[str] = []
        if self.old_deployment is not None:
            for st in self.old_deployment.TaskGroups.values():
                if not st.Promoted:
                    stop_ids.extend(st.PlacedCanaries or ())
        if self.deployment is not None and self.deployment.Status == DEPLOYMENT_STATUS_FAILED:
            for st in self.deployment.TaskGroups.values():
                if not st.Promoted:
                    stop_ids.extend(st.PlacedCanaries or ())
        stop_set = from_keys(all_allocs, stop_ids)
        self._mark_stop(stop_set, "", ALLOC_NOT_NEEDED)
        changes.Stop += len(stop_set)
        all_allocs = difference(all_allocs, stop_set)

        canaries: AllocSet = {}
        if self.deployment is not None:
            ids = [cid for st in self.deployment.TaskGroups.values() for cid in st.PlacedCanaries or ()]
            canaries = from_keys(all_allocs, ids)
            untainted, migrate, lost = filter_by_tainted(canaries, self.tainted)
            self._mark_stop(migrate, "", ALLOC_MIGRATING)
            self._mark_stop(lost, ALLOC_CLIENT_LOST, ALLOC_LOST)
            canaries = untainted
            all_allocs = difference(all_allocs, migrate, lost)
        return canaries, all_allocs

    def _compute_limit(self, tg: TaskGroup, untainted: AllocSet, destructive: AllocSet,
                       migrate: AllocSet, canary_state: bool) -> int:
        strategy = group_update_strategy(tg)
        if strategy is None or len(destructive) + len(migrate) == 0:
            return tg.Count or 0
        if self.paused or self.failed or canary_state:
            return 0
        limit = strategy.MaxParallel or 0
        if self._has_deployment():
            part_of, _ = filter_by_deployment(untainted, self._deployment_id())
            for a in part_of.values():
                if _unhealthy(a):
                    return 0  # an unhealthy alloc halts the rollout
                if not _healthy(a):
                    limit -= 1
        return max(0, limit)

    def _compute_placements(self, tg: TaskGroup, name_index: NameIndex, untainted: AllocSet,
                            migrate: AllocSet) -> list[PlaceResult]:
        existing = len(untainted) + len(migrate)
        count = tg.Count or 0
        if existing >= count:
            return []
        return [PlaceResult(name=name, task_group=tg) for name in name_index.next(count - existing)]

    def _compute_stop(self, tg: TaskGroup, name_index: NameIndex, untainted: AllocSet, migrate: AllocSet,
                      lost: AllocSet, canaries: AllocSet, canary_state: bool) -> AllocSet:
        stop: AllocSet = dict(lost)
        self._mark_stop(lost, ALLOC_CLIENT_LOST, ALLOC_LOST)

        if canary_state:
            # Canaries still being judged do not count against the group's count.
            untainted = difference(untainted, canaries)
        else:
            untainted = dict(untainted)
        migrate = dict(migrate)

        remove = len(untainted) + len(migrate) - (tg.Count or 0)
        if remove <= 0:
            return stop

        def do_stop(a: Allocation, pool: AllocSet) -> None:
            stop[a.ID] = a
            self.result.stop.append(StopResult(a, "", ALLOC_NOT_NEEDED))
            pool.pop(a.ID, None)

        # After promotion, stop the old allocs that share a name with a canary.
        if not canary_state and canaries:
            canary_names = {a.Name for a in canaries.values()}
            for a in name_order(difference(untainted, canaries)):
                if a.Name in canary_names:
                    do_stop(a, untainted)
                    remove -= 1
                    if remove == 0:
                        return stop

        # Prefer dropping allocations that would have to migrate anyway.
        if migrate:
            m_index = NameIndex(self.job_id, tg.Name or "", tg.Count or 0, migrate)
            remove_names = m_index.highest(remove)
            for a in name_order(migrate):
                if a.Name not in remove_names:
                    continue
                do_stop(a, migrate)
                name_index.unset_index(alloc_index(a))
                remove -= 1
                if remove == 0:
                    return stop

        remove_names = name_index.highest(remove)
        for a in sorted(untainted.values(), key=lambda a: (-alloc_index(a), a.ID)):
            if a.Name in remove_names:
                do_stop(a, untainted)
                remove -= 1
                if remove == 0:
                    return stop

        # Duplicate names can leave some over: stop from the highest index down.
        for a in sorted(untainted.values(), key=lambda a: (-alloc_index(a), a.ID)):
            do_stop(a, untainted)
            remove -= 1
            if remove == 0:
                return stop
        return stop

    def _compute_updates(self, tg: TaskGroup, untainted: AllocSet) -> tuple[AllocSet, AllocSet, AllocSet]:
        assert self.job is not None
        ignore: AllocSet = {}
        inplace: AllocSet = {}
        destructive: AllocSet = {}
        for a in name_order(untainted):
            ign, destr, updated = self.update_fn(a, self.job, tg)
            if ign:
                ignore[a.ID] = a
            elif destr:
                destructive[a.ID] = a
            else:
                inplace[a.ID] = a
                assert updated is not None
                self.result.inplace_update.append(updated)
        return ignore, inplace, destructive
