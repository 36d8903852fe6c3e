"""The Jobs service: one method per documented endpoint, with Nomad v0.7.1's rules.

Each method takes request models plus :class:`~nomadjobs.query.QueryOptions` or
:class:`~nomadjobs.query.WriteOptions`, returns response models, and raises
:class:`~nomadjobs.errors.NomadError` carrying Nomad's exact text and status. The
checks Nomad's HTTP agent makes (the 400s) live here too, so the shim stays a
translator and library callers get the same answers as HTTP clients.

Order of checks follows Nomad: for register and plan the ACL check comes after
validation; everywhere else it comes first. A rejected request never reaches the FSM.
"""

from __future__ import annotations

import random
import time
import uuid
from typing import Any, Callable, Iterable, Optional, TypeVar

import cramjam

from . import acl as aclmod
from . import fsm as cmds
from . import structs as s
from .codec import IdentityCache
from .core.protocol import Core
from .errors import NomadError, bad_request, not_found
from .golang.fmt import format_slice as go_slice
from .golang.multierror import multierror, warnings_text
from .golang.time import rfc3339
from .lifecycle import Lifecycle
from .query import QueryMeta, QueryOptions, WriteOptions
from .scheduler import ScratchPlanner, new_scheduler
from .state.mvcc import Snapshot
from .state.store import (ALLOCS, DEPLOYMENT, EVALS, JOB_SUMMARY, JOB_VERSION, JOBS, NAMESPACES, StateError,
                          StateReader, StateWriter)

T = TypeVar("T")

DISPATCH_PAYLOAD_LIMIT = 16 * 1024
PLAN_SCRATCH_INDEX = 100  # Nomad's dry run inserts new jobs and the plan eval at index 100


def snappy_encode(data: bytes) -> bytes:
    return bytes(cramjam.snappy.compress_raw(data))


def snappy_decode(data: bytes) -> bytes:
    return bytes(cramjam.snappy.decompress_raw(data))


def with_decompressed_payload(job: s.Job) -> s.Job:
    """Reads hand out a dispatched job's payload decompressed (versions keep the
    stored, compressed form). A corrupt payload is a server error, as Go's decoder's."""
    if not job.Payload:
        return job
    try:
        payload = snappy_decode(job.Payload)
    except Exception as exc:
        raise NomadError(f"snappy: corrupt input: {exc}") from None
    return s.evolve(job, Payload=payload or None)


