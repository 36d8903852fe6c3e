"""The leader's garbage collector (v0.7.1 ``nomad/core_sched.go``, ``nomad/leader.go``).

Four timers, each every five minutes on the cluster's clock, collect terminal
evaluations (with their terminal allocations), finished jobs, finished deployments
and down nodes that are older than their thresholds; the age is turned into an
index through the core's :class:`~nomadjobs.core.timetable.TimeTable`. A forced
collection (``PUT /v1/system/gc``) ignores age, keeps every status rule, and runs the
four on one snapshot: job, evaluation, deployment, node. As in Nomad, a collected job
is purged through a deregistration that leaves a ``job-deregister`` evaluation behind
(not for periodic or parameterized jobs), evaluations of a dead batch job go only
with the job, and deleting evaluations and allocations leaves job summaries alone.
"""

from __future__ import annotations

import attrs

from .. import fsm as cmds
from .. import structs as s
from ..clock import Timer
from ..core.protocol import Core
from ..state.store import StateReader
from .nodes import NodeWatcher

__all__ = ["GCConfig", "GarbageCollector", "FORCED"]

MINUTE_NS = 60 * 10**9
HOUR_NS = 60 * MINUTE_NS
#: IDs in one reap request (core_sched.go maxIdsPerReap).
MAX_IDS_PER_REAP = (1024 * 256) // 36
#: The threshold of a forced collection: every index passes (math.MaxUint64).
FORCED = 2**64 - 1

EVAL_GC, JOB_GC, NODE_GC, DEPLOYMENT_GC = "eval-gc", "job-gc", "node-gc", "deployment-gc"


@attrs.frozen
class GCConfig:
    """When the collector runs and how old things must be (nomad/config.go defaults)."""
    enabled: bool = True
    interval_ns: int = 5 * MINUTE_NS
    eval_threshold_ns: int = 1 * HOUR_NS
    job_threshold_ns: int = 4 * HOUR_NS
    node_threshold_ns: int = 24 * HOUR_NS
    deployment_threshold_ns: int = 1 * HOUR_NS

    def __attrs_post_init__(self) -> None:
        for field in attrs.fields(GCConfig):
            value = getattr(self, field.name)
            if field.name != "enabled" and (not isinstance(value, int) or value <= 0):
                raise ValueError(f"GCConfig.{field.name} must be a positive number of nanoseconds, got {value!r}")

    def threshold_ns(self, kind: str) -> int:
        return {EVAL_GC: self.eval_threshold_ns, JOB_GC: self.job_threshold_ns, NODE_GC: self.node_threshold_ns,
                DEPLOYMENT_GC: self.deployment_threshold_ns}[kind]


def _eval_terminal(ev: s.Evaluation) -> bool:
    return ev.Status in (s.EVAL_STATUS_COMPLETE, s.EVAL_STATUS_FAILED, s.EVAL_STATUS_CANCELLED)


def _job_gcable(job: s.Job) -> bool:
    """The jobs table's ``gc`` index (nomad/state/schema.go, jobIsGCable)."""
    if (job.Periodic is not None and job.Periodic.Enabled) or job.is_parameterized():
        return bool(job.Stop)
    if job.Status != s.JOB_STATUS_DEAD:
        return False
    return bool(job.Stop) or job.Type == s.JOB_TYPE_BATCH


def gc_eval(state: StateReader, ev: s.Evaluation, threshold: int, allow_batch: bool) -> tuple[bool, list[str]]:
    """core_sched.go gcEval: may ``ev`` go, and which of its allocations may (these
    go even when the evaluation stays)."""
    if not _eval_terminal(ev) or (ev.ModifyIndex or 0) > threshold:
        return False, []
    if ev.Type == s.JOB_TYPE_BATCH:
        job = state.job_by_id(ev.Namespace or "", ev.JobID or "")
        # A dead batch job's evaluations go with the job, so it is not run again.
        if job is not None and (job.Status != s.JOB_STATUS_DEAD or not (job.Stop or allow_batch)):
            return False, []
    collect = True
    allocs = []
    for alloc in state.allocs_by_eval(ev.ID or ""):
        if alloc.terminal() and (alloc.ModifyIndex or 0) <= threshold:
            allocs.append(alloc.ID or "")
        else:
            collect = False
    return collect, allocs


