"""The deployment watcher (nomad/deploymentwatcher @ v0.7.1) and the deployment
write API behind ``/v1/deployment/{fail,pause,promote,allocation-health}``.

The watcher reacts to allocation health: an unhealthy alloc fails the deployment
(rolling back to the newest stable job version when its group has AutoRevert); a
healthy one leads, after the per-job batching period, to a ``deployment-watcher``
evaluation, whose scheduler pass places the next batch or marks the deployment
successful.
"""

from __future__ import annotations

from functools import partial
from typing import Any, Iterable, Optional

from .. import fsm as cmds
from .. import structs as s
from ..clock import Timer
from ..core.protocol import Core
from ..errors import NomadError
from ..state.store import ALLOCS, EVALS, StateReader

S = 1_000_000_000
# perJobEvalBatchPeriod (1s) plus the cross-deployment eval batcher (250ms).
DEFAULT_EVAL_BATCH_NS = S + 250_000_000

_NON_SPEC_FIELDS = ("Status", "StatusDescription", "Stable", "Version", "CreateIndex", "ModifyIndex",
                    "JobModifyIndex", "SubmitTime")


def _spec_changed(old: s.Job, new: s.Job) -> bool:
    try:
        from ..canonicalize import spec_changed
    except ImportError:  # pragma: no cover - the canonicalize module is optional here
        comparable = s.evolve(new, **{name: getattr(old, name) for name in _NON_SPEC_FIELDS})
        return comparable != old
    return spec_changed(old, new)


def rollback_description(desc: str, version: int) -> str:
    return f"{desc} - rolling back to job version {version}"


def rollback_noop_description(desc: str, version: int) -> str:
    return f"{desc} - not rolling back to stable job version {version} as current job has same specification"


def no_rollback_target_description(desc: str) -> str:
    return f"{desc} - no stable job version to auto revert to"


