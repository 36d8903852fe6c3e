"""Nomad's state store: the tables, the reads everyone shares, and the write rules.

The generic multi-version machinery lives in :mod:`nomadjobs.state.mvcc`; this module
gives it Nomad's schema (tables keyed like ``nomad/state/schema.go``) and the rules
that ``nomad/state/state_store.go`` applies on every write: job status recomputation,
summary accounting, version retention, deployment counters, blocked-eval cancellation.

Reads go through :class:`StateReader`, which wraps either a snapshot or the open write
transaction; writes go through :class:`StateWriter`, which only the FSM creates.
"""

from __future__ import annotations

from typing import Any, Iterable, Iterator, Optional, cast

import attrs

from .. import structs as s
from ..golang.multierror import multierror
from ..golang.strconv import quote
from .mvcc import Database, IndexSchema, Snapshot, TableSchema, VersionedGroup, WriteTxn

JOBS = "jobs"
JOB_VERSION = "job_version"
JOB_SUMMARY = "job_summary"
EVALS = "evals"
ALLOCS = "allocs"
DEPLOYMENT = "deployment"
NODES = "nodes"
PERIODIC_LAUNCH = "periodic_launch"
ACL_POLICY = "acl_policy"
ACL_TOKEN = "acl_token"
# No rows: its index is the raft index of the last ACL bootstrap (0: never).
ACL_TOKEN_BOOTSTRAP = "acl_token_bootstrap"

SCHEMA = [
    TableSchema(JOBS, lambda j: (j.Namespace, j.ID)),
    TableSchema(JOB_VERSION, lambda j: (j.Namespace, j.ID, j.Version)),
    TableSchema(JOB_SUMMARY, lambda js: (js.Namespace, js.JobID)),
    TableSchema(EVALS, lambda e: (e.ID,), {"job": IndexSchema(lambda e: (e.Namespace, e.JobID))}),
    TableSchema(ALLOCS, lambda a: (a.ID,), {
        "job": IndexSchema(lambda a: (a.Namespace, a.JobID)),
        # Versioned: the scheduler memoizes each node's usage against the entry.
        "node": IndexSchema(lambda a: (a.NodeID,), versioned=True),
        "eval": IndexSchema(lambda a: (a.EvalID,)),
        "deployment": IndexSchema(lambda a: (a.DeploymentID,) if a.DeploymentID else None),
    }),
    TableSchema(DEPLOYMENT, lambda d: (d.ID,), {"job": IndexSchema(lambda d: (d.Namespace, d.JobID))}),
    TableSchema(NODES, lambda n: (n.ID,)),
    TableSchema(PERIODIC_LAUNCH, lambda p: (p.Namespace, p.ID)),
    TableSchema(ACL_POLICY, lambda p: (p.Name,)),
    TableSchema(ACL_TOKEN, lambda t: (t.AccessorID,), {"secret": IndexSchema(lambda t: (t.SecretID,), unique=True)}),
    TableSchema(ACL_TOKEN_BOOTSTRAP, lambda t: (t.AccessorID,)),
]

# Namespaces that exist. The open-source v0.7.1 build knows only "default".
NAMESPACES = frozenset({s.DEFAULT_NAMESPACE})


class StateError(Exception):
    """A write the state store refuses; the transaction is rolled back."""


def new_database(history: int = 64) -> Database:
    return Database(SCHEMA, history=history)