class JobsService:
    """One method per Jobs API endpoint (``nomad/job_endpoint.go`` and the agent's
    ``job_endpoint.go``): Nomad's checks in Nomad's order, then FSM commands through
    the core. Periodic launches and forced runs go through the lifecycles."""

    def __init__(self, core: Core, lifecycle: Lifecycle) -> None:
        self.core = core
        self.lifecycle = lifecycle
        self._jitter = random.Random()  # blocking-query jitter must not touch the seeded RNG
        # (namespace, prefix) -> (jobs rows token, summary rows token, stubs); see list_jobs.
        self._list_cache: dict[tuple[str, str], tuple[object, object, tuple[s.JobListStub, ...]]] = {}
        self._plans = 0  # dry runs so far: each draws its own IDs

    # --- shared machinery ------------------------------------------------------------
    def _acl(self, state: StateReader, token: str) -> aclmod.ACL:
        return aclmod.resolve(state, self.core.acl_enabled, token)

    def _check_region(self, region: str) -> None:
        if region and region != self.core.region:
            raise NomadError("No path to region")

    def blocking_query(self, q: QueryOptions, tables: Iterable[str],
                       run: Callable[[StateReader], tuple[T, int]]) -> tuple[T, QueryMeta]:
        """Nomad's blockingRPC: answer at once unless ``q.min_index`` is set; then wait
        (capped at 5 minutes, plus jitter) until the result's index passes it."""
        self._check_region(q.region)
        state = self.core.snapshot()
        result, index = run(state)
        if q.min_index <= 0 or index > q.min_index:
            return result, QueryMeta(index)
        tables = tuple(tables)
        wait = q.blocking_wait()
        deadline = time.monotonic() + wait + self._jitter.uniform(0, wait / 16)
        while index <= q.min_index:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            # Wait for the watched tables to move past what this run already read, so
            # an unrelated write to the same table does not spin the loop.
            seen = max(max(state.table_index(t) for t in tables), q.min_index)
            state = StateReader(self.core.db.wait(tables, seen, remaining))
            result, index = run(state)
        return result, QueryMeta(index)

    def _apply(self, command: Any) -> cmds.ApplyResult:
        return self.core.apply(command)

    def _new_eval(self, namespace: str, job: s.Job, trigger: str, job_modify_index: int,
                  priority: Optional[int] = None, job_type: Optional[str] = None) -> s.Evaluation:
        return s.Evaluation(ID=self.core.new_id(), Namespace=namespace,
                            Priority=(job.Priority or 0) if priority is None else priority,
                            Type=(job.Type or "") if job_type is None else job_type, TriggeredBy=trigger,
                            JobID=job.ID or "", JobModifyIndex=job_modify_index, Status=s.EVAL_STATUS_PENDING)

    def _commit_eval(self, ev: s.Evaluation) -> int:
        result = self._apply(cmds.EvalUpdate([ev]))
        return result.index

    def _settle(self) -> None:
        """Run the scheduler on what the request queued (Nomad's workers would)."""
        self.core.process_evals()

    # --- list and read -----------------------------------------------------------------
    def _require(self, q: QueryOptions, capability: str) -> None:
        # The RPC handler forwards to the request's region (or fails) before it
        # resolves the token: "No path to region" wins over "Permission denied".
        self._check_region(q.region)
        # With ACLs off every request is allowed: no state to read.
        if self.core.acl_enabled:
            aclmod.require(self._acl(self.core.snapshot(), q.token), q.namespace, capability)

    def list_jobs(self, q: QueryOptions) -> tuple[list[s.JobListStub], QueryMeta]:
        self._require(q, aclmod.CAP_LIST_JOBS)

        def run(state: StateReader) -> tuple[list[s.JobListStub], int]:
            # The same jobs and summaries give the same stubs: reuse the last answer
            # to this (namespace, prefix) while both tables are unchanged.
            view = state.view
            tokens = None
            if isinstance(view, Snapshot):
                tokens = (view.rows_token(JOBS), view.rows_token(JOB_SUMMARY))
                hit = self._list_cache.get((q.namespace, q.prefix))
                if hit is not None and hit[0] is tokens[0] and hit[1] is tokens[1]:
                    return list(hit[2]), state.table_index(JOBS)
            stubs = [cached_job_stub(job, state.job_summary(job.Namespace or "", job.ID or ""))
                     for job in state.jobs_by_prefix(q.namespace, q.prefix)]
            if tokens is not None:
                if len(self._list_cache) >= 64:
                    self._list_cache.clear()
                self._list_cache[(q.namespace, q.prefix)] = (tokens[0], tokens[1], tuple(stubs))
            # v0.7.1 answers with the jobs table's index alone (summaries are not watched).
            return stubs, state.table_index(JOBS)

        return self.blocking_query(q, (JOBS,), run)

    def _read_acl(self, q: QueryOptions) -> None:
        self._require(q, aclmod.CAP_READ_JOB)

    def get_job(self, job_id: str, q: QueryOptions) -> tuple[s.Job, QueryMeta]:
        self._read_acl(q)

        def run(state: StateReader) -> tuple[Optional[s.Job], int]:
            job = state.job_by_id(q.namespace, job_id)
            return job, ((job.ModifyIndex or 0) if job is not None else state.table_index(JOBS))

        job, meta = self.blocking_query(q, (JOBS,), run)
        if job is None:
            raise not_found("job not found", meta.index)
        return with_decompressed_payload(job), meta

    def job_versions(self, job_id: str, diffs: bool, q: QueryOptions) -> tuple[s.JobVersionsResponse, QueryMeta]:
        self._read_acl(q)
        from .diff import job_diff

        def run(state: StateReader) -> tuple[s.JobVersionsResponse, int]:
            versions = state.job_versions(q.namespace, job_id)
            if not versions:
                return s.JobVersionsResponse(Versions=None), state.table_index(JOB_VERSION)
            out_diffs = None
            if diffs and len(versions) > 1:
                out_diffs = []
                for newer, older in zip(versions, versions[1:]):
                    try:
                        out_diffs.append(job_diff(older, newer, contextual=True))
                    except ValueError as exc:
                        raise NomadError(f"failed to create job diff: {exc}") from None
            return s.JobVersionsResponse(Versions=versions, Diffs=out_diffs), versions[0].ModifyIndex or 0

        resp, meta = self.blocking_query(q, (JOB_VERSION,), run)
        if not resp.Versions:
            raise not_found("job versions not found", meta.index)
        return s.evolve(resp, Index=meta.index, LastContact=0, KnownLeader=True), meta

    def job_allocations(self, job_id: str, all_allocs: bool, q: QueryOptions) -> tuple[list[s.AllocListStub], QueryMeta]:
        self._read_acl(q)

        def run(state: StateReader) -> tuple[list[s.AllocListStub], int]:
            allocs = state.allocs_by_job(q.namespace, job_id, all_incarnations=all_allocs)
            return [alloc_stub(a) for a in allocs], state.table_index(ALLOCS)

        return self.blocking_query(q, (ALLOCS,), run)

    def job_evaluations(self, job_id: str, q: QueryOptions) -> tuple[list[s.Evaluation], QueryMeta]:
        self._read_acl(q)
        return self.blocking_query(q, (EVALS,), lambda st: (st.evals_by_job(q.namespace, job_id),
                                                            st.table_index(EVALS)))

    def job_deployments(self, job_id: str, q: QueryOptions) -> tuple[list[s.Deployment], QueryMeta]:
        self._read_acl(q)
        return self.blocking_query(q, (DEPLOYMENT,), lambda st: (st.deployments_by_job(q.namespace, job_id),
                                                                 st.table_index(DEPLOYMENT)))

    def job_latest_deployment(self, job_id: str, q: QueryOptions) -> tuple[Optional[s.Deployment], QueryMeta]:
        self._read_acl(q)
        return self.blocking_query(q, (DEPLOYMENT,),
                                   lambda st: (st.latest_deployment_by_job(q.namespace, job_id),
                                               st.table_index(DEPLOYMENT)))

    def job_summary(self, job_id: str, q: QueryOptions) -> tuple[s.JobSummary, QueryMeta]:
        self._read_acl(q)

        def run(state: StateReader) -> tuple[Optional[s.JobSummary], int]:
            summary = state.job_summary(q.namespace, job_id)
            return summary, (summary.ModifyIndex if summary is not None else state.table_index(JOB_SUMMARY))

        summary, meta = self.blocking_query(q, (JOB_SUMMARY,), run)
        if summary is None:
            raise not_found("job not found", meta.index)
        return summary, meta

    # --- register ------------------------------------------------------------------------
    def _http_job(self, job: Optional[s.Job], path_id: Optional[str], id_missing: str, mismatch: str) -> s.Job:
        if job is None:
            raise bad_request("Job must be specified")
        if job.ID is None:
            raise bad_request(id_missing)
        if path_id and job.ID != path_id:
            raise bad_request(mismatch)
        from .canonicalize import api_canonicalize
        return api_canonicalize(job)

    def parse_job(self, hcl_text: Optional[str], canonicalize: bool = False) -> dict[str, Any]:
        """PUT /v1/jobs/parse (an endpoint of later Nomad versions): a job file's API
        job, as ``nomad run -output`` prints it, or canonical (the defaults a register
        would fill in). A file the parser refuses is a 400 with its message."""
        from .jobspec import JobspecError, parse
        if not hcl_text:
            raise bad_request("Job HCL must be specified")
        try:
            job = parse(hcl_text)
        except JobspecError as exc:
            raise bad_request(str(exc)) from None
        if not canonicalize:
            return job
        from .canonicalize import api_canonicalize
        from .codec import job_from_dict, to_wire
        wire: dict[str, Any] = to_wire(api_canonicalize(job_from_dict(job)))
        return wire

    def register_job(self, body: s.JobRegisterRequest, w: WriteOptions = WriteOptions(),
                     path_id: Optional[str] = None) -> s.JobRegisterResponse:
        job = self._http_job(body.Job, path_id, "Job ID hasn't been provided", "Job ID does not match name")
        token = w.token or body.SecretID
        self._check_region(w.region or body.Region)
        return self._register(job, token, body.EnforceIndex, body.JobModifyIndex, body.PolicyOverride)

    def _register(self, job: s.Job, token: str, enforce_index: bool = False, job_modify_index: int = 0,
                  policy_override: bool = False) -> s.JobRegisterResponse:
        from .validate import spec_changed
        job, errors, warnings = self._validate(job)
        if errors:
            raise NomadError(multierror(errors))
        namespace = job.Namespace or s.DEFAULT_NAMESPACE  # set by canonicalization
        job_id = job.ID or ""
        with self.core.lock:
            state = self.core.snapshot()
            acl = self._acl(state, token)
            aclmod.require(acl, namespace, aclmod.CAP_SUBMIT_JOB)
            if policy_override:
                aclmod.require(acl, namespace, aclmod.CAP_SENTINEL_OVERRIDE)
            existing = state.job_by_id(namespace, job_id)
            if enforce_index:
                prefix = f"Enforcing job modify index {job_modify_index}"
                if existing is not None and job_modify_index == 0:
                    raise NomadError(f"{prefix}: job already exists")
                if existing is not None and job_modify_index != existing.JobModifyIndex:
                    raise NomadError(f"{prefix}: job exists with conflicting job modify index: "
                                     f"{existing.JobModifyIndex}")
                if existing is None and job_modify_index != 0:
                    raise NomadError(f"{prefix}: job does not exist")
            if existing is not None:
                check_job_transition(existing, job)
            if any(t.Vault is not None for tg in job.TaskGroups or () for t in tg.Tasks or ()):
                raise NomadError("Vault not enabled and Vault policies requested")
            if namespace not in NAMESPACES:
                raise NomadError(f'job "{job.ID}" is in non-existent namespace "{namespace}"')
            job = s.evolve(job, VaultToken="")
            if existing is None or spec_changed(existing, job):
                job = s.evolve(job, SubmitTime=self.core.now_ns())
                result = self._apply(cmds.JobRegister(job, launch_time_ns=self.core.now_ns()))
                if result.error is not None:
                    raise NomadError(result.error)
                job_modify_index = result.index
            else:
                job_modify_index = existing.JobModifyIndex or 0
            response = s.JobRegisterResponse(JobModifyIndex=job_modify_index, Warnings=warnings_text(warnings))
            if job.is_periodic() or job.is_parameterized():
                return response
            ev = self._new_eval(namespace, job, s.TRIGGER_JOB_REGISTER, job_modify_index)
            index = self._commit_eval(ev)
            self._settle()
        return s.evolve(response, EvalID=ev.ID, EvalCreateIndex=index, Index=index)

    # --- deregister -------------------------------------------------------------------------
    def deregister_job(self, job_id: str, purge: bool = False, w: WriteOptions = WriteOptions()) -> s.JobDeregisterResponse:
        namespace = w.namespace or s.DEFAULT_NAMESPACE
        self._check_region(w.region)
        with self.core.lock:
            state = self.core.snapshot()
            aclmod.require(self._acl(state, w.token), namespace, aclmod.CAP_SUBMIT_JOB)
            if not job_id:
                raise NomadError("missing job ID for deregistering")
            job = state.job_by_id(namespace, job_id)
            # The FSM's verdict is ignored, as in Nomad: an unknown job still "succeeds".
            result = self._apply(cmds.JobDeregister(namespace, job_id, purge))
            response = s.JobDeregisterResponse(JobModifyIndex=result.index)
            if job is not None and (job.is_periodic() or job.is_parameterized()):
                return response
            ev = s.Evaluation(ID=self.core.new_id(), Namespace=namespace, Priority=s.JOB_DEFAULT_PRIORITY,
                              Type=s.JOB_TYPE_SERVICE, TriggeredBy=s.TRIGGER_JOB_DEREGISTER, JobID=job_id,
                              JobModifyIndex=result.index, Status=s.EVAL_STATUS_PENDING)
            index = self._commit_eval(ev)
            self._settle()
        return s.evolve(response, EvalID=ev.ID, EvalCreateIndex=index, Index=index)

    # --- evaluate ---------------------------------------------------------------------------
    def _existing_job(self, job_id: str, w: WriteOptions, capability: str) -> tuple[str, s.Job]:
        """Evaluate's and periodic force's shared start (ACL first, then the lookup);
        call with the cluster lock held. Returns (namespace, job)."""
        namespace = w.namespace or s.DEFAULT_NAMESPACE
        self._check_region(w.region)
        state = self.core.snapshot()
        aclmod.require(self._acl(state, w.token), namespace, capability)
        if not job_id:
            raise NomadError("missing job ID for evaluation")
        job = state.job_by_id(namespace, job_id)
        if job is None:
            raise NomadError("job not found")
        return namespace, job

    def evaluate_job(self, job_id: str, w: WriteOptions = WriteOptions()) -> s.JobRegisterResponse:
        with self.core.lock:
            namespace, job = self._existing_job(job_id, w, aclmod.CAP_READ_JOB)
            if job.is_periodic():
                raise NomadError("can't evaluate periodic job")
            if job.is_parameterized():
                raise NomadError("can't evaluate parameterized job")
            ev = self._new_eval(namespace, job, s.TRIGGER_JOB_REGISTER, job.ModifyIndex or 0)
            index = self._commit_eval(ev)
            self._settle()
        return s.JobRegisterResponse(EvalID=ev.ID, EvalCreateIndex=index, JobModifyIndex=job.ModifyIndex or 0,
                                     Index=index)

    def _validate(self, job: s.Job) -> tuple[s.Job, list[str], list[str]]:
        """``validate_job_for_register`` plus this server's allocation limit
        (nomadjobs.limits), checked last, as one more validation error."""
        from .validate import validate_job_for_register
        job, errors, warnings = validate_job_for_register(job)
        limits = self.core.limits
        total = sum(max(tg.Count or 0, 0) for tg in job.TaskGroups or ())
        if total > limits.max_job_allocations:
            errors = [*errors, limits.allocation_error(total)]
        return job, errors, warnings

    # --- plan -----------------------------------------------------------------------------------
    def dry_run_queued(self) -> dict[tuple[str, str], dict[str, int]]:
        """What the scheduler would still place for every job, by task group: a dry
        run of each, in job order, each seeing the ones before it (v0.7.1 fsm.go
        ``reconcileQueuedAllocations``; parents are planned too, as there). Call with
        the cluster lock held."""
        out: dict[tuple[str, str], dict[str, int]] = {}
        self._plans += 1
        rng = random.Random(f"{self.core.seed}:reconcile:{self._plans}")
        new_id = seeded_ids(rng)
        txn = self.core.db.write_txn()
        try:
            writer = StateWriter(txn)
            for job in list(StateReader(txn).jobs()):
                namespace, job_id = job.Namespace or s.DEFAULT_NAMESPACE, job.ID or ""
                ev = s.Evaluation(ID=new_id(), Namespace=namespace, Priority=job.Priority or 0,
                                  Type=job.Type or "", TriggeredBy=s.TRIGGER_JOB_REGISTER, JobID=job_id,
                                  JobModifyIndex=(job.JobModifyIndex or 0) + 1, Status=s.EVAL_STATUS_PENDING,
                                  AnnotatePlan=True)
                writer.index = PLAN_SCRATCH_INDEX
                writer.upsert_evals([ev])
                planner = ScratchPlanner(writer)
                sched = new_scheduler(ev.Type, StateReader(txn), planner, rng=rng, now_ns=self.core.now_ns,
                                      new_id=new_id)
                sched.process(writer.eval_by_id(ev.ID) or ev)
                counts: dict[str, int] = {}
                for plan in planner.plans[:1]:
                    for allocs in (plan.NodeAllocation or {}).values():
                        for alloc in allocs:
                            counts[alloc.TaskGroup] = counts.get(alloc.TaskGroup, 0) + 1
                for update in planner.eval_updates[:1]:
                    for name, n in (update.QueuedAllocations or {}).items():
                        counts[name] = counts.get(name, 0) + n
                out[(namespace, job_id)] = counts
        finally:
            txn.abort()
        return out

    def plan_job(self, body: s.JobPlanRequest, w: WriteOptions = WriteOptions(),
                 path_id: Optional[str] = None) -> s.JobPlanResponse:
        job = self._http_job(body.Job, path_id, "Job must have a valid ID", "Job ID does not match")
        self._check_region(w.region or body.Region)
        from .diff import annotate, job_diff
        from .validate import spec_changed
        job, errors, warnings = self._validate(job)
        if errors:
            raise NomadError(multierror(errors))
        namespace = job.Namespace or s.DEFAULT_NAMESPACE  # set by canonicalization
        job_id = job.ID or ""
        with self.core.lock:
            state = self.core.snapshot()
            acl = self._acl(state, w.token)
            aclmod.require(acl, namespace, aclmod.CAP_SUBMIT_JOB)
            if body.PolicyOverride:
                aclmod.require(acl, namespace, aclmod.CAP_SENTINEL_OVERRIDE)
            old = state.job_by_id(namespace, job_id)
            # The dry run writes into a transaction that is always thrown away.
            txn = self.core.db.write_txn()
            try:
                writer = StateWriter(txn)
                index = 0
                updated_index = 0
                candidate = job
                if old is not None:
                    index = old.JobModifyIndex or 0
                    if spec_changed(old, job):
                        updated_index = index + 1
                        writer.index = updated_index
                        candidate = _dry_run_upsert(writer, job)
                else:
                    writer.index = PLAN_SCRATCH_INDEX
                    candidate = _dry_run_upsert(writer, job)
                # Every dry run draws fresh IDs, as Nomad's do, from a generator of its
                # own (seeded by the run's number, not the cluster's generator).
                self._plans += 1
                rng = random.Random(f"{self.core.seed}:plan:{self._plans}")
                new_id = seeded_ids(rng)
                ev = s.Evaluation(ID=new_id(), Namespace=namespace, Priority=job.Priority or 0,
                                  Type=job.Type or "", TriggeredBy=s.TRIGGER_JOB_REGISTER, JobID=job_id,
                                  JobModifyIndex=updated_index, Status=s.EVAL_STATUS_PENDING, AnnotatePlan=True)
                writer.index = PLAN_SCRATCH_INDEX
                writer.upsert_evals([ev])
                planner = ScratchPlanner(writer)
                sched = new_scheduler(ev.Type, StateReader(txn), planner, rng=rng, now_ns=self.core.now_ns,
                                      new_id=new_id)
                sched.process(writer.eval_by_id(ev.ID) or ev)  # just written: always found
            finally:
                txn.abort()
        if len(planner.plans) != 1:
            raise NomadError(f"scheduler resulted in an unexpected number of plans: {len(planner.plans)}")
        annotations = planner.plans[0].Annotations
        diff = None
        if body.Diff:
            try:
                diff = job_diff(old, candidate if old is None else job, contextual=True)
            except ValueError as exc:
                raise NomadError(f"failed to create job diff: {exc}") from None
            diff = annotate(diff, annotations.DesiredTGUpdates if annotations else None)
        if len(planner.eval_updates) != 1:
            raise NomadError(f"scheduler resulted in an unexpected number of eval updates: {planner.eval_updates}")
        updated = planner.eval_updates[0]
        next_launch = s.ZERO_TIME
        if job.Periodic is not None and job.Periodic.Enabled:
            nxt = self.lifecycle.next_periodic_launch(job, self.core.now_ns())
            if nxt:
                next_launch = rfc3339(nxt)
        created = [s.evolve(e, CreateIndex=0, ModifyIndex=0, SnapshotIndex=0) for e in planner.created_evals]
        return s.JobPlanResponse(Annotations=annotations, FailedTGAllocs=updated.FailedTGAllocs,
                                 JobModifyIndex=index, CreatedEvals=created or None, Diff=diff,
                                 NextPeriodicLaunch=next_launch, Warnings=warnings_text(warnings), Index=index)

    # --- dispatch ---------------------------------------------------------------------------
    def dispatch_job(self, job_id: str, body: s.JobDispatchRequest,
                     w: WriteOptions = WriteOptions()) -> s.JobDispatchResponse:
        if body.JobID and body.JobID != job_id:
            raise bad_request("Job ID does not match")
        namespace = w.namespace or body.Namespace or s.DEFAULT_NAMESPACE
        token = w.token or body.AuthToken
        self._check_region(w.region or body.Region)
        with self.core.lock:
            state = self.core.snapshot()
            aclmod.require(self._acl(state, token), namespace, aclmod.CAP_DISPATCH_JOB)
            if not job_id:
                raise NomadError("missing parameterized job ID")
            parent = state.job_by_id(namespace, job_id)
            if parent is None:
                raise NomadError("parameterized job not found")
            if not parent.is_parameterized():
                raise NomadError(f'Specified job "{job_id}" is not a parameterized job')
            if parent.Stop:
                raise NomadError(f'Specified job "{job_id}" is stopped')
            check_dispatch(parent, body)
            now = self.core.now_ns()
            child_id = f"{parent.ID}/dispatch-{now // 10**9}-{self.core.new_id()[:8]}"
            meta = dict(parent.Meta or {})
            meta.update(body.Meta or {})
            child = s.evolve(parent, ParameterizedJob=None, ID=child_id, Name=child_id, ParentID=parent.ID,
                                 SubmitTime=now, Meta=meta or None, Payload=snappy_encode(body.Payload or b""),
                                 Status="", Version=0, Stable=False, CreateIndex=0, ModifyIndex=0,
                                 JobModifyIndex=0)
            result = self._apply(cmds.JobRegister(child, launch_time_ns=now))
            if result.error is not None:
                raise NomadError(result.error)
            response = s.JobDispatchResponse(DispatchedJobID=child_id, JobCreateIndex=result.index,
                                             Index=result.index)
            if child.is_periodic():
                return response
            ev = self._new_eval(namespace, child, s.TRIGGER_JOB_REGISTER, result.index)
            index = self._commit_eval(ev)
            self._settle()
        return s.evolve(response, EvalID=ev.ID, EvalCreateIndex=index, Index=index)

    # --- revert and stable --------------------------------------------------------------------
    def _version_request(self, job_id: str, body: s.JobRevertRequest | s.JobStabilityRequest,
                         w: WriteOptions) -> tuple[str, str]:
        """The HTTP checks both version endpoints share; returns (namespace, token)."""
        if not body.JobID:
            raise bad_request("JobID must be specified")
        if body.JobID != job_id:
            raise bad_request("Job ID does not match")
        self._check_region(w.region or body.Region)
        return w.namespace or body.Namespace or s.DEFAULT_NAMESPACE, w.token or body.AuthToken

    def revert_job(self, job_id: str, body: s.JobRevertRequest,
                   w: WriteOptions = WriteOptions()) -> s.JobRegisterResponse:
        namespace, token = self._version_request(job_id, body, w)
        with self.core.lock:
            state = self.core.snapshot()
            aclmod.require(self._acl(state, token), namespace, aclmod.CAP_SUBMIT_JOB)
            current = state.job_by_id(namespace, job_id)
            if current is None:
                raise NomadError(f'job "{job_id}" not found')
            if body.JobVersion == current.Version:
                raise NomadError("can't revert to current version")
            target = state.job_by_version(namespace, job_id, body.JobVersion)
            if target is None:
                raise NomadError(f'job "{job_id}" in namespace "{namespace}" at version {body.JobVersion} not found')
            enforce, modify_index = False, 0
            if body.EnforcePriorVersion is not None:
                if current.Version != body.EnforcePriorVersion:
                    raise NomadError(f"Current job has version {current.Version}; "
                                     f"enforcing version {body.EnforcePriorVersion}")
                enforce, modify_index = True, current.JobModifyIndex or 0
            return self._register(target, token, enforce, modify_index)

    def stable_job(self, job_id: str, body: s.JobStabilityRequest,
                   w: WriteOptions = WriteOptions()) -> s.JobStabilityResponse:
        namespace, token = self._version_request(job_id, body, w)
        with self.core.lock:
            state = self.core.snapshot()
            aclmod.require(self._acl(state, token), namespace, aclmod.CAP_SUBMIT_JOB)
            if state.job_by_version(namespace, job_id, body.JobVersion) is None:
                raise NomadError(f'job "{job_id}" in namespace "{namespace}" at version {body.JobVersion} not found')
            result = self._apply(cmds.JobStability(namespace, job_id, body.JobVersion, body.Stable))
        return s.JobStabilityResponse(Index=result.index)

    # --- periodic force -------------------------------------------------------------------------
    def periodic_force(self, job_id: str, w: WriteOptions = WriteOptions()) -> s.PeriodicForceResponse:
        with self.core.lock:
            namespace, job = self._existing_job(job_id, w, aclmod.CAP_SUBMIT_JOB)
            if not job.is_periodic():
                raise NomadError("can't force launch non-periodic job")
            try:
                _, ev = self.lifecycle.periodic.force_run(namespace, job_id)
            except ValueError as exc:
                raise NomadError(f'force launch for job "{job.ID}" failed: {exc}') from None
            ev = self.core.snapshot().eval_by_id(ev.ID) or ev
            self._settle()
        return s.PeriodicForceResponse(EvalID=ev.ID, EvalCreateIndex=ev.CreateIndex, Index=ev.CreateIndex)

    # --- validate -----------------------------------------------------------------------------
    def validate_job(self, body: s.JobValidateRequest, w: WriteOptions = WriteOptions()) -> s.JobValidateResponse:
        if body.Job is None:
            raise bad_request("Job must be specified")
        from .canonicalize import api_canonicalize
        job = api_canonicalize(body.Job)
        # Only the X-Nomad-Token header: v0.7.1's ValidateJobRequest copies the body's
        # Region but not its SecretID (register does use it).
        aclmod.require(self._acl(self.core.snapshot(), w.token),
                       job.Namespace or s.DEFAULT_NAMESPACE, aclmod.CAP_READ_JOB)
        _, errors, warnings = self._validate(job)
        return s.JobValidateResponse(DriverConfigValidated=True, ValidationErrors=list(errors) or None,
                                     Error=multierror(errors) if errors else "",
                                     Warnings=warnings_text(warnings))

    # --- ACL bootstrap ---------------------------------------------------------------------------


