"""The shipped hypothesis strategies (nomadjobs.testing) keep their promises:
valid jobs validate and place on the default fleet, invalid ones fail with the
message they announce, through validation and through the Jobs service."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nomadjobs import Cluster, NomadError
from nomadjobs import codec
from nomadjobs import structs as s
from nomadjobs.canonicalize import api_canonicalize
from nomadjobs.testing import (batch_jobs, invalid_jobs, jobs, parameterized_jobs, periodic_jobs, service_jobs,
                               system_jobs)
from nomadjobs.validate import validate_job_for_register

FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _errors(job: s.Job) -> list[str]:
    _, errors, _ = validate_job_for_register(api_canonicalize(job))
    return errors


@pytest.mark.parametrize("strategy", [jobs(), service_jobs(), batch_jobs(), system_jobs(), periodic_jobs(),
                                      parameterized_jobs()],
                         ids=["jobs", "service", "batch", "system", "periodic", "parameterized"])
def test_valid_jobs_validate(strategy: st.SearchStrategy[s.Job]) -> None:
    @FAST
    @given(strategy)
    def check(job: s.Job) -> None:
        assert _errors(job) == []
        # What a client sends survives the wire unchanged.
        assert codec.from_wire(codec.to_wire(job), s.Job) == job

    check()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(jobs(job_type=st.sampled_from(["service", "batch", "system"])))
def test_valid_job_places_fully_on_default_fleet(job: s.Job) -> None:
    cluster = Cluster(seed=3)
    resp = cluster.jobs.register_job(s.JobRegisterRequest(Job=job))
    ev = cluster.snapshot().eval_by_id(resp.EvalID)
    assert ev is not None and ev.Status == s.EVAL_STATUS_COMPLETE
    assert not ev.FailedTGAllocs, ev.FailedTGAllocs
    summary = cluster.snapshot().job_summary("default", job.ID)
    assert all(tg.Queued == 0 for tg in summary.Summary.values())


@settings(max_examples=20, deadline=None)
@given(periodic_jobs() | parameterized_jobs())
def test_periodic_and_parameterized_register_without_evaluation(job: s.Job) -> None:
    cluster = Cluster(seed=3)
    resp = cluster.jobs.register_job(s.JobRegisterRequest(Job=job))
    assert resp.EvalID == "" and resp.JobModifyIndex == cluster.index


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(invalid_jobs())
def test_invalid_jobs_fail_with_their_message(case: tuple[s.Job, str]) -> None:
    job, message = case
    errors = _errors(job)
    assert any(message in e for e in errors), (message, errors)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(invalid_jobs())
def test_invalid_jobs_are_rejected_by_register_without_a_write(case: tuple[s.Job, str]) -> None:
    job, message = case
    cluster = Cluster(seed=3)
    before = cluster.index
    with pytest.raises(NomadError) as err:
        cluster.jobs.register_job(s.JobRegisterRequest(Job=job))
    assert message in err.value.message
    assert err.value.code == 500
    assert cluster.index == before
    assert list(cluster.snapshot().jobs()) == []


def test_periodic_and_parameterized_need_batch() -> None:
    with pytest.raises(ValueError):
        jobs("service", periodic=True)
