"""Requests that used to escape as Python errors or exhaust the host (issue 17), each
answered now as Nomad 0.7.1 answers it, or refused by a documented limit, and none of
them changing the state."""

from __future__ import annotations

import json
from typing import Any, Optional

import falcon.testing
import pytest

from nomadjobs import Cluster
from nomadjobs import codec
from nomadjobs.golang.time import parse_duration
from nomadjobs.limits import DEFAULT_LIMITS, Limits
from shim import create_app


def _job(job_id: str = "web", count: int = 1, **extra: Any) -> dict[str, Any]:
    return {"ID": job_id, "Name": job_id, "Datacenters": ["dc1"], **extra,
            "TaskGroups": [{"Name": "g", "Count": count, "Tasks": [{
                "Name": "t", "Driver": "exec", "Config": {"command": "/bin/sleep", "args": ["60"]},
                "Resources": {"CPU": 100, "MemoryMB": 32}}]}]}


class Served:
    def __init__(self, limits: Limits = DEFAULT_LIMITS) -> None:
        self.cluster = Cluster(seed=5, limits=limits)
        self.client = falcon.testing.TestClient(create_app(self.cluster))
        assert self.put("/v1/jobs", {"Job": _job()}).status_code == 200
        self.cluster.advance(1)

    def state(self) -> Any:
        snap = self.cluster.snapshot()
        return snap.latest_index(), codec.to_wire(sorted(snap.jobs(), key=lambda j: j.ID))

    def put(self, path: str, body: Any, raw: Optional[bytes] = None) -> Any:
        data = raw if raw is not None else json.dumps(body).encode()
        return self.client.simulate_put(path, body=data, headers={"Content-Type": "application/json"})

    def get(self, path: str, query: str = "") -> Any:
        return self.client.simulate_get(path, query_string=query or None)


@pytest.fixture
def served() -> Any:
    s = Served()
    yield s
    s.cluster.close()


# --- query parameters as Go parses them ------------------------------------------------------------

@pytest.mark.parametrize("query", ["index=%C2%B2", "index=%D9%A3", "index=" + "9" * 5000, "index=+1",
                                   "index=18446744073709551616", "index=0x10"])
def test_an_index_go_cannot_parse_is_invalid(served: Served, query: str) -> None:
    before = served.state()
    result = served.get("/v1/jobs", query)
    assert (result.status_code, result.text) == (400, "Invalid index")
    assert served.state() == before


@pytest.mark.parametrize("wait", ["9" * 400 + "s", "9223372036854775808ns", "2562048h", "1e3s", ".s", "1",
                                  "%C2%B2s"])
def test_a_wait_go_cannot_parse_is_invalid(served: Served, wait: str) -> None:
    result = served.get("/v1/jobs", f"wait={wait}")
    assert (result.status_code, result.text) == (400, "Invalid wait time")


def test_index_and_wait_at_the_edges_of_go_ranges_are_accepted(served: Served) -> None:
    assert served.get("/v1/jobs", "index=1&wait=9223372036854775807ns").status_code == 200
    assert served.get("/v1/jobs", "index=0000000000000000000000000001&wait=1%C2%B5s").status_code == 200


@pytest.mark.parametrize("text,ns", [("1.5h", 5_400_000_000_000), ("-2m3.5s", -123_500_000_000),
                                     ("1.9999999999999999999999s", 2_000_000_000), ("2562047h", 9_223_369_200_000_000_000),
                                     ("9223372036854775807ns", 2**63 - 1), ("5\u00b5s", 5000), ("5\u03bcs", 5000)])
def test_parse_duration_is_go_integer_arithmetic(text: str, ns: int) -> None:
    assert parse_duration(text) == ns


@pytest.mark.parametrize("text,message", [
    ("9223372036854775808ns", "time: invalid duration 9223372036854775808ns"),
    ("1", "time: missing unit in duration 1"),
    ("1x", "time: unknown unit x in duration 1x"),
])
def test_parse_duration_words_errors_as_go_1_9(text: str, message: str) -> None:
    with pytest.raises(ValueError) as err:
        parse_duration(text)
    assert str(err.value) == message


# --- a plan in a namespace that does not exist ---------------------------------------------------------