class StateReader:
    """Nomad-level reads over a snapshot or the open write transaction."""

    __slots__ = ("view",)

    def __init__(self, view: Snapshot | WriteTxn) -> None:
        self.view = view

    # --- indexes ---------------------------------------------------------------------
    def latest_index(self) -> int:
        return self.view.latest_index

    def table_index(self, table: str) -> int:
        return self.view.table_index(table)

    # --- jobs ------------------------------------------------------------------------
    def job_by_id(self, namespace: str, job_id: str) -> Optional[s.Job]:
        return self.view.get(JOBS, (namespace, job_id))

    def jobs_by_prefix(self, namespace: str, prefix: str = "") -> Iterator[s.Job]:
        if prefix:
            return self.view.scan_prefix(JOBS, (namespace,), prefix)
        return self.view.scan_prefix(JOBS, (namespace,))

    def jobs(self) -> Iterator[s.Job]:
        return self.view.scan(JOBS)

    def job_versions(self, namespace: str, job_id: str) -> list[s.Job]:
        """Every tracked version, newest first."""
        versions = list(self.view.scan_prefix(JOB_VERSION, (namespace, job_id)))
        versions.reverse()
        return versions

    def job_by_version(self, namespace: str, job_id: str, version: int) -> Optional[s.Job]:
        return self.view.get(JOB_VERSION, (namespace, job_id, version))

    def job_summary(self, namespace: str, job_id: str) -> Optional[s.JobSummary]:
        return self.view.get(JOB_SUMMARY, (namespace, job_id))

    def periodic_launch(self, namespace: str, job_id: str) -> Optional[s.PeriodicLaunch]:
        return self.view.get(PERIODIC_LAUNCH, (namespace, job_id))

    # --- evaluations -----------------------------------------------------------------
    def eval_by_id(self, eval_id: str) -> Optional[s.Evaluation]:
        return self.view.get(EVALS, (eval_id,))

    def evals_by_job(self, namespace: str, job_id: str) -> list[s.Evaluation]:
        # memdb's job index is (namespace, job, status, id): grouped by status.
        evals = self.view.list_by(EVALS, "job", (namespace, job_id))
        evals.sort(key=lambda e: (e.Status, e.ID))
        return evals

    def evals(self) -> Iterator[s.Evaluation]:
        return self.view.scan(EVALS)

    def evals_by_prefix(self, prefix: str) -> Iterator[s.Evaluation]:
        return self.view.scan_prefix(EVALS, (), prefix)

    # --- allocations -----------------------------------------------------------------
    def alloc_by_id(self, alloc_id: str) -> Optional[s.Allocation]:
        return self.view.get(ALLOCS, (alloc_id,))

    def allocs_by_job(self, namespace: str, job_id: str, all_incarnations: bool = True) -> list[s.Allocation]:
        """Allocations of a job ID; without ``all_incarnations`` only those of the
        current job's incarnation (same Job.CreateIndex), when the job exists."""
        allocs = self.view.list_by(ALLOCS, "job", (namespace, job_id))
        if all_incarnations:
            return allocs
        job = self.job_by_id(namespace, job_id)
        if job is None:
            return allocs
        return [a for a in allocs if a.Job is None or a.Job.CreateIndex == job.CreateIndex]

    def allocs_by_node(self, node_id: str) -> list[s.Allocation]:
        # memdb's node index is (NodeID, terminal): live allocations come first, so
        # node evals take a job's type from its current allocs, not a purged one's.
        allocs = self.view.list_by(ALLOCS, "node", (node_id,))
        allocs.sort(key=lambda a: (a.terminal(), a.ID))
        return allocs

    def node_allocs_token(self, node_id: str) -> Optional[VersionedGroup]:
        """The node's allocations as an immutable mapping (primary key -> allocation,
        unordered) that knows how it came about, or None when the node has none.
        The same object exactly as long as no allocation on the node was added,
        changed or removed."""
        return self.view.index_entry(ALLOCS, "node", (node_id,))

    def nodes_token(self) -> Optional[object]:
        """An object that stays the same exactly as long as the nodes table does, or
        None inside a write transaction (where the table can still change)."""
        view = self.view
        return view.rows_token(NODES) if isinstance(view, Snapshot) else None

    @property
    def memo(self) -> dict[Any, Any]:
        """Derived data shared across snapshots (``mvcc.Database.memo``)."""
        return self.view.memo

    def allocs_by_eval(self, eval_id: str) -> list[s.Allocation]:
        return self.view.list_by(ALLOCS, "eval", (eval_id,))

    def allocs_by_deployment(self, deployment_id: str) -> list[s.Allocation]:
        return self.view.list_by(ALLOCS, "deployment", (deployment_id,))

    def allocs(self) -> Iterator[s.Allocation]:
        return self.view.scan(ALLOCS)

    def allocs_by_prefix(self, prefix: str) -> Iterator[s.Allocation]:
        return self.view.scan_prefix(ALLOCS, (), prefix)

    # --- deployments -----------------------------------------------------------------
    def deployment_by_id(self, deployment_id: str) -> Optional[s.Deployment]:
        return self.view.get(DEPLOYMENT, (deployment_id,))

    def deployments_by_job(self, namespace: str, job_id: str) -> list[s.Deployment]:
        return self.view.list_by(DEPLOYMENT, "job", (namespace, job_id))

    def latest_deployment_by_job(self, namespace: str, job_id: str) -> Optional[s.Deployment]:
        latest = None
        for d in self.deployments_by_job(namespace, job_id):
            if latest is None or d.CreateIndex > latest.CreateIndex:
                latest = d
        return latest

    def deployments(self) -> Iterator[s.Deployment]:
        return self.view.scan(DEPLOYMENT)

    def deployments_by_prefix(self, prefix: str) -> Iterator[s.Deployment]:
        return self.view.scan_prefix(DEPLOYMENT, (), prefix)

    # --- nodes -----------------------------------------------------------------------
    def node_by_id(self, node_id: str) -> Optional[s.Node]:
        return self.view.get(NODES, (node_id,))

    def nodes(self) -> list[s.Node]:
        return list(self.view.scan(NODES))

    def nodes_by_prefix(self, prefix: str) -> Iterator[s.Node]:
        return self.view.scan_prefix(NODES, (), prefix)

    # --- ACLs ------------------------------------------------------------------------
    def acl_policy(self, name: str) -> Optional[s.ACLPolicy]:
        return self.view.get(ACL_POLICY, (name,))

    def acl_policies(self) -> Iterator[s.ACLPolicy]:
        return self.view.scan(ACL_POLICY)

    def acl_policies_by_prefix(self, prefix: str) -> Iterator[s.ACLPolicy]:
        return self.view.scan_prefix(ACL_POLICY, (), prefix)

    def acl_token_by_secret(self, secret: str) -> Optional[s.ACLToken]:
        return self.view.get_by(ACL_TOKEN, "secret", (secret,))

    def acl_token_by_accessor(self, accessor_id: str) -> Optional[s.ACLToken]:
        return self.view.get(ACL_TOKEN, (accessor_id,))

    def acl_tokens_by_prefix(self, prefix: str) -> Iterator[s.ACLToken]:
        return self.view.scan_prefix(ACL_TOKEN, (), prefix)

    def acl_bootstrap_index(self) -> int:
        """The index of the last ACL bootstrap, 0 when there was none."""
        return self.view.table_index(ACL_TOKEN_BOOTSTRAP)

    def acl_tokens(self) -> Iterator[s.ACLToken]:
        return self.view.scan(ACL_TOKEN)


