"""Shared helpers for the Jobs-service tests (imported by the other test_jobs_* modules),
plus checks that the "store unchanged" fingerprint really notices writes."""

from __future__ import annotations

import copy
import json
from typing import Any, Callable

import pytest

from nomadjobs import Cluster, NomadError, QueryOptions, WriteOptions
from nomadjobs import codec
from nomadjobs import structs as s
from nomadjobs.state.store import (ACL_POLICY, ACL_TOKEN, ALLOCS, DEPLOYMENT, EVALS, JOB_SUMMARY, JOB_VERSION,
                                   JOBS, NODES, PERIODIC_LAUNCH)

NS = "default"
S = 1_000_000_000
Q = QueryOptions()
W = WriteOptions()
from conformance import GOLDEN_DIR  # noqa: E402  (vendored recordings)

GOLDEN = GOLDEN_DIR
TABLES = (JOBS, JOB_VERSION, JOB_SUMMARY, EVALS, ALLOCS, DEPLOYMENT, NODES, PERIODIC_LAUNCH, ACL_POLICY, ACL_TOKEN)

SERVICE: dict[str, Any] = {
    "ID": "web", "Name": "web", "Type": "service", "Priority": 50, "Datacenters": ["dc1"],
    "TaskGroups": [{
        "Name": "cache", "Count": 1,
        "Tasks": [{"Name": "redis", "Driver": "docker",
                   "Config": {"image": "redis:3.2", "port_map": [{"db": 6379}]},
                   "Resources": {"CPU": 500, "MemoryMB": 256,
                                 "Networks": [{"MBits": 10, "DynamicPorts": [{"Label": "db", "Value": 0}]}]}}],
    }],
    "Update": {"MaxParallel": 1, "MinHealthyTime": 10 * S, "HealthyDeadline": 180 * S},
}
BATCH: dict[str, Any] = {
    "ID": "batch", "Name": "batch", "Type": "batch", "Datacenters": ["dc1"],
    "TaskGroups": [{"Name": "work", "Count": 1, "Tasks": [{
        "Name": "sleep", "Driver": "raw_exec", "Config": {"command": "/bin/sleep", "args": ["600"]},
        "Resources": {"CPU": 100, "MemoryMB": 32}}]}],
}
PARAM: dict[str, Any] = dict(BATCH, ID="param", Name="param",
                             ParameterizedJob={"Payload": "optional", "MetaRequired": ["who"],
                                               "MetaOptional": ["note"]})
PERIODIC: dict[str, Any] = dict(BATCH, ID="cron", Name="cron",
                                Periodic={"Enabled": True, "SpecType": "cron", "Spec": "0 0 1 1 *",
                                          "ProhibitOverlap": True, "TimeZone": "UTC"})


def job(template: dict[str, Any], job_id: str | None = None, **changes: Any) -> s.Job:
    body = copy.deepcopy(template)
    if job_id is not None:
        body["ID"] = body["Name"] = job_id
    body.update(changes)
    return codec.from_wire(body, s.Job)


def register(cluster: Cluster, j: s.Job, w: WriteOptions = W, **kw: Any) -> s.JobRegisterResponse:
    return cluster.jobs.register_job(s.JobRegisterRequest(Job=j, **kw), w)


def golden_body(name: str) -> Any:
    return json.loads((GOLDEN / name).read_text())["request"]["body"]


def fingerprint(cluster: Cluster) -> tuple:
    """Everything a rejected request must leave alone: the latest index, every table's
    index and the identity/version of every row that matters to the Jobs API."""
    snap = cluster.snapshot()
    return (
        cluster.index, snap.latest_index(), {t: snap.table_index(t) for t in TABLES},
        sorted((j.Namespace, j.ID, j.Version, j.ModifyIndex, j.Stable, j.Status) for j in snap.jobs()),
        sorted((v.ID, v.Version, v.ModifyIndex, v.Stable)
               for j in snap.jobs() for v in snap.job_versions(j.Namespace, j.ID)),
        sorted((e.ID, e.Status, e.ModifyIndex) for e in snap.evals()),
        sorted((a.ID, a.ModifyIndex) for a in snap.allocs()),
        sorted((d.ID, d.Status, d.ModifyIndex) for d in snap.deployments()),
    )


def rejected(cluster: Cluster, call: Callable[[], Any], code: int, message: str) -> NomadError:
    """``call`` must fail with exactly ``message``/``code`` and write nothing."""
    before = fingerprint(cluster)
    with pytest.raises(NomadError) as info:
        call()
    assert str(info.value) == message
    assert info.value.code == code
    assert fingerprint(cluster) == before
    return info.value


def test_fingerprint_notices_a_write() -> None:
    cluster = Cluster(seed=1)
    before = fingerprint(cluster)
    register(cluster, job(BATCH))
    assert fingerprint(cluster) != before


def test_rejected_helper_fails_when_a_write_happened() -> None:
    cluster = Cluster(seed=1)

    def writes_then_fails() -> None:
        register(cluster, job(BATCH))
        raise NomadError("boom")

    with pytest.raises(AssertionError):
        rejected(cluster, writes_then_fails, 500, "boom")