class GarbageCollector:
    """The core scheduler's collections, on timers while the cluster runs."""

    def __init__(self, core: Core, config: GCConfig, nodes: NodeWatcher) -> None:
        self.core = core
        self.config = config
        self.nodes = nodes  # Node.Deregister, as the node GC calls it
        self._timers: dict[str, Timer] = {}  # the pending tick of each collection
        #: Collections run so far, by kind (force-gc counts once).
        self.runs: dict[str, int] = {}
        self.start()

    def start(self) -> None:
        """(Re)start the four tickers from now, as a new leader does."""
        self.stop()
        if self.config.enabled:
            for kind in (EVAL_GC, NODE_GC, JOB_GC, DEPLOYMENT_GC):
                self._arm(kind)

    def _arm(self, kind: str) -> None:
        # A ticker: the first run one interval after leadership, then every interval.
        def tick() -> None:
            self._arm(kind)
            self.collect(kind)

        self._timers[kind] = self.core.clock.call_later(self.config.interval_ns, tick, background=True)

    def stop(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()

    # --- entry points ----------------------------------------------------------------------
    def collect(self, kind: str) -> None:
        """One timed collection (``eval-gc``, ``job-gc``, ``node-gc`` or ``deployment-gc``)."""
        core = self.core
        with core.lock:
            cutoff = core.now_ns() - self.config.threshold_ns(kind)
            threshold = core.time_table.nearest_index(cutoff)
            run = {EVAL_GC: self._eval_gc, JOB_GC: self._job_gc, NODE_GC: self._node_gc,
                   DEPLOYMENT_GC: self._deployment_gc}[kind]
            run(core.snapshot(), threshold)
            self.runs[kind] = self.runs.get(kind, 0) + 1
            core.process_evals()

    def force(self) -> None:
        """``force-gc``: every collection, age ignored, on one snapshot."""
        core = self.core
        with core.lock:
            state = core.snapshot()
            for run in (self._job_gc, self._eval_gc, self._deployment_gc, self._node_gc):
                run(state, FORCED)
            self.runs["force-gc"] = self.runs.get("force-gc", 0) + 1
            core.process_evals()

    # --- the four collections -------------------------------------------------------------
    def _eval_gc(self, state: StateReader, threshold: int) -> None:
        evals: list[str] = []
        allocs: list[str] = []
        for ev in state.evals():
            collect, alloc_ids = gc_eval(state, ev, threshold, allow_batch=False)
            if collect:
                evals.append(ev.ID or "")
            allocs.extend(alloc_ids)
        self._reap(evals, allocs)

    def _job_gc(self, state: StateReader, threshold: int) -> None:
        jobs: list[s.Job] = []
        evals: list[str] = []
        allocs: list[str] = []
        for job in state.jobs():
            if not _job_gcable(job) or (job.CreateIndex or 0) > threshold:
                continue
            job_evals: list[str] = []
            job_allocs: list[str] = []
            for ev in state.evals_by_job(job.Namespace or "", job.ID or ""):
                collect, alloc_ids = gc_eval(state, ev, threshold, allow_batch=True)
                if not collect:
                    break
                job_evals.append(ev.ID or "")
                job_allocs.extend(alloc_ids)
            else:
                jobs.append(job)
                evals.extend(job_evals)
                allocs.extend(job_allocs)
        if not jobs:
            return
        self._reap(evals, allocs)
        for job in jobs:
            self._purge(job)

    def _deployment_gc(self, state: StateReader, threshold: int) -> None:
        gone = [d.ID for d in state.deployments()
                if not d.active() and (d.ModifyIndex or 0) <= threshold
                and all(a.terminal() for a in state.allocs_by_deployment(d.ID))]
        for start in range(0, len(gone), MAX_IDS_PER_REAP):
            self.core.apply(cmds.DeploymentDelete(gone[start:start + MAX_IDS_PER_REAP]))

    def _node_gc(self, state: StateReader, threshold: int) -> None:
        for node in state.nodes():
            if node.Status != s.NODE_STATUS_DOWN or (node.ModifyIndex or 0) > threshold:
                continue
            if any(not a.terminal() for a in state.allocs_by_node(node.ID)):
                continue
            self.nodes.deregister(node.ID)

    # --- writes, as the RPCs the core scheduler calls make them ------------------------------
    def _reap(self, evals: list[str], allocs: list[str]) -> None:
        """Eval.Reap in requests of at most MAX_IDS_PER_REAP IDs, allocations first
        (core_sched.go partitionEvalReap)."""
        while evals or allocs:
            room = MAX_IDS_PER_REAP
            take_allocs, allocs = allocs[:room], allocs[room:]
            room -= len(take_allocs)
            take_evals, evals = evals[:room], evals[room:]
            self.core.apply(cmds.EvalDelete(take_evals, take_allocs))

    def _purge(self, job: s.Job) -> None:
        """Job.Deregister with purge: the job, its versions and summary go, and (but for
        periodic and parameterized jobs) a job-deregister evaluation is created."""
        namespace, job_id = job.Namespace or s.DEFAULT_NAMESPACE, job.ID or ""
        result = self.core.apply(cmds.JobDeregister(namespace, job_id, purge=True))
        if job.is_periodic() or job.is_parameterized():
            return
        self.core.apply(cmds.EvalUpdate([s.Evaluation(
            ID=self.core.new_id(), Namespace=namespace, Priority=s.JOB_DEFAULT_PRIORITY,
            Type=s.JOB_TYPE_SERVICE, TriggeredBy=s.TRIGGER_JOB_DEREGISTER, JobID=job_id,
            JobModifyIndex=result.index, Status=s.EVAL_STATUS_PENDING)]))