class StateWriter(StateReader):
    """The write rules of nomad/state/state_store.go, applied inside one transaction.

    Every method writes at ``self.index`` (the transaction's commit index).
    """

    __slots__ = ("index",)
    view: WriteTxn

    def __init__(self, txn: WriteTxn) -> None:
        super().__init__(txn)
        self.index: int = txn.index

    def _put(self, table: str, obj: object) -> None:
        self.view.insert(table, obj)

    # --- jobs ------------------------------------------------------------------------
    def upsert_job(self, job: s.Job, keep_version: bool = False) -> s.Job:
        index = self.index
        namespace = job.Namespace
        if namespace not in NAMESPACES:
            raise StateError(f'job "{job.ID}" is in non-existent namespace "{job.Namespace}"')
        # The FSM is given canonical, validated jobs: the ID is set.
        job_id = cast(str, job.ID)
        existing = self.job_by_id(namespace, job_id)
        if existing is not None:
            job = s.evolve(job, CreateIndex=existing.CreateIndex, ModifyIndex=index)
            if not keep_version:
                # The jobs row's version plus one, as upsertJobImpl does: after a stable
                # mark on an old version rewound the jobs row, that number may already be
                # stored, and its history row is overwritten (a v0.7.1 quirk).
                job = s.evolve(job, JobModifyIndex=index, Version=cast(int, existing.Version) + 1)
            job = s.evolve(job, Status=self._job_status(job, eval_delete=False))
        else:
            job = s.evolve(job, CreateIndex=index, ModifyIndex=index, JobModifyIndex=index, Version=0)
            # First write: the status is new, so a child moves into its parent's counters.
            status = self._job_status(job, eval_delete=False)
            job = s.evolve(job, Status=status)
            if job.ParentID:
                self._move_child_status(namespace, job.ParentID, "", status)
        self._update_summary_with_job(job)
        self._put(JOBS, job)
        self._upsert_job_version(job)
        return job

    def _upsert_job_version(self, job: s.Job) -> None:
        self._put(JOB_VERSION, job)
        versions = self.job_versions(cast(str, job.Namespace), cast(str, job.ID))
        keep = s.JOB_TRACKED_VERSIONS
        if len(versions) <= keep:
            return
        stable_at = next((i for i, v in enumerate(versions) if v.Stable), -1)
        if stable_at == keep:
            # Keep the newest stable version even when it is the oldest of the lot.
            versions[keep - 1], versions[keep] = versions[keep], versions[keep - 1]
        doomed = versions[keep]
        self.view.delete(JOB_VERSION, (doomed.Namespace, doomed.ID, doomed.Version))

    def delete_job(self, namespace: str, job_id: str) -> None:
        """Purge: the job row, all its versions and its summary."""
        existing = self.job_by_id(namespace, job_id)
        if existing is None:
            raise StateError("job not found")
        if existing.ParentID:
            parent = self.job_summary(namespace, existing.ParentID)
            if parent is not None and parent.Children is not None:
                c = parent.Children
                if existing.Status == s.JOB_STATUS_PENDING:
                    c = s.evolve(c, Pending=c.Pending - 1, Dead=c.Dead + 1)
                elif existing.Status == s.JOB_STATUS_RUNNING:
                    c = s.evolve(c, Running=c.Running - 1, Dead=c.Dead + 1)
                elif existing.Status != s.JOB_STATUS_DEAD:
                    raise StateError(f"unknown old job status {existing.Status}")
                if c is not parent.Children:
                    self._put(JOB_SUMMARY, s.evolve(parent, Children=c, ModifyIndex=self.index))
        self.view.delete(JOBS, (namespace, job_id))
        for v in self.job_versions(namespace, job_id):
            self.view.delete(JOB_VERSION, (namespace, job_id, v.Version))
        self.view.touch(JOB_VERSION)
        self.view.delete(JOB_SUMMARY, (namespace, job_id))
        self.view.touch(JOB_SUMMARY)

    def update_job_stability(self, namespace: str, job_id: str, version: int, stable: bool) -> None:
        job = self.job_by_version(namespace, job_id, version)
        if job is None or bool(job.Stable) == stable:
            return
        # Quirk kept from v0.7.1: the version row is upserted as the current job too.
        self.upsert_job(s.evolve(job, Stable=stable), keep_version=True)

    def upsert_periodic_launch(self, launch: s.PeriodicLaunch) -> None:
        existing = self.periodic_launch(launch.Namespace, launch.ID)
        create = existing.CreateIndex if existing is not None else self.index
        self._put(PERIODIC_LAUNCH, s.evolve(launch, CreateIndex=create, ModifyIndex=self.index))

    def delete_periodic_launch(self, namespace: str, job_id: str) -> None:
        if self.view.delete(PERIODIC_LAUNCH, (namespace, job_id)) is not None:
            self.view.touch(PERIODIC_LAUNCH)

    # --- job status and summaries -----------------------------------------------------
    def _job_status(self, job: s.Job, eval_delete: bool) -> str:
        if job.Type == s.JOB_TYPE_SYSTEM or job.is_parameterized() or job.is_periodic():
            return s.JOB_STATUS_DEAD if job.Stop else s.JOB_STATUS_RUNNING
        allocs = self.view.list_by(ALLOCS, "job", (job.Namespace, job.ID))
        for a in allocs:
            if not a.terminal():
                return s.JOB_STATUS_RUNNING
        evals = self.view.list_by(EVALS, "job", (job.Namespace, job.ID))
        for e in evals:
            if not e.terminal():
                return s.JOB_STATUS_PENDING
        if eval_delete or evals or allocs:
            return s.JOB_STATUS_DEAD
        return s.JOB_STATUS_PENDING

    def _set_job_status(self, job: s.Job, eval_delete: bool, force: str = "") -> None:
        old = "" if self.index == job.CreateIndex else (job.Status or "")
        new = force or self._job_status(job, eval_delete)
        if old == new:
            return
        self._put(JOBS, s.evolve(job, Status=new, ModifyIndex=self.index))
        if job.ParentID:
            self._move_child_status(cast(str, job.Namespace), job.ParentID, old, new)

    def _move_child_status(self, namespace: str, parent_id: str, old: str, new: str) -> None:
        summary = self.job_summary(namespace, parent_id)
        if summary is None:
            return
        counts = attrs.asdict(summary.Children or s.JobChildrenSummary())
        bucket = {s.JOB_STATUS_PENDING: "Pending", s.JOB_STATUS_RUNNING: "Running", s.JOB_STATUS_DEAD: "Dead"}
        if old:
            counts[bucket[old]] -= 1
        counts[bucket[new]] += 1
        self._put(JOB_SUMMARY, s.evolve(summary, Children=s.JobChildrenSummary(**counts), ModifyIndex=self.index))

    def _set_job_statuses(self, jobs: dict[tuple[str, str], str], eval_delete: bool) -> None:
        for (namespace, job_id), force in jobs.items():
            job = self.job_by_id(namespace, job_id)
            if job is not None:
                self._set_job_status(job, eval_delete, force)

    def _update_summary_with_job(self, job: s.Job) -> None:
        # A job being stored is canonical: its namespace, ID and group names are set.
        namespace, job_id = cast(str, job.Namespace), cast(str, job.ID)
        summary = self.job_summary(namespace, job_id)
        changed = False
        if summary is None:
            summary = s.JobSummary(JobID=job_id, Namespace=namespace, Summary={},
                                   Children=s.JobChildrenSummary(), CreateIndex=self.index)
            changed = True
        groups = dict(summary.Summary)
        for tg in job.TaskGroups or ():
            name = cast(str, tg.Name)
            if name not in groups:
                groups[name] = s.TaskGroupSummary()
                changed = True
        if changed:
            self._put(JOB_SUMMARY, s.evolve(summary, Summary=groups, ModifyIndex=self.index))

    def reconcile_job_summaries(self, queued: Optional[dict[tuple[str, str], dict[str, int]]] = None) -> None:
        """Rebuild every job's summary from its allocations (state_store.go
        ReconcileJobSummaries, applied when a server gains leadership): Queued and
        Children start over, allocations of an earlier incarnation are left out, and the
        job_summary table moves to this index even when there is no job."""
        for job in list(self.jobs()):
            namespace, job_id = cast(str, job.Namespace), cast(str, job.ID)
            groups: dict[str, s.TaskGroupSummary] = {cast(str, tg.Name): s.TaskGroupSummary()
                                                     for tg in job.TaskGroups or ()}
            for alloc in self.allocs_by_job(namespace, job_id):
                if alloc.Job is None or alloc.Job.CreateIndex != job.CreateIndex:
                    continue
                tg = groups.get(alloc.TaskGroup, s.TaskGroupSummary())
                bucket = self._CLIENT_BUCKET.get(alloc.ClientStatus)
                if bucket:
                    tg = s.evolve(tg, **{bucket: getattr(tg, bucket) + 1})
                groups[alloc.TaskGroup] = tg
            for name, count in ((queued or {}).get((namespace, job_id)) or {}).items():
                if name in groups:
                    groups[name] = s.evolve(groups[name], Queued=groups[name].Queued + count)
            self._put(JOB_SUMMARY, s.JobSummary(JobID=job_id, Namespace=namespace, Summary=groups,
                                                CreateIndex=cast(int, job.CreateIndex), ModifyIndex=self.index))
        self.view.touch(JOB_SUMMARY)

    _CLIENT_BUCKET = {
        s.ALLOC_CLIENT_PENDING: "Starting",
        s.ALLOC_CLIENT_RUNNING: "Running",
        s.ALLOC_CLIENT_COMPLETE: "Complete",
        s.ALLOC_CLIENT_FAILED: "Failed",
        s.ALLOC_CLIENT_LOST: "Lost",
    }
    # Complete and Failed are historical counts: never decremented.
    _DECREMENTED = frozenset({s.ALLOC_CLIENT_PENDING, s.ALLOC_CLIENT_RUNNING, s.ALLOC_CLIENT_LOST})

    def _update_summary_with_alloc(self, alloc: s.Allocation, existing: Optional[s.Allocation],
                                   pending: Optional[dict[tuple[str, str], s.JobSummary]] = None) -> None:
        """Count the allocation's move into its job's summary. With ``pending``, the
        summaries are collected there (and read from there first) for the caller to
        write once: a plan placing a thousand allocations of one job rewrites its
        summary once, not a thousand times, with the same result."""
        if alloc.Job is None:
            return
        key = (alloc.Namespace, alloc.JobID)
        summary = pending.get(key) if pending is not None else None
        if summary is None:
            summary = self.job_summary(alloc.Namespace, alloc.JobID)
        if summary is None:
            if self.job_by_id(alloc.Namespace, alloc.JobID) is None:
                return
            raise StateError(f'job summary for job "{alloc.JobID}" in namespace "{alloc.Namespace}" is not present')
        if summary.CreateIndex != alloc.Job.CreateIndex:
            return  # an allocation of an earlier incarnation of this job ID
        tg = summary.Summary.get(alloc.TaskGroup)
        if tg is None:
            raise StateError(f"unable to find task group in the job summary: {alloc.TaskGroup}")
        if existing is None:
            if alloc.ClientStatus != s.ALLOC_CLIENT_PENDING:
                return
            counts = {"Starting": tg.Starting + 1}
            if tg.Queued > 0:
                counts["Queued"] = tg.Queued - 1
        elif existing.ClientStatus != alloc.ClientStatus:
            counts = {}
            bucket = self._CLIENT_BUCKET.get(alloc.ClientStatus)
            if bucket:
                counts[bucket] = getattr(tg, bucket) + 1
            if existing.ClientStatus in self._DECREMENTED:
                old_bucket = self._CLIENT_BUCKET[existing.ClientStatus]
                counts[old_bucket] = counts.get(old_bucket, getattr(tg, old_bucket)) - 1
        else:
            return
        groups = dict(summary.Summary)
        groups[alloc.TaskGroup] = s.evolve(tg, **counts)
        summary = s.evolve(summary, Summary=groups, ModifyIndex=self.index)
        if pending is not None:
            pending[key] = summary
        else:
            self._put(JOB_SUMMARY, summary)

    # --- evaluations -----------------------------------------------------------------
    def upsert_evals(self, evals: Iterable[s.Evaluation]) -> None:
        jobs: dict[tuple[str, str], str] = {}
        for ev in evals:
            self._nested_upsert_eval(ev)
            jobs[(ev.Namespace, ev.JobID)] = ""
        self._set_job_statuses(jobs, eval_delete=False)

    def _nested_upsert_eval(self, ev: s.Evaluation) -> None:
        index = self.index
        existing = self.eval_by_id(ev.ID)
        create = existing.CreateIndex if existing is not None else index
        ev = s.evolve(ev, CreateIndex=create, ModifyIndex=index)
        summary = self.job_summary(ev.Namespace, ev.JobID)
        if summary is not None and ev.QueuedAllocations:
            groups = dict(summary.Summary)
            changed = False
            for name, queued in sorted(ev.QueuedAllocations.items()):
                tg = groups.get(name)
                if tg is not None and tg.Queued != queued:
                    groups[name] = s.evolve(tg, Queued=queued)
                    changed = True
            if changed:
                self._put(JOB_SUMMARY, s.evolve(summary, Summary=groups, ModifyIndex=index))
        if ev.Status == s.EVAL_STATUS_COMPLETE and not ev.FailedTGAllocs:
            for other in self.view.list_by(EVALS, "job", (ev.Namespace, ev.JobID)):
                if other.Status == s.EVAL_STATUS_BLOCKED:
                    # v0.7.1 names the blocked eval itself in the description.
                    self._put(EVALS, s.evolve(other, Status=s.EVAL_STATUS_CANCELLED,
                                                  StatusDescription=f'evaluation "{other.ID}" successful',
                                                  ModifyIndex=index))
        self._put(EVALS, ev)

    def delete_evals(self, eval_ids: Iterable[str], alloc_ids: Iterable[str] = ()) -> None:
        jobs: dict[tuple[str, str], str] = {}
        for eid in eval_ids:
            old = self.view.delete(EVALS, (eid,))
            if old is not None:
                jobs[(old.Namespace, old.JobID)] = ""
        self.view.touch(EVALS)
        for aid in alloc_ids:
            self.view.delete(ALLOCS, (aid,))
        self.view.touch(ALLOCS)
        self._set_job_statuses(jobs, eval_delete=True)

    def _touch_eval(self, eval_id: str) -> None:
        ev = self.eval_by_id(eval_id)
        if ev is None:
            raise StateError(f'unable to find eval id "{eval_id}"')
        self._put(EVALS, s.evolve(ev, ModifyIndex=self.index))

    # --- allocations -----------------------------------------------------------------
    def upsert_allocs(self, allocs: Iterable[s.Allocation]) -> None:
        index = self.index
        jobs: dict[tuple[str, str], str] = {}
        summaries: dict[tuple[str, str], s.JobSummary] = {}
        for alloc in allocs:
            existing = self.alloc_by_id(alloc.ID)
            if existing is None:
                if alloc.Job is None:
                    raise StateError(f'attempting to upsert allocation "{alloc.ID}" without a job')
                alloc = s.evolve(alloc, CreateIndex=index, ModifyIndex=index, AllocModifyIndex=index)
            else:
                changes: dict[str, Any] = dict(CreateIndex=existing.CreateIndex, ModifyIndex=index,
                                               AllocModifyIndex=index, TaskStates=existing.TaskStates)
                if alloc.ClientStatus != s.ALLOC_CLIENT_LOST:
                    changes.update(ClientStatus=existing.ClientStatus, ClientDescription=existing.ClientDescription)
                if alloc.Job is None:
                    changes["Job"] = existing.Job
                alloc = s.evolve(alloc, **changes)
            alloc = self._update_deployment_with_alloc(alloc, existing)
            self._update_summary_with_alloc(alloc, existing, summaries)
            self._put(ALLOCS, alloc)
            key = (alloc.Namespace, alloc.JobID)
            if jobs.get(key) != s.JOB_STATUS_RUNNING:
                jobs[key] = "" if alloc.terminal() else s.JOB_STATUS_RUNNING
        for summary in summaries.values():
            self._put(JOB_SUMMARY, summary)
        self.view.touch(ALLOCS)
        self._set_job_statuses(jobs, eval_delete=False)

    def update_allocs_from_client(self, updates: Iterable[s.Allocation]) -> None:
        for update in updates:
            existing = self.alloc_by_id(update.ID)
            if existing is None:
                continue
            alloc = s.evolve(existing, ClientStatus=update.ClientStatus,
                                 ClientDescription=update.ClientDescription, TaskStates=update.TaskStates,
                                 DeploymentStatus=update.DeploymentStatus, ModifyIndex=self.index,
                                 ModifyTime=update.ModifyTime)
            alloc = self._update_deployment_with_alloc(alloc, existing)
            self._update_summary_with_alloc(alloc, existing)
            self._put(ALLOCS, alloc)
            force = "" if alloc.terminal() else s.JOB_STATUS_RUNNING
            self._set_job_statuses({(existing.Namespace, existing.JobID): force}, eval_delete=False)
        self.view.touch(ALLOCS)

    def _update_deployment_with_alloc(self, alloc: s.Allocation, existing: Optional[s.Allocation]) -> s.Allocation:
        if not alloc.DeploymentID:
            return alloc
        deployment = self.deployment_by_id(alloc.DeploymentID)
        if deployment is None or alloc.TaskGroup not in deployment.TaskGroups:
            return alloc
        placed = healthy = unhealthy = 0
        old_healthy = (existing.DeploymentStatus.Healthy
                       if existing is not None and existing.DeploymentStatus is not None else None)
        new_healthy = alloc.DeploymentStatus.Healthy if alloc.DeploymentStatus is not None else None
        old_set = old_healthy is not None
        new_set = new_healthy is not None
        if existing is None or existing.DeploymentID != alloc.DeploymentID:
            placed = 1
        elif not old_set and new_set:
            if new_healthy:
                healthy = 1
            else:
                unhealthy = 1
        elif old_set and new_set and old_healthy and not new_healthy:
            healthy, unhealthy = -1, 1
        if not (placed or healthy or unhealthy):
            return alloc
        if alloc.DeploymentStatus is not None and (healthy or unhealthy):
            alloc = s.evolve(alloc, DeploymentStatus=s.evolve(alloc.DeploymentStatus, ModifyIndex=self.index))
        state = deployment.TaskGroups[alloc.TaskGroup]
        groups = dict(deployment.TaskGroups)
        groups[alloc.TaskGroup] = s.evolve(state, PlacedAllocs=state.PlacedAllocs + placed,
                                               HealthyAllocs=state.HealthyAllocs + healthy,
                                               UnhealthyAllocs=state.UnhealthyAllocs + unhealthy)
        self.upsert_deployment(s.evolve(deployment, TaskGroups=groups))
        return alloc

    # --- plans -----------------------------------------------------------------------
    def apply_plan_results(self, eval_id: str, job: Optional[s.Job], allocs: list[s.Allocation],
                           deployment: Optional[s.Deployment],
                           deployment_updates: Iterable[s.DeploymentStatusUpdate]) -> None:
        if deployment is not None:
            self.upsert_deployment(deployment)
        for update in deployment_updates:
            self.update_deployment_status(update)
        filled = []
        for alloc in allocs:
            if alloc.Job is None and job is not None and not alloc.terminal():
                alloc = s.evolve(alloc, Job=job)
            filled.append(alloc)
        self.upsert_allocs(filled)
        if eval_id:
            self._touch_eval(eval_id)

    # --- deployments -----------------------------------------------------------------
    def delete_deployments(self, deployment_ids: Iterable[str]) -> None:
        """DeleteDeployment: all of them or, when one is missing, none."""
        ids = list(deployment_ids)
        if not ids:
            return
        for deployment_id in ids:
            if self.view.delete(DEPLOYMENT, (deployment_id,)) is None:
                raise StateError("deployment not found")
        self.view.touch(DEPLOYMENT)

    def upsert_deployment(self, deployment: s.Deployment) -> None:
        existing = self.deployment_by_id(deployment.ID)
        create = existing.CreateIndex if existing is not None else self.index
        deployment = s.evolve(deployment, CreateIndex=create, ModifyIndex=self.index)
        self._put(DEPLOYMENT, deployment)
        if deployment.Status == s.DEPLOYMENT_STATUS_SUCCESSFUL:
            self.update_job_stability(deployment.Namespace, deployment.JobID, deployment.JobVersion, True)

    def update_deployment_status(self, update: s.DeploymentStatusUpdate) -> s.Deployment:
        deployment = self.deployment_by_id(update.DeploymentID)
        if deployment is None:
            raise StateError(f'Deployment ID "{update.DeploymentID}" couldn\'t be updated as it does not exist')
        if not deployment.active():
            raise StateError(f'Deployment "{deployment.ID}" has terminal status "{deployment.Status}":')
        deployment = s.evolve(deployment, Status=update.Status, StatusDescription=update.StatusDescription,
                                  ModifyIndex=self.index)
        self._put(DEPLOYMENT, deployment)
        if deployment.Status == s.DEPLOYMENT_STATUS_SUCCESSFUL:
            self.update_job_stability(deployment.Namespace, deployment.JobID, deployment.JobVersion, True)
        return deployment

    def promote_deployment(self, deployment_id: str, groups: Optional[list[str]], all_groups: bool) -> None:
        deployment = self.deployment_by_id(deployment_id)
        if deployment is None:
            raise StateError(f'Deployment ID "{deployment_id}" couldn\'t be updated as it does not exist')
        if not deployment.active():
            raise StateError(f'Deployment "{deployment.ID}" has terminal status "{deployment.Status}":')
        # UpdateDeploymentPromotion: every canary of a promoted group (allocs in ID
        # order) must be healthy; the groups then all get Promoted, canaries or not.
        wanted = set(groups or ())
        canaries = {aid for state in deployment.TaskGroups.values() for aid in state.PlacedCanaries or ()}
        have_canaries = False
        unhealthy = []
        for alloc in self.allocs_by_deployment(deployment_id):
            if alloc.ID not in canaries or (not all_groups and alloc.TaskGroup not in wanted):
                continue
            if alloc.DeploymentStatus is None or alloc.DeploymentStatus.Healthy is not True:
                unhealthy.append(f"Canary allocation {quote(alloc.ID)} for group {quote(alloc.TaskGroup)} "
                                 "is not healthy")
                continue
            have_canaries = True
        if unhealthy:
            raise StateError(multierror(unhealthy))
        if not have_canaries:
            raise StateError("no canaries to promote")
        new_groups = {name: s.evolve(state, Promoted=True) if all_groups or name in wanted else state
                      for name, state in deployment.TaskGroups.items()}
        changes: dict[str, Any] = dict(TaskGroups=new_groups)
        # Deployment.RequiresPromotion is false once no canary group awaits promotion.
        if deployment.Status == s.DEPLOYMENT_STATUS_RUNNING and not any(
                g.DesiredCanaries > 0 and not g.Promoted for g in new_groups.values()):
            changes["StatusDescription"] = s.DEPLOYMENT_DESC_RUNNING
        self.upsert_deployment(s.evolve(deployment, **changes))

    def set_alloc_health(self, deployment_id: str, healthy: Iterable[str], unhealthy: Iterable[str],
                         now_ns: int) -> None:
        deployment = self.deployment_by_id(deployment_id)
        if deployment is None:
            raise StateError(f'Deployment ID "{deployment_id}" couldn\'t be updated as it does not exist')
        if not deployment.active():
            raise StateError(f'Deployment "{deployment.ID}" has terminal status "{deployment.Status}":')
        for ids, value in ((healthy, True), (unhealthy, False)):
            for aid in ids:
                existing = self.alloc_by_id(aid)
                if existing is None:
                    raise StateError(f'unknown alloc "{aid}"')
                if existing.DeploymentID != deployment_id:
                    raise StateError(f'alloc "{aid}" is not part of deployment "{deployment_id}"')
                alloc = s.evolve(existing, DeploymentStatus=s.AllocDeploymentStatus(Healthy=value),
                                     ModifyIndex=self.index, ModifyTime=now_ns)
                alloc = self._update_deployment_with_alloc(alloc, existing)
                self._put(ALLOCS, alloc)
        self.view.touch(ALLOCS)

    # --- nodes -----------------------------------------------------------------------
    def upsert_node(self, node: s.Node) -> None:
        existing = self.node_by_id(node.ID)
        if existing is not None:
            node = s.evolve(node, CreateIndex=existing.CreateIndex, ModifyIndex=self.index, Drain=existing.Drain)
        else:
            node = s.evolve(node, CreateIndex=self.index, ModifyIndex=self.index)
        self._put(NODES, node)

    def update_node_status(self, node_id: str, status: str, now_s: int) -> None:
        node = self.node_by_id(node_id)
        if node is None:
            raise StateError("node not found")
        self._put(NODES, s.evolve(node, Status=status, StatusUpdatedAt=now_s, ModifyIndex=self.index))

    def update_node_drain(self, node_id: str, drain: bool) -> None:
        node = self.node_by_id(node_id)
        if node is None:
            raise StateError("node not found")
        self._put(NODES, s.evolve(node, Drain=drain, ModifyIndex=self.index))

    def delete_node(self, node_id: str) -> None:
        if self.view.delete(NODES, (node_id,)) is None:
            raise StateError("node not found")

    # --- ACLs ------------------------------------------------------------------------
    def upsert_acl_policies(self, policies: Iterable[s.ACLPolicy]) -> None:
        for p in policies:
            existing = self.acl_policy(p.Name)
            create = existing.CreateIndex if existing is not None else self.index
            self._put(ACL_POLICY, s.evolve(p, CreateIndex=create, ModifyIndex=self.index))

    def delete_acl_policies(self, names: Iterable[str]) -> None:
        for name in names:
            self.view.delete(ACL_POLICY, (name,))
        self.view.touch(ACL_POLICY)

    def upsert_acl_tokens(self, tokens: Iterable[s.ACLToken]) -> None:
        for t in tokens:
            existing = self.view.get(ACL_TOKEN, (t.AccessorID,))
            create = existing.CreateIndex if existing is not None else self.index
            self._put(ACL_TOKEN, s.evolve(t, CreateIndex=create, ModifyIndex=self.index))

    def delete_acl_tokens(self, accessor_ids: Iterable[str]) -> None:
        for aid in accessor_ids:
            self.view.delete(ACL_TOKEN, (aid,))
        self.view.touch(ACL_TOKEN)

    def bootstrap_acl_token(self, token: s.ACLToken, reset_index: int = 0) -> None:
        """The first management token (state_store.go ``BootstrapACLTokens``): refused
        once a bootstrap happened, unless ``reset_index`` names that bootstrap."""
        done = self.acl_bootstrap_index()
        if done and done != reset_index:
            raise StateError(f"ACL bootstrap already done (reset index: {done})" if not reset_index else
                             f"Invalid bootstrap reset index (specified {reset_index}, reset index: {done})")
        self.upsert_acl_tokens([token])
        self.view.touch(ACL_TOKEN_BOOTSTRAP)
