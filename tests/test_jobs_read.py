"""Jobs service reads: list, read, versions, allocations, evaluations, deployments, summary."""

from __future__ import annotations

import pytest

from nomadjobs import Cluster, QueryOptions
from nomadjobs import structs as s
from nomadjobs.state.store import ALLOCS, DEPLOYMENT, EVALS, JOB_SUMMARY, JOB_VERSION, JOBS
from test_jobs_helpers import BATCH, PARAM, PERIODIC, Q, SERVICE, fingerprint, job, register, rejected


@pytest.fixture
def cluster() -> Cluster:
    return Cluster(seed=11)


# --- list --------------------------------------------------------------------------------------

def test_list_empty_answers_jobs_table_index(cluster: Cluster) -> None:
    stubs, meta = cluster.jobs.list_jobs(Q)
    assert stubs == []
    assert meta.index == cluster.snapshot().table_index(JOBS)


def test_list_is_sorted_by_id_and_filters_by_prefix(cluster: Cluster) -> None:
    for job_id in ("web-b", "api", "web-a", "Web-c"):
        register(cluster, job(BATCH, job_id))
    stubs, meta = cluster.jobs.list_jobs(Q)
    # byte order: upper case sorts before lower case
    assert [j.ID for j in stubs] == ["Web-c", "api", "web-a", "web-b"]
    assert meta.index == cluster.snapshot().table_index(JOBS)
    stubs, _ = cluster.jobs.list_jobs(QueryOptions(prefix="web-"))
    assert [j.ID for j in stubs] == ["web-a", "web-b"]  # case-sensitive prefix
    assert cluster.jobs.list_jobs(QueryOptions(prefix="nope"))[0] == []


def test_list_stub_fields(cluster: Cluster) -> None:
    register(cluster, job(PARAM))
    register(cluster, job(PERIODIC))
    stubs = {j.ID: j for j in cluster.jobs.list_jobs(Q)[0]}
    assert stubs["param"].ParameterizedJob is True and stubs["param"].Periodic is False
    assert stubs["cron"].Periodic is True and stubs["cron"].ParameterizedJob is False
    assert stubs["cron"].Status == "running"
    assert stubs["cron"].JobSummary.JobID == "cron"
    assert stubs["cron"].Type == "batch"


def test_list_in_other_namespace_is_empty(cluster: Cluster) -> None:
    register(cluster, job(BATCH))
    assert cluster.jobs.list_jobs(QueryOptions(namespace="other"))[0] == []
    assert [j.ID for j in cluster.jobs.list_jobs(QueryOptions(namespace="default"))[0]] == ["batch"]


def test_list_includes_children(cluster: Cluster) -> None:
    register(cluster, job(PARAM))
    child = cluster.jobs.dispatch_job("param", s.JobDispatchRequest(Meta={"who": "x"})).DispatchedJobID
    stubs = {j.ID: j for j in cluster.jobs.list_jobs(Q)[0]}
    assert stubs[child].ParentID == "param"


# --- read ----------------------------------------------------------------------------------------

def test_read_unknown_job_is_404_with_jobs_index(cluster: Cluster) -> None:
    err = rejected(cluster, lambda: cluster.jobs.get_job("nope", Q), 404, "job not found")
    assert err.index == cluster.snapshot().table_index(JOBS)


def test_read_job_index_is_its_modify_index(cluster: Cluster) -> None:
    register(cluster, job(SERVICE))
    got, meta = cluster.jobs.get_job("web", Q)
    assert meta.index == got.ModifyIndex
    assert got.ID == "web" and got.Version == 0 and got.Namespace == "default"


def test_read_other_namespace_404(cluster: Cluster) -> None:
    register(cluster, job(SERVICE))
    rejected(cluster, lambda: cluster.jobs.get_job("web", QueryOptions(namespace="other")), 404, "job not found")


# --- versions ----------------------------------------------------------------------------------------

def test_versions_unknown_404(cluster: Cluster) -> None:
    err = rejected(cluster, lambda: cluster.jobs.job_versions("nope", False, Q), 404, "job versions not found")
    assert err.index == cluster.snapshot().table_index(JOB_VERSION)


def test_versions_with_and_without_diffs(cluster: Cluster) -> None:
    register(cluster, job(SERVICE))
    register(cluster, job(SERVICE, Priority=70))
    resp, meta = cluster.jobs.job_versions("web", False, Q)
    assert [v.Version for v in resp.Versions] == [1, 0]
    assert resp.Diffs is None
    assert meta.index == resp.Versions[0].ModifyIndex == resp.Index
    resp, _ = cluster.jobs.job_versions("web", True, Q)
    assert len(resp.Diffs) == 1
    diff = resp.Diffs[0]
    assert diff.Type == "Edited"
    prio = [f for f in diff.Fields if f.Name == "Priority"]
    assert len(prio) == 1 and (prio[0].Old, prio[0].New, prio[0].Type) == ("50", "70", "Edited")