class DeploymentWatcher:
    """Watches every active deployment; owns the deployment write API."""

    def __init__(self, core: Core, eval_batch_ns: int = DEFAULT_EVAL_BATCH_NS) -> None:
        self.core = core
        self.eval_batch_ns = eval_batch_ns
        self._batch: dict[str, Timer] = {}
        self._watching: set[str] = set()
        # Index of the newest evaluation this watcher created per deployment (setLatestEval).
        self._latest_eval: dict[str, int] = {}

    # --- listener (schedules only) -----------------------------------------------------
    def on_apply(self, command: Any, result: cmds.ApplyResult) -> None:
        if result.error is not None:
            return
        if isinstance(command, (cmds.AllocClientUpdate, cmds.DeploymentAllocHealth, cmds.ApplyPlanResults)):
            ids = [a.ID for a in command.allocs] if not isinstance(command, cmds.DeploymentAllocHealth) \
                else list(command.healthy) + list(command.unhealthy)
            state = self.core.snapshot()
            # Nomad's watch loop blocks on the deployment's allocations and runs again
            # on any change to one of them, not only on a health report.
            touched = set()
            for alloc_id in ids:
                alloc = state.alloc_by_id(alloc_id)
                if alloc is not None and alloc.DeploymentID:
                    touched.add(alloc.DeploymentID)
            for deployment_id in sorted(touched - self._watching):
                # The watch loop runs on its own goroutine upstream: react just after.
                self._watching.add(deployment_id)
                self.core.clock.call_later(0, partial(self._watch, deployment_id))

    # --- the watch loop ----------------------------------------------------------------
    def _latest_eval_index(self, state: StateReader, deployment: s.Deployment) -> int:
        """Nomad's latestEvalIndex: the index of the job's *first* evaluation in its
        state index order (status, then ID), not of its newest; so whether a health
        update counts as already evaluated depends on which ID sorts first."""
        evals = state.evals_by_job(deployment.Namespace, deployment.JobID)
        if not evals:
            return state.table_index(EVALS)
        first = evals[0]
        index = first.SnapshotIndex or first.CreateIndex or 0
        self._set_latest_eval(deployment.ID, index)
        return index

    def _watch(self, deployment_id: str) -> None:
        self._watching.discard(deployment_id)
        state = self.core.snapshot()
        deployment = state.deployment_by_id(deployment_id)
        if deployment is None or not deployment.active():
            return
        latest = self._latest_eval_index(state, deployment)
        create = fail = rollback = False
        for alloc in state.allocs_by_deployment(deployment_id):
            ds = alloc.DeploymentStatus
            if ds is None or ds.ModifyIndex <= latest:
                continue
            create = True
            if ds.Healthy is False:
                group = deployment.TaskGroups.get(alloc.TaskGroup)
                rollback = rollback or (group is not None and group.AutoRevert)
                fail = True
        if fail:
            desc = s.DEPLOYMENT_DESC_FAILED_ALLOCATIONS
            job = None
            if rollback:
                job, desc = self._rollback(state, deployment, desc, mark_missing=True)
            update = s.DeploymentStatusUpdate(DeploymentID=deployment_id, Status=s.DEPLOYMENT_STATUS_FAILED,
                                              StatusDescription=desc)
            result = self.core.apply(cmds.DeploymentStatusChange(update=update, job=job,
                                                                    eval=self._eval(state, deployment)))
            if result.error is None:
                self._set_latest_eval(deployment_id, result.index)
        elif create:
            self._create_eval_batched(deployment_id, state.table_index(ALLOCS))

    def _create_eval_batched(self, deployment_id: str, for_index: int) -> None:
        if deployment_id in self._batch or for_index < self._latest_eval.get(deployment_id, 0):
            return
        self._batch[deployment_id] = self.core.clock.call_later(
            self.eval_batch_ns, lambda: self._batched_eval(deployment_id))

    def _batched_eval(self, deployment_id: str) -> None:
        self._batch.pop(deployment_id, None)
        state = self.core.snapshot()
        deployment = state.deployment_by_id(deployment_id)
        if deployment is None or not deployment.active():
            return
        result = self.core.apply(cmds.EvalUpdate([self._eval(state, deployment)]))
        if result.error is None:
            self._set_latest_eval(deployment_id, result.index)

    def _set_latest_eval(self, deployment_id: str, index: int) -> None:
        if index > self._latest_eval.get(deployment_id, 0):
            self._latest_eval[deployment_id] = index

    def _eval(self, state: StateReader, deployment: s.Deployment) -> s.Evaluation:
        """getEval: the job's priority and type, no JobModifyIndex (as v0.7.1)."""
        job = state.job_by_id(deployment.Namespace, deployment.JobID)
        return s.Evaluation(ID=self.core.new_id(), Namespace=deployment.Namespace,
                            Priority=(job.Priority or 0) if job is not None else s.JOB_DEFAULT_PRIORITY,
                            Type=(job.Type or "") if job is not None else s.JOB_TYPE_SERVICE,
                            TriggeredBy=s.TRIGGER_DEPLOYMENT_WATCHER, JobID=deployment.JobID,
                            DeploymentID=deployment.ID, Status=s.EVAL_STATUS_PENDING)

    def latest_stable_job(self, state: StateReader, deployment: s.Deployment) -> Optional[s.Job]:
        for version in state.job_versions(deployment.Namespace, deployment.JobID):
            if version.Stable:
                return version
        return None

    def _rollback(self, state: StateReader, deployment: s.Deployment, desc: str,
                  mark_missing: bool) -> tuple[Optional[s.Job], str]:
        """The job to revert to (the newest stable version, unless its spec equals the
        current job's) and the description that says so."""
        stable = self.latest_stable_job(state, deployment)
        if stable is None:
            return None, (no_rollback_target_description(desc) if mark_missing else desc)
        current = state.job_by_id(deployment.Namespace, deployment.JobID)
        if current is not None and not _spec_changed(current, stable):
            return None, rollback_noop_description(desc, stable.Version or 0)
        return stable, rollback_description(desc, stable.Version or 0)

    # --- the deployment endpoint -----------------------------------------------------------
    def _active_deployment(self, deployment_id: str, terminal_error: str) -> tuple[Any, s.Deployment]:
        if not deployment_id:
            raise NomadError("missing deployment ID")
        state = self.core.snapshot()
        deployment = state.deployment_by_id(deployment_id)
        if deployment is None:
            raise NomadError("deployment not found")
        if not deployment.active():
            raise NomadError(terminal_error)
        return state, deployment

    def _commit(self, command: Any, deployment_id: str) -> int:
        result = self.core.apply(command)
        if result.error is not None:
            raise NomadError(result.error)
        self._set_latest_eval(deployment_id, result.index)
        return result.index

    def fail(self, deployment_id: str) -> s.DeploymentUpdateResponse:
        """Deployment.Fail: mark failed by the user, rolling back when a group has
        AutoRevert."""
        with self.core.lock:
            state, deployment = self._active_deployment(deployment_id, "can't fail terminal deployment")
            desc = s.DEPLOYMENT_DESC_FAILED_BY_USER
            job = None
            if any(g.AutoRevert for g in deployment.TaskGroups.values()):
                job, desc = self._rollback(state, deployment, desc, mark_missing=True)
            ev = self._eval(state, deployment)
            update = s.DeploymentStatusUpdate(DeploymentID=deployment_id, Status=s.DEPLOYMENT_STATUS_FAILED,
                                              StatusDescription=desc)
            index = self._commit(cmds.DeploymentStatusChange(update=update, job=job, eval=ev), deployment_id)
            self.core.process_evals()
        return s.DeploymentUpdateResponse(EvalID=ev.ID, EvalCreateIndex=index, DeploymentModifyIndex=index,
                                          RevertedJobVersion=job.Version if job is not None else None, Index=index)

    def pause(self, deployment_id: str, pause: bool) -> s.DeploymentUpdateResponse:
        """Deployment.Pause: pause, or resume with a new evaluation."""
        with self.core.lock:
            terminal = "can't pause terminal deployment" if pause else "can't resume terminal deployment"
            state, deployment = self._active_deployment(deployment_id, terminal)
            ev = None
            if pause:
                status, desc = s.DEPLOYMENT_STATUS_PAUSED, s.DEPLOYMENT_DESC_PAUSED
            else:
                status, desc = s.DEPLOYMENT_STATUS_RUNNING, s.DEPLOYMENT_DESC_RUNNING
                ev = self._eval(state, deployment)
            update = s.DeploymentStatusUpdate(DeploymentID=deployment_id, Status=status, StatusDescription=desc)
            index = self._commit(cmds.DeploymentStatusChange(update=update, eval=ev), deployment_id)
            self.core.process_evals()
        return s.DeploymentUpdateResponse(EvalID=ev.ID if ev is not None else "",
                                          EvalCreateIndex=index if ev is not None else 0,
                                          DeploymentModifyIndex=index, Index=index)

    def promote(self, deployment_id: str, groups: Optional[Iterable[str]] = None,
                all: bool = False) -> s.DeploymentUpdateResponse:  # noqa: A002 - Nomad's field name
        """Deployment.Promote: promote the canaries of some or all groups."""
        with self.core.lock:
            state, deployment = self._active_deployment(deployment_id, "can't promote terminal deployment")
            ev = self._eval(state, deployment)
            command = cmds.DeploymentPromotion(deployment_id=deployment_id,
                                               groups=list(groups) if groups is not None else None, all=all, eval=ev)
            index = self._commit(command, deployment_id)
            self.core.process_evals()
        return s.DeploymentUpdateResponse(EvalID=ev.ID, EvalCreateIndex=index, DeploymentModifyIndex=index,
                                          Index=index)

    def set_alloc_health(self, deployment_id: str, healthy_ids: Iterable[str] = (),
                         unhealthy_ids: Iterable[str] = ()) -> s.DeploymentUpdateResponse:
        """Deployment.SetAllocHealth: manual health; any unhealthy alloc fails the
        deployment (and may roll back)."""
        healthy, unhealthy = list(healthy_ids or ()), list(unhealthy_ids or ())
        with self.core.lock:
            if not deployment_id:
                raise NomadError("missing deployment ID")
            if not healthy and not unhealthy:
                raise NomadError("must specify at least one healthy/unhealthy allocation ID")
            state, deployment = self._active_deployment(
                deployment_id, "can't set health of allocations for a terminal deployment")
            job = None
            update = None
            if unhealthy:
                desc = s.DEPLOYMENT_DESC_FAILED_ALLOCATIONS
                wanted = set(unhealthy)
                for alloc in state.allocs_by_deployment(deployment_id):
                    group = deployment.TaskGroups.get(alloc.TaskGroup)
                    if alloc.ID not in wanted or group is None or not group.AutoRevert:
                        continue
                    # Upstream only names a missing target from the watch loop and Fail.
                    job, desc = self._rollback(state, deployment, desc, mark_missing=False)
                    break
                update = s.DeploymentStatusUpdate(DeploymentID=deployment_id, Status=s.DEPLOYMENT_STATUS_FAILED,
                                                  StatusDescription=desc)
            ev = self._eval(state, deployment)
            command = cmds.DeploymentAllocHealth(deployment_id=deployment_id, healthy=healthy, unhealthy=unhealthy,
                                                 now_ns=self.core.now_ns(), update=update, job=job, eval=ev)
            index = self._commit(command, deployment_id)
            self.core.process_evals()
        return s.DeploymentUpdateResponse(EvalID=ev.ID, EvalCreateIndex=index, DeploymentModifyIndex=index,
                                          RevertedJobVersion=job.Version if job is not None else None, Index=index)