# --- pure helpers ---------------------------------------------------------------------------

def seeded_ids(rng: random.Random) -> Callable[[], str]:
    """UUIDs drawn from ``rng`` (dry runs use their own, leaving the cluster's alone)."""
    return lambda: str(uuid.UUID(int=rng.getrandbits(128), version=4))


def check_job_transition(old: s.Job, new: s.Job) -> None:
    """validateJobUpdate: what an existing job may not become."""
    if old.Type != new.Type:
        raise NomadError(f'cannot update job from type "{old.Type}" to "{new.Type}"')
    if old.is_periodic() and not new.is_periodic():
        raise NomadError("cannot update periodic job to being non-periodic")
    if new.is_periodic() and not old.is_periodic():
        raise NomadError("cannot update non-periodic job to being periodic")
    # v0.7.1 has these two messages swapped; kept as Nomad prints them.
    if old.is_parameterized() and not new.is_parameterized():
        raise NomadError("cannot update non-parameterized job to being parameterized")
    if new.is_parameterized() and not old.is_parameterized():
        raise NomadError("cannot update parameterized job to being non-parameterized")


def check_dispatch(parent: s.Job, body: s.JobDispatchRequest) -> None:
    cfg = parent.ParameterizedJob or s.ParameterizedJobConfig()  # the caller checked it is set
    payload = body.Payload or b""
    if cfg.Payload == "required" and not payload:
        raise NomadError("Payload is not provided but required by parameterized job")
    if cfg.Payload == "forbidden" and payload:
        raise NomadError("Payload provided but forbidden by parameterized job")
    if len(payload) > DISPATCH_PAYLOAD_LIMIT:
        raise NomadError(f"Payload exceeds maximum size; {len(payload)} > {DISPATCH_PAYLOAD_LIMIT}")
    meta = body.Meta or {}
    required = set(cfg.MetaRequired or ())
    optional = set(cfg.MetaOptional or ())
    unpermitted = sorted(k for k in meta if k not in required and k not in optional)
    if unpermitted:
        raise NomadError(f"Dispatch request included unpermitted metadata keys: {go_slice(unpermitted)}")
    missing = sorted(k for k in cfg.MetaRequired or () if k not in meta)
    if missing:
        raise NomadError(f"Dispatch did not provide required meta keys: {go_slice(missing)}")