def test_versions_single_version_diffs_null(cluster: Cluster) -> None:
    register(cluster, job(SERVICE))
    resp, _ = cluster.jobs.job_versions("web", True, Q)
    assert len(resp.Versions) == 1 and resp.Diffs is None


def test_retention_keeps_six_including_newest_stable(cluster: Cluster) -> None:
    for i in range(8):
        register(cluster, job(SERVICE, Meta={"rev": str(i)}))
        if i == 1:
            cluster.jobs.stable_job("web", s.JobStabilityRequest(JobID="web", JobVersion=1, Stable=True))
    resp, _ = cluster.jobs.job_versions("web", False, Q)
    # 8 written (0..7); v0 fell out at the 7th write; at the 8th the stable v1 was the
    # oldest, so it swapped places with v2, which was dropped instead
    assert [(v.Version, v.Stable) for v in resp.Versions] == [
        (7, False), (6, False), (5, False), (4, False), (3, False), (1, True)]
    assert [v.Meta["rev"] for v in resp.Versions] == ["7", "6", "5", "4", "3", "1"]
    rejected(cluster, lambda: cluster.jobs.revert_job("web", s.JobRevertRequest(JobID="web", JobVersion=2)),
             500, 'job "web" in namespace "default" at version 2 not found')
    # the surviving stable version can still be reverted to
    resp = cluster.jobs.revert_job("web", s.JobRevertRequest(JobID="web", JobVersion=1))
    current = cluster.jobs.get_job("web", Q)[0]
    assert current.Version == 8 and current.Meta == {"rev": "1"} and current.Stable is True


def test_stable_on_old_version_rewinds_the_job_row(cluster: Cluster) -> None:
    """Quirks kept from v0.7.1 (golden 42-43 and 87): marking a non-current version stable
    writes that version into the jobs table, and the next register then reuses version 1
    and overwrites its history row."""
    for i in range(3):
        register(cluster, job(SERVICE, Meta={"rev": str(i)}))
    cluster.jobs.stable_job("web", s.JobStabilityRequest(JobID="web", JobVersion=0, Stable=True))
    row = cluster.jobs.get_job("web", Q)[0]
    assert (row.Version, row.Stable, row.Meta) == (0, True, {"rev": "0"})
    assert row.ModifyIndex == cluster.index and row.JobModifyIndex < row.ModifyIndex
    register(cluster, job(SERVICE, Meta={"rev": "3"}))
    resp, _ = cluster.jobs.job_versions("web", False, Q)
    assert [(v.Version, v.Meta["rev"]) for v in resp.Versions] == [(2, "2"), (1, "3"), (0, "0")]
    assert cluster.jobs.get_job("web", Q)[0].Version == 1


def test_retention_without_stable_keeps_six_newest(cluster: Cluster) -> None:
    for i in range(8):
        register(cluster, job(SERVICE, Meta={"rev": str(i)}))
    resp, _ = cluster.jobs.job_versions("web", False, Q)
    assert [v.Version for v in resp.Versions] == [7, 6, 5, 4, 3, 2]


# --- allocations ---------------------------------------------------------------------------------------

def test_allocations_all_shows_earlier_incarnation_after_purge(cluster: Cluster) -> None:
    register(cluster, job(SERVICE))
    first = {a.ID for a in cluster.jobs.job_allocations("web", False, Q)[0]}
    assert len(first) == 1
    cluster.jobs.deregister_job("web", purge=True)
    # job gone: every allocation for the ID shows either way
    assert {a.ID for a in cluster.jobs.job_allocations("web", False, Q)[0]} == first
    register(cluster, job(SERVICE))
    current, meta = cluster.jobs.job_allocations("web", False, Q)
    assert len(current) == 1 and current[0].ID not in first
    assert meta.index == cluster.snapshot().table_index(ALLOCS)
    everything = {a.ID for a in cluster.jobs.job_allocations("web", True, Q)[0]}
    assert everything == first | {current[0].ID}


def test_allocations_unknown_job_empty(cluster: Cluster) -> None:
    allocs, meta = cluster.jobs.job_allocations("nope", False, Q)
    assert allocs == [] and meta.index == cluster.snapshot().table_index(ALLOCS)


def test_allocation_stub_fields(cluster: Cluster) -> None:
    resp = register(cluster, job(SERVICE))
    (stub,), _ = cluster.jobs.job_allocations("web", False, Q)
    assert stub.JobID == "web" and stub.TaskGroup == "cache" and stub.Name == "web.cache[0]"
    assert stub.EvalID == resp.EvalID and stub.JobVersion == 0 and stub.DesiredStatus == "run"


