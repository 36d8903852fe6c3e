"""Model-based test of the whole library: a hypothesis state machine drives a
Cluster through its public API (the Jobs service, the clock, faults, nodes) and
checks the design's invariants after every step.

The reference model is deliberately small: which job IDs exist, their kind, the
Version and Stop flag we expect, and the retained version rows with their Stable
flag and the spec that produced them. Everything the simulation decides on its own
(deployments marking versions stable, auto-reverts, periodic children) happens only
when the clock moves or a fault fires; after such steps the model is re-synced from
the store instead of predicted.

Run the long profile with ``NOMADJOBS_HYPOTHESIS_PROFILE=long`` (see docs/testing.md).
"""

from __future__ import annotations

import os
from typing import Any, Optional

import attrs
import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from nomadjobs import Cluster, NodeSpec, NomadError
from nomadjobs.lifecycle import GCConfig
from nomadjobs import codec
from nomadjobs import structs as s
from nomadjobs.state.store import SCHEMA, StateReader
from nomadjobs.testing import jobs

NS = "default"
JOB_IDS = ("alpha", "beta", "gamma", "delta")
KINDS = ("service", "batch", "system", "periodic", "parameterized")
KEEP = s.JOB_TRACKED_VERSIONS
TABLES = [t.name for t in SCHEMA]

# Allowed status moves (self-moves are always allowed). Terminal statuses are sinks.
EVAL_MOVES = {
    s.EVAL_STATUS_PENDING: {s.EVAL_STATUS_COMPLETE, s.EVAL_STATUS_FAILED, s.EVAL_STATUS_BLOCKED,
                            s.EVAL_STATUS_CANCELLED},
    s.EVAL_STATUS_BLOCKED: {s.EVAL_STATUS_PENDING, s.EVAL_STATUS_COMPLETE, s.EVAL_STATUS_FAILED,
                            s.EVAL_STATUS_CANCELLED},
}
DEPLOYMENT_MOVES = {
    s.DEPLOYMENT_STATUS_RUNNING: {s.DEPLOYMENT_STATUS_PAUSED, s.DEPLOYMENT_STATUS_SUCCESSFUL,
                                  s.DEPLOYMENT_STATUS_FAILED, s.DEPLOYMENT_STATUS_CANCELLED},
    s.DEPLOYMENT_STATUS_PAUSED: {s.DEPLOYMENT_STATUS_RUNNING, s.DEPLOYMENT_STATUS_SUCCESSFUL,
                                 s.DEPLOYMENT_STATUS_FAILED, s.DEPLOYMENT_STATUS_CANCELLED},
}

settings.register_profile("default-model", max_examples=60, stateful_step_count=25, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                                 HealthCheck.data_too_large])
settings.register_profile("long", max_examples=300, stateful_step_count=60, deadline=None, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                                 HealthCheck.data_too_large])
# Replays the failures saved in the example database without searching or shrinking.
settings.register_profile("replay", parent=settings.get_profile("long"), phases=[Phase.explicit, Phase.reuse])
# Searches without shrinking: quicker to a first failure in a long run.
settings.register_profile("find", parent=settings.get_profile("long"), phases=[Phase.generate])
PROFILE = os.environ.get("NOMADJOBS_HYPOTHESIS_PROFILE", "default-model")


# --- the reference model ----------------------------------------------------------------------

# The identity of a version's spec: the api job a client sent and the Stop flag.
# None means "made by the simulation, not predicted".
SpecKey = Optional[tuple[s.Job, bool]]


@attrs.define
class Row:
    stable: bool
    spec: SpecKey


@attrs.define
class JobModel:
    kind: str
    version: int
    stop: bool
    rows: dict[int, Row]
    last_api: s.Job
    # Tracked by the periodic dispatcher: only job-register and deregister writes change
    # it (a stability write that rewinds the job row does not, as in Nomad's FSM).
    tracked: bool = False

    @property
    def current(self) -> Row:
        return self.rows[self.version]

    def bump(self) -> int:
        """The next version number: the current job's plus one, as Nomad does. After
        the stable-on-old-version quirk rewound the job, that number may be stored
        already, and put_row then overwrites its history row (a v0.7.1 quirk)."""
        self.version += 1
        return self.version

    def put_row(self, version: int, row: Row) -> None:
        """StateWriter._upsert_job_version: write, then drop one beyond KEEP, sparing
        the newest stable version when it is the one that would go."""
        self.rows[version] = row
        order = sorted(self.rows, reverse=True)
        if len(order) <= KEEP:
            return
        stable_at = next((i for i, v in enumerate(order) if self.rows[v].stable), -1)
        if stable_at == KEEP:
            order[KEEP - 1], order[KEEP] = order[KEEP], order[KEEP - 1]
        del self.rows[order[KEEP]]