@pytest.mark.parametrize("job_id", ["web", "fresh"])
def test_a_plan_in_a_missing_namespace_plans_the_job_as_absent(served: Served, job_id: str) -> None:
    """v0.7.1 Job.Plan ignores its snapshot's UpsertJob error (checked against the real
    agent: 200, no task group updates, JobModifyIndex 0, the whole job "Added")."""
    before = served.state()
    result = served.put(f"/v1/job/{job_id}/plan", {"Job": _job(job_id, Namespace="nope"), "Diff": True})
    assert result.status_code == 200, result.text
    body = result.json
    assert body["Annotations"] == {"DesiredTGUpdates": {}}
    assert (body["JobModifyIndex"], body["Diff"]["Type"], body["FailedTGAllocs"]) == (0, "Added", None)
    assert served.state() == before


def test_a_register_in_a_missing_namespace_is_refused(served: Served) -> None:
    before = served.state()
    result = served.put("/v1/jobs", {"Job": _job("web", Namespace="nope")})
    assert result.status_code == 500 and "non-existent namespace" in result.text
    assert served.state() == before


# --- limits ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/v1/jobs", "/v1/job/web/plan"])
def test_a_count_beyond_the_allocation_limit_is_a_validation_error(served: Served, path: str) -> None:
    before = served.state()
    result = served.put(path, {"Job": _job("web", count=2**31)})
    assert result.status_code == 500
    assert result.text == ("1 error(s) occurred:\n\n* Job asks for 2147483648 allocations; this server accepts "
                           "at most 100000 per job (max_job_allocations)")
    assert served.state() == before


def test_validate_reports_the_allocation_limit_with_the_other_errors(served: Served) -> None:
    job = _job("web", count=2**31)
    job["Priority"] = 1000
    result = served.put("/v1/validate/job", {"Job": job})
    assert result.status_code == 200
    errors = result.json["ValidationErrors"]
    assert len(errors) == 2 and errors[-1].startswith("Job asks for 2147483648 allocations")


def test_the_allocation_limit_counts_every_group_and_is_configurable() -> None:
    served = Served(Limits(max_job_allocations=5))
    try:
        job = _job("big", count=3)
        job["TaskGroups"].append({**job["TaskGroups"][0], "Name": "h", "Count": 3})
        result = served.put("/v1/jobs", {"Job": job})
        assert result.status_code == 500 and "Job asks for 6 allocations" in result.text
        job["TaskGroups"][1]["Count"] = 2
        assert served.put("/v1/jobs", {"Job": job}).status_code == 200
    finally:
        served.cluster.close()


def test_a_body_over_the_limit_is_refused_before_it_is_decoded() -> None:
    served = Served(Limits(max_body_bytes=2000))
    try:
        before = served.state()
        job = _job("web")
        job["Meta"] = {"pad": "x" * 3000}
        result = served.put("/v1/jobs", {"Job": job})
        assert (result.status_code, result.text) == (
            400, "Request body larger than 2000 bytes; this server accepts at most 2000 (max_body_bytes)")
        assert served.state() == before
        assert served.put("/v1/jobs", {"Job": _job("small")}).status_code == 200
    finally:
        served.cluster.close()


def _nested(depth: int) -> bytes:
    job = _job("deep")
    job["TaskGroups"][0]["Tasks"][0]["Config"]["args"] = "@@"
    return json.dumps({"Job": job}).replace('"@@"', "[" * depth + "]" * depth).encode()


def test_json_nested_beyond_the_limit_is_refused(served: Served) -> None:
    before = served.state()
    for depth in (300, 1025, 100_000):
        result = served.put("/v1/jobs", None, raw=_nested(depth))
        assert result.status_code == 400, depth
        assert result.text == "json: nesting deeper than 128 levels; this server accepts at most 128 (max_json_depth)"
    assert served.state() == before


def test_json_within_the_limit_is_stored_and_read_back(served: Served) -> None:
    # 100 levels in a task's config: written, read, planned and diffed without a 500.
    assert served.put("/v1/jobs", None, raw=_nested(100)).status_code == 200
    assert served.get("/v1/job/deep").status_code == 200
    assert served.put("/v1/job/deep/plan", None, raw=_nested(100).replace(b'{"Job"', b'{"Diff": true, "Job"', 1)
                      ).status_code == 200


def test_brackets_inside_strings_do_not_count_as_nesting(served: Served) -> None:
    job = _job("brackets")
    job["Meta"] = {"text": "[" * 500 + "{" * 500}
    assert served.put("/v1/jobs", {"Job": job}).status_code == 200


@pytest.mark.parametrize("bad", [{"max_job_allocations": 0}, {"max_body_bytes": -1}, {"max_json_depth": True},
                                 {"max_json_depth": "10"}])
def test_limits_must_be_positive_integers(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        Limits(**bad)