def job_stub(job: s.Job, summary: Optional[s.JobSummary]) -> s.JobListStub:
    return s.JobListStub(ID=job.ID or "", ParentID=job.ParentID or "", Name=job.Name or "", Type=job.Type or "",
                         Priority=job.Priority or 0, Periodic=job.is_periodic(),
                         ParameterizedJob=job.is_parameterized(), Stop=bool(job.Stop), Status=job.Status or "",
                         StatusDescription=job.StatusDescription or "", JobSummary=summary,
                         CreateIndex=job.CreateIndex or 0, ModifyIndex=job.ModifyIndex or 0,
                         JobModifyIndex=job.JobModifyIndex or 0, SubmitTime=job.SubmitTime or 0)


# Stored jobs and summaries are immutable: the stub of an unchanged (job, summary)
# pair is the same stub, so lists reuse it (and the codec its cached JSON).
_STUB_CACHE = IdentityCache(32_768)


def cached_job_stub(job: s.Job, summary: Optional[s.JobSummary]) -> s.JobListStub:
    hit: Optional[tuple[Optional[s.JobSummary], s.JobListStub]] = _STUB_CACHE.get(job)
    if hit is not None and hit[0] is summary:
        return hit[1]
    stub = job_stub(job, summary)
    _STUB_CACHE.put(job, (summary, stub))
    return stub


def alloc_stub(a: s.Allocation) -> s.AllocListStub:
    return s.AllocListStub(ID=a.ID, EvalID=a.EvalID, Name=a.Name, NodeID=a.NodeID, JobID=a.JobID,
                           JobVersion=(a.Job.Version or 0) if a.Job is not None else 0, TaskGroup=a.TaskGroup,
                           DesiredStatus=a.DesiredStatus, DesiredDescription=a.DesiredDescription,
                           ClientStatus=a.ClientStatus, ClientDescription=a.ClientDescription,
                           TaskStates=a.TaskStates, DeploymentStatus=a.DeploymentStatus,
                           CreateIndex=a.CreateIndex, ModifyIndex=a.ModifyIndex, CreateTime=a.CreateTime,
                           ModifyTime=a.ModifyTime)


def _dry_run_upsert(writer: StateWriter, job: s.Job) -> s.Job:
    """Nomad's Plan ignores the error of its snapshot's UpsertJob (a namespace that does
    not exist): the job is then not in the dry run, which plans it as stopped."""
    try:
        return writer.upsert_job(job)
    except StateError:
        return job