def job_strategy(kind: str, job_id: str) -> st.SearchStrategy[s.Job]:
    if kind == "periodic":
        return jobs("batch", job_id=job_id, periodic=True, max_count=2)
    if kind == "parameterized":
        return jobs("batch", job_id=job_id, parameterized=True, max_count=2)
    return jobs(kind, job_id=job_id, max_count=2)


def wire(obj: Any) -> Any:
    return codec.to_wire(obj)


def reads(state: StateReader) -> Any:
    """A few reads whose wire form must never change for a given snapshot."""
    jobs_ = list(state.jobs())
    return wire({
        "index": state.latest_index(),
        "tables": {t: state.table_index(t) for t in TABLES},
        "jobs": jobs_,
        "summaries": [state.job_summary(j.Namespace, j.ID) for j in jobs_],
        "versions": {j.ID: [v.Version for v in state.job_versions(j.Namespace, j.ID)] for j in jobs_},
        "allocs": sorted((a.ID, a.ClientStatus, a.DesiredStatus, a.ModifyIndex) for a in state.allocs()),
        "evals": sorted((e.ID, e.Status, e.ModifyIndex) for e in state.evals()),
        "deployments": sorted((d.ID, d.Status, d.ModifyIndex) for d in state.deployments()),
    })


class ClusterMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        # The collector off: the invariants below follow every object for the whole run
        # (evaluations never vanish, ...); what the collector removes is tested in test_gc.
        self.cluster = Cluster(seed=11, history=4096, gc=GCConfig(enabled=False))
        self.model: dict[str, JobModel] = {}
        self.rev = 0
        self.last_index = self.cluster.index
        self.eval_status: dict[str, str] = {}
        self.deployment_status: dict[str, str] = {}
        self.held: list[tuple[StateReader, Any]] = []
        self.steps = 0
        self.node_count = len(self.cluster.snapshot().nodes())
        self.jmi: dict[tuple[str, int], int] = {}  # (job, version) -> JobModifyIndex, refreshed every step

    # --- helpers -------------------------------------------------------------------------
    def _api_job(self, data: st.DataObject, kind: str, job_id: str) -> s.Job:
        job = data.draw(job_strategy(kind, job_id), label="job")
        # A fresh meta key guarantees a spec change against anything submitted before.
        self.rev += 1
        return attrs.evolve(job, Meta={**(job.Meta or {}), "model_rev": str(self.rev)})

    def _expect_rejected(self, call: Any, message: str) -> NomadError:
        before_index = self.cluster.index
        before = reads(self.cluster.snapshot())
        with pytest.raises(NomadError) as err:
            call()
        assert message in err.value.message, (message, err.value.message)
        assert self.cluster.index == before_index, "a rejected command wrote"
        assert reads(self.cluster.snapshot()) == before
        return err.value

    def _stored(self, job_id: str) -> Optional[s.Job]:
        return self.cluster.snapshot().job_by_id(NS, job_id)

    def _transition_error(self, m: JobModel, kind: str) -> Optional[str]:
        if m.kind == kind:
            return None
        old_type = "batch" if m.kind in ("periodic", "parameterized") else m.kind
        new_type = "batch" if kind in ("periodic", "parameterized") else kind
        if old_type != new_type:
            return "cannot update job from type"
        return "cannot update"

    def _registered(self, job_id: str, kind: str, spec: s.Job, changed: bool) -> None:
        """Book a successful register of ``spec`` into the model."""
        m = self.model.get(job_id)
        if m is None:
            self.model[job_id] = JobModel(kind=kind, version=0, stop=False, rows={0: Row(False, (spec, False))},
                                          last_api=spec, tracked=kind == "periodic")
            return
        m.last_api = spec
        if changed:
            m.stop = False
            m.tracked = m.kind == "periodic"
            m.put_row(m.bump(), Row(False, (spec, False)))

    def _sync_from_store(self) -> None:
        """After the simulation acted on its own: adopt what it did to versions."""
        state = self.cluster.snapshot()
        for job_id, m in list(self.model.items()):
            job = state.job_by_id(NS, job_id)
            assert job is not None, f"{job_id} vanished without a purge"
            rows = {}
            for v in state.job_versions(NS, job_id):
                known = m.rows.get(v.Version)
                same = known is not None and known.spec is not None and bool(v.Stop) == known.spec[1] \
                    and v.JobModifyIndex == self._row_jmi(job_id, v.Version)
                rows[v.Version] = Row(bool(v.Stable), known.spec if same else None)
            m.rows = rows
            m.version, m.stop = job.Version, bool(job.Stop)

    def _row_jmi(self, job_id: str, version: int) -> Optional[int]:
        return self.jmi.get((job_id, version))

    def _remember_jmis(self) -> None:
        # JobModifyIndex identifies which write produced a version row.
        state = self.cluster.snapshot()
        self.jmi = {(j, v.Version): v.JobModifyIndex for j in self.model for v in state.job_versions(NS, j)}

    def _absorb_deployment_stability(self) -> None:
        """Any scheduler run may finish a deployment in its plan; Nomad then marks
        that deployment's job version stable (updateJobStabilityImpl, quirk
        included: the version row becomes the current job). Accept exactly that."""
        state = self.cluster.snapshot()
        for job_id, m in self.model.items():
            done = {d.JobVersion for d in state.deployments_by_job(NS, job_id)
                    if d.Status == s.DEPLOYMENT_STATUS_SUCCESSFUL}
            for v in state.job_versions(NS, job_id):
                row = m.rows.get(v.Version)
                if row is not None and v.Stable and not row.stable:
                    assert v.Version in done, (job_id, v.Version, "became stable without a successful deployment")
                    row.stable = True
                    job = state.job_by_id(NS, job_id)
                    if job.Version == v.Version and job.JobModifyIndex == v.JobModifyIndex:
                        m.version, m.stop = job.Version, bool(job.Stop)

    def _check_model(self) -> None:
        self._absorb_deployment_stability()
        state = self.cluster.snapshot()
        for job_id, m in self.model.items():
            job = state.job_by_id(NS, job_id)
            assert job is not None, job_id
            assert (job.Version, bool(job.Stop)) == (m.version, m.stop), (job_id, job.Version, job.Stop, m)
            versions = state.job_versions(NS, job_id)
            assert {v.Version: bool(v.Stable) for v in versions} == {v: r.stable for v, r in m.rows.items()}, \
                (job_id, [(v.Version, v.Stable) for v in versions], m.rows)
        for job in state.jobs():
            if not job.ParentID:
                assert job.ID in self.model, f"unexpected top-level job {job.ID}"
        self._remember_jmis()

    # --- registering ---------------------------------------------------------------------
    @rule(data=st.data(), job_id=st.sampled_from(JOB_IDS), kind=st.sampled_from(KINDS))
    def register(self, data: st.DataObject, job_id: str, kind: str) -> None:
        job = self._api_job(data, kind, job_id)
        req = s.JobRegisterRequest(Job=job)
        m = self.model.get(job_id)
        problem = self._transition_error(m, kind) if m is not None else None
        if problem:
            self._expect_rejected(lambda: self.cluster.jobs.register_job(req), problem)
            return
        resp = self.cluster.jobs.register_job(req)
        self._registered(job_id, kind, job, changed=True)
        stored = self._stored(job_id)
        assert resp.JobModifyIndex == stored.JobModifyIndex
        if kind in ("periodic", "parameterized"):
            assert resp.EvalID == ""
        else:
            assert resp.EvalID and resp.EvalCreateIndex > resp.JobModifyIndex
            assert self.cluster.snapshot().eval_by_id(resp.EvalID) is not None

    @precondition(lambda self: self.model)
    @rule(data=st.data())
    def resubmit_same_spec(self, data: st.DataObject) -> None:
        job_id = data.draw(st.sampled_from(sorted(self.model)), label="job_id")
        m = self.model[job_id]
        if m.current.spec is None:
            return  # the simulation wrote the current version: no prediction
        changed = m.current.spec != (m.last_api, False)
        before = self._stored(job_id)
        resp = self.cluster.jobs.register_job(s.JobRegisterRequest(Job=m.last_api))
        after = self._stored(job_id)
        if not changed:
            assert after.JobModifyIndex == before.JobModifyIndex
            assert resp.JobModifyIndex == before.JobModifyIndex
        self._registered(job_id, m.kind, m.last_api, changed)

    @precondition(lambda self: self.model)
    @rule(data=st.data(), mode=st.sampled_from(["right", "zero", "off-by-one"]))
    def register_enforce_index(self, data: st.DataObject, mode: str) -> None:
        job_id = data.draw(st.sampled_from(sorted(self.model)), label="job_id")
        m = self.model[job_id]
        job = self._api_job(data, m.kind, job_id)
        current = self._stored(job_id).JobModifyIndex
        index = {"right": current, "zero": 0, "off-by-one": current + 1}[mode]
        req = s.JobRegisterRequest(Job=job, EnforceIndex=True, JobModifyIndex=index)
        if mode == "zero":
            self._expect_rejected(lambda: self.cluster.jobs.register_job(req), "job already exists")
        elif mode == "off-by-one":
            self._expect_rejected(lambda: self.cluster.jobs.register_job(req),
                                  f"conflicting job modify index: {current}")
        else:
            self.cluster.jobs.register_job(req)
            self._registered(job_id, m.kind, job, changed=True)

    @rule(data=st.data(), job_id=st.sampled_from(JOB_IDS), kind=st.sampled_from(KINDS))
    def register_new_with_enforce_index(self, data: st.DataObject, job_id: str, kind: str) -> None:
        if job_id in self.model:
            return
        job = self._api_job(data, kind, job_id)
        bad = s.JobRegisterRequest(Job=job, EnforceIndex=True, JobModifyIndex=7)
        self._expect_rejected(lambda: self.cluster.jobs.register_job(bad), "job does not exist")
        self.cluster.jobs.register_job(s.JobRegisterRequest(Job=job, EnforceIndex=True, JobModifyIndex=0))
        self._registered(job_id, kind, job, changed=True)

    # --- stop, purge, revert, stable -----------------------------------------------------
    @rule(job_id=st.sampled_from(JOB_IDS))
    def stop(self, job_id: str) -> None:
        m = self.model.get(job_id)
        before = self.cluster.index
        resp = self.cluster.jobs.deregister_job(job_id, purge=False)
        assert resp.JobModifyIndex > before
        if m is None:
            return  # Nomad ignores the FSM's "doesn't exist" and answers as if it worked
        # The FSM re-inserts a copy of the current job with Stop set: a new version
        # that keeps the current Stable flag.
        current = m.current
        m.bump()
        m.stop = True
        m.tracked = False
        m.put_row(m.version, Row(current.stable, (current.spec[0], True) if current.spec is not None else None))

    @precondition(lambda self: self.model)
    @rule(data=st.data())
    def purge(self, data: st.DataObject) -> None:
        job_id = data.draw(st.sampled_from(sorted(self.model)), label="job_id")
        self.cluster.jobs.deregister_job(job_id, purge=True)
        del self.model[job_id]
        state = self.cluster.snapshot()
        assert state.job_by_id(NS, job_id) is None
        assert state.job_versions(NS, job_id) == []
        assert state.job_summary(NS, job_id) is None

    @precondition(lambda self: self.model)
    @rule(data=st.data(), enforce=st.sampled_from([None, "right", "wrong"]))
    def revert(self, data: st.DataObject, enforce: Optional[str]) -> None:
        job_id = data.draw(st.sampled_from(sorted(self.model)), label="job_id")
        m = self.model[job_id]
        target = data.draw(st.sampled_from(sorted(m.rows) + [m.version + 50]), label="version")
        prior = {None: None, "right": m.version, "wrong": m.version + 1}[enforce]
        req = s.JobRevertRequest(JobID=job_id, JobVersion=target, EnforcePriorVersion=prior)
        call = lambda: self.cluster.jobs.revert_job(job_id, req)  # noqa: E731
        if target == m.version:
            self._expect_rejected(call, "can't revert to current version")
            return
        if target not in m.rows:
            self._expect_rejected(call, f"at version {target} not found")
            return
        if enforce == "wrong":
            self._expect_rejected(call, f"Current job has version {m.version}; enforcing version {prior}")
            return
        row = m.rows[target]
        before = self._stored(job_id)
        call()
        after = self._stored(job_id)
        if row.spec is None or m.current.spec is None:
            self._sync_from_store()  # versions the simulation wrote: no prediction
            return
        if row.spec is not None and m.current.spec is not None and row.spec == m.current.spec:
            assert after.JobModifyIndex == before.JobModifyIndex  # same spec: no new version
            return
        assert after.JobModifyIndex > before.JobModifyIndex
        m.bump()
        assert after.Version == m.version and bool(after.Stop) == row.spec[1]
        m.stop = bool(after.Stop)
        m.tracked = m.kind == "periodic" and not m.stop
        m.put_row(m.version, Row(bool(after.Stable), row.spec))

    @precondition(lambda self: self.model)
    @rule(data=st.data(), stable=st.booleans())
    def stable_flag(self, data: st.DataObject, stable: bool) -> None:
        job_id = data.draw(st.sampled_from(sorted(self.model)), label="job_id")
        m = self.model[job_id]
        version = data.draw(st.sampled_from(sorted(m.rows) + [m.version + 50]), label="version")
        req = s.JobStabilityRequest(JobID=job_id, JobVersion=version, Stable=stable)
        if version not in m.rows:
            self._expect_rejected(lambda: self.cluster.jobs.stable_job(job_id, req), f"at version {version} not found")
            return
        resp = self.cluster.jobs.stable_job(job_id, req)
        assert resp.Index == self.cluster.index
        row = m.rows[version]
        if row.stable == stable:
            return
        # v0.7.1 quirk: the flagged version row also becomes the current job, so
        # marking an older version moves the job back to it.
        row.stable = stable
        m.version = version
        m.stop = row.spec[1] if row.spec is not None else bool(self._stored(job_id).Stop)

    # --- dispatch, periodic force, evaluate, plan ---------------------------------------------
    @rule(job_id=st.sampled_from(JOB_IDS), payload=st.sampled_from([b"", b"hello"]))
    def dispatch(self, job_id: str, payload: bytes) -> None:
        m = self.model.get(job_id)
        parent = self._stored(job_id)
        if m is None:
            req = s.JobDispatchRequest(JobID=job_id)
            self._expect_rejected(lambda: self.cluster.jobs.dispatch_job(job_id, req), "parameterized job not found")
            return
        if m.kind != "parameterized":
            req = s.JobDispatchRequest(JobID=job_id)
            self._expect_rejected(lambda: self.cluster.jobs.dispatch_job(job_id, req), "is not a parameterized job")
            return
        cfg = parent.ParameterizedJob
        meta = {k: "v" for k in cfg.MetaRequired or ()}
        req = s.JobDispatchRequest(JobID=job_id, Payload=payload or None, Meta=meta or None)
        call = lambda: self.cluster.jobs.dispatch_job(job_id, req)  # noqa: E731
        if m.stop:
            self._expect_rejected(call, "is stopped")
        elif cfg.Payload == "required" and not payload:
            self._expect_rejected(call, "Payload is not provided but required")
        elif cfg.Payload == "forbidden" and payload:
            self._expect_rejected(call, "Payload provided but forbidden")
        else:
            resp = call()
            child = self._stored(resp.DispatchedJobID)
            assert child is not None and child.ParentID == job_id and child.Version == 0
            assert child.ParameterizedJob is None

    @rule(job_id=st.sampled_from(JOB_IDS))
    def periodic_force(self, job_id: str) -> None:
        m = self.model.get(job_id)
        call = lambda: self.cluster.jobs.periodic_force(job_id)  # noqa: E731
        if m is None:
            self._expect_rejected(call, "job not found")
        elif m.kind != "periodic":
            self._expect_rejected(call, "can't force launch non-periodic job")
        elif not m.tracked:
            self._expect_rejected(call, "can't force run non-tracked job")
        else:
            resp = call()
            ev = self.cluster.snapshot().eval_by_id(resp.EvalID)
            assert ev is not None and ev.JobID.startswith(job_id + "/periodic-")

    @rule(job_id=st.sampled_from(JOB_IDS))
    def evaluate(self, job_id: str) -> None:
        m = self.model.get(job_id)
        call = lambda: self.cluster.jobs.evaluate_job(job_id)  # noqa: E731
        if m is None:
            self._expect_rejected(call, "job not found")
        elif m.kind == "periodic":
            self._expect_rejected(call, "can't evaluate periodic job")
        elif m.kind == "parameterized":
            self._expect_rejected(call, "can't evaluate parameterized job")
        else:
            resp = call()
            assert self.cluster.snapshot().eval_by_id(resp.EvalID) is not None

    @rule(data=st.data(), job_id=st.sampled_from(JOB_IDS), kind=st.sampled_from(KINDS), diff=st.booleans())
    def plan(self, data: st.DataObject, job_id: str, kind: str, diff: bool) -> None:
        job = self._api_job(data, kind, job_id)
        # Unlike register, v0.7.1's Plan never checks the type/periodic transition.
        req = s.JobPlanRequest(Job=job, Diff=diff)
        before = reads(self.cluster.snapshot())
        before_index = self.cluster.index
        resp = self.cluster.jobs.plan_job(req)
        assert self.cluster.index == before_index, "plan wrote"
        assert reads(self.cluster.snapshot()) == before, "plan changed state"
        stored = self._stored(job_id)
        assert resp.JobModifyIndex == (stored.JobModifyIndex if stored is not None else 0)

    # --- the simulation: time, faults, nodes ---------------------------------------------------
    @rule(seconds=st.sampled_from([0.01, 0.05, 0.2, 1, 5, 15, 60, 300, 3600]))
    def advance(self, seconds: float) -> None:
        self.cluster.advance(seconds)
        self._sync_from_store()

    @rule(data=st.data(), exit_code=st.sampled_from([1, 0, 137]))
    def fail_task(self, data: st.DataObject, exit_code: int) -> None:
        live = sorted(a.ID for a in self.cluster.snapshot().allocs()
                      if a.ClientStatus == s.ALLOC_CLIENT_RUNNING and not a.terminal())
        if not live:
            return
        alloc_id = data.draw(st.sampled_from(live), label="alloc")
        self.cluster.lifecycle.faults.fail_task(alloc_id, exit_code=exit_code)
        self._sync_from_store()

    @precondition(lambda self: self.node_count < 6)
    @rule(cpu=st.sampled_from([1000, 4000]), memory=st.sampled_from([2048, 8192]))
    def add_node(self, cpu: int, memory: int) -> None:
        self.node_count += 1
        node = self.cluster.add_node(NodeSpec(name=f"extra-{self.node_count}", ip=f"10.0.1.{self.node_count}",
                                              cpu_mhz=cpu, memory_mb=memory))
        assert node.Status == s.NODE_STATUS_READY
        self._sync_from_store()

    @rule(data=st.data())
    def kill_node(self, data: st.DataObject) -> None:
        ready = sorted(n.ID for n in self.cluster.snapshot().nodes() if n.Status == s.NODE_STATUS_READY)
        if len(ready) <= 1:
            return  # keep one node up so the cluster stays useful
        node_id = data.draw(st.sampled_from(ready), label="node")
        self.cluster.lifecycle.faults.kill_node(node_id)
        assert self.cluster.snapshot().node_by_id(node_id).Status == s.NODE_STATUS_DOWN
        self._sync_from_store()

    @rule(data=st.data())
    def restore_node(self, data: st.DataObject) -> None:
        down = sorted(n.ID for n in self.cluster.snapshot().nodes() if n.Status == s.NODE_STATUS_DOWN)
        if not down:
            return
        node_id = data.draw(st.sampled_from(down), label="node")
        self.cluster.lifecycle.faults.restore_node(node_id)
        self._sync_from_store()

    @rule()
    def hold_snapshot(self) -> None:
        snap = self.cluster.snapshot()
        self.held.append((snap, reads(snap)))
        del self.held[:-3]

    # --- invariants ----------------------------------------------------------------------------
    @invariant()
    def model_agrees(self) -> None:
        self._check_model()

    @invariant()
    def indexes_only_grow_and_tables_track_their_writes(self) -> None:
        latest = self.cluster.index
        assert latest >= self.last_index
        state = self.cluster.snapshot()
        for t in TABLES:
            assert state.table_index(t) <= latest
        # Each commit since the last step either left a table's index alone or set it
        # to the commit's own index: the table index is the last index that wrote it.
        prev = self.cluster.snapshot_at(self.last_index)
        for i in range(self.last_index + 1, latest + 1):
            cur = self.cluster.snapshot_at(i)
            if prev is not None and cur is not None:
                assert cur.latest_index() == i
                for t in TABLES:
                    assert cur.table_index(t) in (prev.table_index(t), i), (t, i)
            prev = cur
        self.last_index = latest
        # And no row claims a later write than its table's index.
        for t, rows in (("jobs", state.jobs()), ("evals", state.evals()), ("allocs", state.allocs()),
                        ("deployment", state.deployments()), ("nodes", state.nodes())):
            top = max((r.ModifyIndex for r in rows), default=0)
            assert top <= state.table_index(t), t

    @invariant()
    def held_snapshots_never_change(self) -> None:
        for snap, seen in self.held:
            assert reads(snap) == seen
            again = self.cluster.snapshot_at(snap.latest_index())
            if again is not None:
                assert reads(again) == seen

    @invariant()
    def summaries_match_allocations(self) -> None:
        state = self.cluster.snapshot()
        for job in state.jobs():
            summary = state.job_summary(job.Namespace, job.ID)
            assert summary is not None, job.ID
            assert summary.CreateIndex == job.CreateIndex, job.ID
            counts: dict[str, dict[str, int]] = {}
            for a in state.allocs_by_job(job.Namespace, job.ID):
                if a.Job is None or a.Job.CreateIndex != job.CreateIndex:
                    continue  # an earlier incarnation of this ID (purged and registered again)
                by_status = counts.setdefault(a.TaskGroup, {})
                by_status[a.ClientStatus] = by_status.get(a.ClientStatus, 0) + 1
            for group, tg in summary.Summary.items():
                c = counts.pop(group, {})
                got = (tg.Starting, tg.Running, tg.Lost)
                want = (c.get("pending", 0), c.get("running", 0), c.get("lost", 0))
                assert got == want, (job.ID, group, tg, c)
                # Complete and Failed are history: Nomad never decrements them.
                assert tg.Complete >= c.get("complete", 0) and tg.Failed >= c.get("failed", 0), (job.ID, tg, c)
            assert not counts, f"allocations of groups missing from the summary: {counts}"

    @invariant()
    def versions_are_retained_as_nomad_does(self) -> None:
        state = self.cluster.snapshot()
        for job in state.jobs():
            versions = state.job_versions(job.Namespace, job.ID)
            numbers = [v.Version for v in versions]
            assert 1 <= len(numbers) <= KEEP, (job.ID, numbers)
            assert numbers == sorted(set(numbers), reverse=True), numbers
            assert job.Version in numbers, (job.ID, job.Version, numbers)
            row = state.job_by_version(job.Namespace, job.ID, job.Version)
            assert (row.JobModifyIndex, bool(row.Stable)) == (job.JobModifyIndex, bool(job.Stable)), job.ID

    @invariant()
    def allocations_fit_on_existing_nodes(self) -> None:
        state = self.cluster.snapshot()
        nodes = {n.ID: n for n in state.nodes()}
        used: dict[str, list[int]] = {}
        for a in state.allocs():
            assert a.NodeID in nodes, a.ID
            if a.terminal():
                continue
            assert nodes[a.NodeID].Status == s.NODE_STATUS_READY, (a.ID, a.ClientStatus, nodes[a.NodeID].Status)
            r = a.Resources
            acc = used.setdefault(a.NodeID, [0, 0, 0])
            acc[0] += r.CPU or 0
            acc[1] += r.MemoryMB or 0
            acc[2] += r.DiskMB or 0
        for node_id, (cpu, mem, disk) in used.items():
            cap = nodes[node_id].Resources
            assert cpu <= cap.CPU and mem <= cap.MemoryMB and disk <= cap.DiskMB, (node_id, cpu, mem, disk)

    @invariant()
    def evaluations_and_deployments_move_forward(self) -> None:
        state = self.cluster.snapshot()
        seen_evals = {e.ID: e.Status for e in state.evals()}
        for eid, old in self.eval_status.items():
            assert eid in seen_evals, f"evaluation {eid} vanished"
            new = seen_evals[eid]
            assert new == old or new in EVAL_MOVES.get(old, ()), (eid, old, new)
        self.eval_status = seen_evals
        seen = {d.ID: d.Status for d in state.deployments()}
        for did, old in self.deployment_status.items():
            assert did in seen, f"deployment {did} vanished"
            new = seen[did]
            assert new == old or new in DEPLOYMENT_MOVES.get(old, ()), (did, old, new)
        self.deployment_status = seen

    def teardown(self) -> None:
        self.cluster.close()


TestClusterModel = ClusterMachine.TestCase
TestClusterModel.settings = settings.get_profile(PROFILE)