# --- evaluations and deployments -------------------------------------------------------------------------

def test_evaluations(cluster: Cluster) -> None:
    resp = register(cluster, job(SERVICE))
    evals, meta = cluster.jobs.job_evaluations("web", Q)
    assert [e.ID for e in evals] == [resp.EvalID]
    assert evals[0].TriggeredBy == "job-register" and evals[0].Status == "complete"
    assert meta.index == cluster.snapshot().table_index(EVALS)
    assert cluster.jobs.job_evaluations("nope", Q)[0] == []
    assert cluster.jobs.job_evaluations("web", QueryOptions(namespace="other"))[0] == []


def test_deployments_and_latest(cluster: Cluster) -> None:
    register(cluster, job(SERVICE))
    register(cluster, job(SERVICE, Priority=60))
    deps, meta = cluster.jobs.job_deployments("web", Q)
    assert len(deps) == 2 and meta.index == cluster.snapshot().table_index(DEPLOYMENT)
    latest, lmeta = cluster.jobs.job_latest_deployment("web", Q)
    assert latest.JobVersion == 1
    assert latest.CreateIndex == max(d.CreateIndex for d in deps)
    assert lmeta.index == meta.index


def test_latest_deployment_none_for_unknown_and_batch(cluster: Cluster) -> None:
    register(cluster, job(BATCH))
    for job_id in ("nope", "batch"):
        latest, meta = cluster.jobs.job_latest_deployment(job_id, Q)
        assert latest is None and meta.index == cluster.snapshot().table_index(DEPLOYMENT)
        assert cluster.jobs.job_deployments(job_id, Q)[0] == []


# --- summary --------------------------------------------------------------------------------------------

def test_summary_and_404(cluster: Cluster) -> None:
    register(cluster, job(SERVICE))
    summary, meta = cluster.jobs.job_summary("web", Q)
    assert summary.JobID == "web" and set(summary.Summary) == {"cache"}
    assert meta.index == summary.ModifyIndex
    err = rejected(cluster, lambda: cluster.jobs.job_summary("nope", Q), 404, "job not found")
    assert err.index == cluster.snapshot().table_index(JOB_SUMMARY)
    rejected(cluster, lambda: cluster.jobs.job_summary("web", QueryOptions(namespace="other")), 404,
             "job not found")


def test_summary_of_missing_job_on_a_fresh_cluster_has_the_leadership_index() -> None:
    # leader.go establishLeadership reconciles the job summaries in a log entry of its
    # own (ReconcileJobSummaries), so the job_summary table's index is non-zero before
    # any job exists, and a summary read of a missing job answers it (job_endpoint.go
    # Summary), while the jobs table is still at 0.
    for cluster in (Cluster(seed=11), Cluster([], seed=11)):
        err = rejected(cluster, lambda: cluster.jobs.job_summary("nope", Q), 404, "job not found")
        assert err.index == cluster.snapshot().table_index(JOB_SUMMARY) > 0
        assert cluster.jobs.list_jobs(Q)[1].index == 0
    # reset() rebuilds the cluster as constructed, leadership entry included.
    cluster.reset()
    assert cluster.snapshot().table_index(JOB_SUMMARY) > 0


def test_reconcile_job_summaries_rebuilds_from_allocations(cluster: Cluster) -> None:
    from nomadjobs import fsm
    register(cluster, job(SERVICE))
    cluster.advance(5)
    before = cluster.snapshot().job_summary(s.DEFAULT_NAMESPACE, "web")
    assert before is not None
    result = cluster.apply(fsm.ReconcileJobSummaries())
    after = cluster.snapshot().job_summary(s.DEFAULT_NAMESPACE, "web")
    assert after is not None and after.ModifyIndex == result.index
    assert after.CreateIndex == before.CreateIndex and after.Children is None
    assert {g: (t.Running, t.Queued) for g, t in after.Summary.items()} == \
        {g: (t.Running, 0) for g, t in before.Summary.items()}
    assert cluster.snapshot().table_index(JOB_SUMMARY) == result.index


def test_reads_do_not_write(cluster: Cluster) -> None:
    register(cluster, job(SERVICE))
    before = fingerprint(cluster)
    cluster.jobs.list_jobs(Q)
    cluster.jobs.get_job("web", Q)
    cluster.jobs.job_versions("web", True, Q)
    cluster.jobs.job_allocations("web", True, Q)
    cluster.jobs.job_evaluations("web", Q)
    cluster.jobs.job_deployments("web", Q)
    cluster.jobs.job_latest_deployment("web", Q)
    cluster.jobs.job_summary("web", Q)
    assert fingerprint(cluster) == before
