"""The Falcon shim in-process: routing, methods, headers, bodies and errors as a
Nomad v0.7.1 agent answers them (see tests/golden/nomad-0.7.1)."""

from __future__ import annotations

import base64
import gzip
import json
import threading
import time
import zlib
from typing import Any

import falcon.testing
import pytest

from nomadjobs.cluster import Cluster
from shim import create_app
from shim.app import Router, canonical_header, clean_path

PLAIN = "text/plain; charset=utf-8"


@pytest.fixture
def cluster():
    # A virtual clock: nothing moves unless a request writes, so indexes are exact.
    c = Cluster(clock="virtual")
    yield c
    c.close()


@pytest.fixture
def client(cluster) -> falcon.testing.TestClient:
    return falcon.testing.TestClient(create_app(cluster))


def register(client, job: dict, path: str = "/v1/jobs") -> dict:
    r = client.simulate_post(path, json={"Job": job})
    assert r.status_code == 200, r.text
    return r.json


def assert_plain_error(r, status: int, text: str) -> None:
    assert r.status_code == status
    assert r.headers["content-type"] == PLAIN
    assert r.text == text


def assert_read_headers(r, index: int | None = None) -> None:
    assert r.headers["x-nomad-knownleader"] == "true"
    assert r.headers["x-nomad-lastcontact"] == "0"
    if index is not None:
        assert r.headers["x-nomad-index"] == str(index)


# --- app basics --------------------------------------------------------------------------------

def test_create_app_keeps_cluster(cluster):
    app = create_app(cluster)
    assert isinstance(app, falcon.App)
    assert app.cluster is cluster


def test_wsgi_app_without_settings_uses_wall_clock_default_fleet(monkeypatch):
    for var in ("NOMADJOBS_FLEET", "NOMADJOBS_NODES", "NOMADJOBS_CLOCK", "NOMADJOBS_ACL", "NOMADJOBS_SEED"):
        monkeypatch.delenv(var, raising=False)
    from shim.wsgi import cluster_from_env
    app = create_app(cluster_from_env())
    try:
        from nomadjobs.clock import WallClock
        assert isinstance(app.cluster.clock, WallClock)
        assert len(app.cluster.snapshot().nodes()) == 3
    finally:
        app.cluster.close()


def test_list_empty(client, cluster):
    r = client.simulate_get("/v1/jobs")
    assert r.status_code == 200
    assert r.text == "[]"
    assert r.headers["content-type"] == "application/json"
    assert r.headers["vary"] == "Accept-Encoding"
    assert_read_headers(r, cluster.snapshot().table_index("jobs"))


def test_register_read_list(client, jobspec):
    out = register(client, jobspec.service())
    assert out["Index"] == out["EvalCreateIndex"] > out["JobModifyIndex"] > 0
    r = client.simulate_get("/v1/job/example")
    assert r.status_code == 200
    assert r.json["ID"] == "example" and r.json["Version"] == 0
    assert_read_headers(r, r.json["ModifyIndex"])
    listed = client.simulate_get("/v1/jobs", params={"prefix": "ex"}).json
    assert [j["ID"] for j in listed] == ["example"]
    assert client.simulate_get("/v1/jobs", params={"prefix": "zzz"}).json == []


def test_write_headers_carry_response_index_only(client, jobspec):
    r = client.simulate_post("/v1/jobs", json={"Job": jobspec.service()})
    assert r.headers["x-nomad-index"] == str(r.json["Index"])
    assert "x-nomad-knownleader" not in r.headers
    assert "x-nomad-lastcontact" not in r.headers


def test_periodic_register_index_zero(client, jobspec):
    r = client.simulate_post("/v1/jobs", json={"Job": jobspec.periodic_batch()})
    assert r.status_code == 200
    assert r.json["EvalID"] == "" and r.json["Index"] == 0
    assert r.headers["x-nomad-index"] == "0"


# --- routing -------------------------------------------------------------------------------------

def test_job_ids_with_slashes(client, jobspec):
    register(client, jobspec.param_batch())
    payload = base64.b64encode(b"hello").decode()
    r = client.simulate_post("/v1/job/param-batch/dispatch", json={"Payload": payload, "Meta": {"who": "me"}})
    assert r.status_code == 200, r.text
    child = r.json["DispatchedJobID"]
    assert child.startswith("param-batch/dispatch-")
    assert r.headers["x-nomad-index"] == str(r.json["Index"])

    job = client.simulate_get(f"/v1/job/{child}")
    assert job.status_code == 200
    assert job.json["ID"] == child and job.json["ParentID"] == "param-batch"
    assert base64.b64decode(job.json["Payload"]) == b"hello"  # decompressed on read
    allocs = client.simulate_get(f"/v1/job/{child}/allocations")
    assert allocs.status_code == 200 and [a["JobID"] for a in allocs.json] == [child]
    summary = client.simulate_get(f"/v1/job/{child}/summary")
    assert summary.status_code == 200 and summary.json["JobID"] == child
    # the parent's own routes are not confused with the child's
    parent = client.simulate_get("/v1/job/param-batch/summary").json
    assert parent["JobID"] == "param-batch" and parent["Children"]["Pending"] + parent["Children"]["Running"] \
        + parent["Children"]["Dead"] == 1


def test_percent_encoded_slash_is_a_slash(client, jobspec):
    register(client, jobspec.param_batch())
    child = client.simulate_post("/v1/job/param-batch/dispatch", json={"Meta": {"who": "x"}}).json["DispatchedJobID"]
    encoded = child.replace("/", "%2F")
    r = client.simulate_get(f"/v1/job/{encoded}")
    assert r.status_code == 200 and r.json["ID"] == child


@pytest.mark.parametrize("path,endpoint,ident", [
    ("/v1/job/a/evaluate", "JobEvaluate", "a"),
    ("/v1/job/a/b/allocations", "JobAllocations", "a/b"),
    ("/v1/job/a/evaluations", "JobEvaluations", "a"),
    ("/v1/job/a/periodic/force", "JobPeriodicForce", "a"),
    ("/v1/job/a/plan", "JobPlan", "a"),
    ("/v1/job/a/summary", "JobSummary", "a"),
    ("/v1/job/a/dispatch", "JobDispatch", "a"),
    ("/v1/job/a/versions", "JobVersions", "a"),
    ("/v1/job/a/revert", "JobRevert", "a"),
    ("/v1/job/a/deployments", "JobDeployments", "a"),
    ("/v1/job/a/deployment", "JobLatestDeployment", "a"),
    ("/v1/job/a/stable", "JobStable", "a"),
    ("/v1/job/a", "Job", "a"),
    ("/v1/job/evaluate", "Job", "evaluate"),  # no "/evaluate" suffix: it is an ID
    ("/v1/job/", "Job", ""),
    ("/v1/job/x/plan/summary", "JobSummary", "x/plan"),
    ("/v1/evaluation/e1", "EvaluationRead", "e1"),
    ("/v1/evaluation/e1/allocations", "EvaluationAllocations", "e1"),
    ("/v1/allocation/a1", "AllocationRead", "a1"),
    ("/v1/deployment/d1", "DeploymentRead", "d1"),
    ("/v1/deployment/allocations/d1", "DeploymentAllocations", "d1"),
    ("/v1/deployment/fail/d1", "DeploymentFail", "d1"),
    ("/v1/deployment/pause/d1", "DeploymentPause", "d1"),
    ("/v1/deployment/promote/d1", "DeploymentPromote", "d1"),
    ("/v1/deployment/allocation-health/d1", "DeploymentAllocHealth", "d1"),
    ("/v1/node/n1", "NodeRead", "n1"),
    ("/v1/node/n1/allocations", "NodeAllocations", "n1"),
    ("/v1/jobs", "Jobs", ""),
    ("/v1/validate/job", "ValidateJob", ""),
    ("/v1/search", "Search", ""),
])
def test_router(cluster, path, endpoint, ident):
    from shim.resources import Api
    route = Router(Api(cluster)).resolve(path)
    assert route is not None
    assert type(route[0]).__name__ == endpoint
    assert route[1] == ident


def test_unknown_path_is_go_404(client):
    r = client.simulate_get("/v1/nope")
    assert_plain_error(r, 404, "404 page not found\n")
    assert_plain_error(client.simulate_get("/v1/jobs/extra"), 404, "404 page not found\n")


def test_mux_redirects(client):
    r = client.simulate_get("/v1/job")
    assert r.status_code == 301 and r.headers["location"] == "/v1/job/"
    r = client.simulate_get("/v1/job/a//b", query_string="pretty")
    assert r.status_code == 301 and r.headers["location"] == "/v1/job/a/b?pretty"
    assert clean_path("/v1/job/a/../b/") == "/v1/job/b/"


def test_empty_id(client, jobspec):
    assert_plain_error(client.simulate_get("/v1/job/"), 404, "job not found")
    r = client.simulate_put("/v1/job/", json={"Job": jobspec.service("from-body")})
    assert r.status_code == 200, r.text
    assert client.simulate_get("/v1/job/from-body").status_code == 200


# --- methods ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("method,path", [
    ("DELETE", "/v1/jobs"),
    ("PATCH", "/v1/job/example"),
    ("GET", "/v1/job/example/evaluate"),
    ("GET", "/v1/job/example/plan"),
    ("GET", "/v1/job/example/periodic/force"),
    ("GET", "/v1/job/example/dispatch"),
    ("GET", "/v1/job/example/revert"),
    ("GET", "/v1/job/example/stable"),
    ("POST", "/v1/job/example/allocations"),
    ("PUT", "/v1/job/example/evaluations"),
    ("DELETE", "/v1/job/example/deployments"),
    ("POST", "/v1/job/example/deployment"),
    ("GET", "/v1/validate/job"),
    ("POST", "/v1/evaluations"),
    ("PUT", "/v1/allocations"),
    ("GET", "/v1/search"),
    ("GET", "/v1/deployment/fail/x"),
    ("POST", "/v1/deployment/x"),
    ("POST", "/v1/nodes"),
    ("POST", "/v1/status/leader"),
    ("DELETE", "/v1/agent/self"),
])
def test_invalid_method(client, method, path):
    r = client.simulate_request(method, path, body="{}")
    assert_plain_error(r, 405, "Invalid method")
    assert "x-nomad-index" not in r.headers


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "DELETE"])
def test_summary_and_versions_answer_any_method(client, jobspec, method):
    register(client, jobspec.service())
    r = client.simulate_request(method, "/v1/job/example/summary")
    assert r.status_code == 200 and r.json["JobID"] == "example"
    r = client.simulate_request(method, "/v1/job/example/versions")
    assert r.status_code == 200 and [v["Version"] for v in r.json["Versions"]] == [0]


# --- bodies and output ---------------------------------------------------------------------------

def test_pretty(client, jobspec):
    register(client, jobspec.service())
    compact = client.simulate_get("/v1/job/example").text
    pretty = client.simulate_get("/v1/job/example", query_string="pretty").text
    assert "\n" not in compact
    assert pretty.endswith("}\n") and pretty.startswith('{\n    "Stop": false,\n')
    assert json.loads(pretty) == json.loads(compact)
    assert client.simulate_get("/v1/job/example", query_string="pretty=false").text == pretty
    assert client.simulate_get("/v1/job/example", query_string="pretty=0").text == compact


def test_errors_are_plain_text_without_pretty(client):
    r = client.simulate_get("/v1/job/nope", query_string="pretty")
    assert_plain_error(r, 404, "job not found")
    assert_read_headers(r)


@pytest.mark.parametrize("body,message", [
    ('{"Job": {"ID": "x",', "unexpected EOF"),
    ("", "EOF"),
    ("{} x", "Job must be specified"),  # Go's decoder reads the first value only
    ('{"Job": {"ID": 5}}', "json: cannot unmarshal number into Go struct field Job.ID of type string"),
])
def test_bad_json_is_400(client, body, message):
    assert_plain_error(client.simulate_post("/v1/jobs", body=body), 400, message)


def test_http_layer_400s(client, jobspec):
    assert_plain_error(client.simulate_post("/v1/jobs", json={}), 400, "Job must be specified")
    job = jobspec.service()
    del job["ID"]
    assert_plain_error(client.simulate_post("/v1/jobs", json={"Job": job}), 400, "Job ID hasn't been provided")
    assert_plain_error(client.simulate_post("/v1/job/other", json={"Job": jobspec.service()}), 400,
                       "Job ID does not match name")
    assert_plain_error(client.simulate_post("/v1/job/other/plan", json={"Job": jobspec.service()}), 400,
                       "Job ID does not match")


def test_unknown_body_keys_and_case_insensitive_keys(client, jobspec):
    r = client.simulate_post("/v1/jobs", json={"job": jobspec.service(), "Bogus": [1, 2]})
    assert r.status_code == 200, r.text


def test_bodyless_endpoints_do_not_read_the_body(client, jobspec):
    register(client, jobspec.service())
    r = client.simulate_post("/v1/job/example/evaluate", body="not json at all")
    assert r.status_code == 200, r.text
    assert r.headers["x-nomad-index"] == str(r.json["EvalCreateIndex"])
    register(client, jobspec.periodic_batch())
    r = client.simulate_post("/v1/job/periodic-batch/periodic/force", body="{{{")
    assert r.status_code == 200, r.text
    assert r.headers["x-nomad-index"] == str(r.json["Index"])


def test_server_errors_are_500(client, jobspec):
    register(client, jobspec.service())
    assert_plain_error(client.simulate_post("/v1/job/nope/evaluate"), 500, "job not found")
    r = client.simulate_get("/v1/job/example/versions", query_string="diffs=maybe")
    assert_plain_error(r, 500, 'Failed to parse value of "diffs" (maybe) as a bool: '
                               'strconv.ParseBool: parsing "maybe": invalid syntax')
    assert "x-nomad-index" not in r.headers
    r = client.simulate_delete("/v1/job/example", query_string="purge=banana")
    assert_plain_error(r, 500, 'Failed to parse value of "purge" (banana) as a bool: '
                               'strconv.ParseBool: parsing "banana": invalid syntax')
    bad = {"Job": {"ID": "x"}}
    assert_plain_error(client.simulate_post("/v1/jobs", json=bad), 500,
                       "2 error(s) occurred:\n\n* Missing job datacenters\n* Missing job task groups")


def test_unexpected_exception_is_generic_500(client, cluster, caplog):
    def boom(*a: Any, **k: Any):
        raise RuntimeError("secret internals /etc/passwd")

    cluster.jobs.list_jobs = boom
    with caplog.at_level("ERROR", logger="nomadjobs.shim"):
        r = client.simulate_get("/v1/jobs")
    assert_plain_error(r, 500, "Internal Server Error")
    assert "secret" not in r.text and "Traceback" not in r.text
    assert any("secret internals" in (rec.exc_text or "") or rec.exc_info for rec in caplog.records)


def test_404_reads_carry_index(client, jobspec):
    register(client, jobspec.service())
    for path, text in [("/v1/job/nope", "job not found"), ("/v1/job/nope/summary", "job not found"),
                       ("/v1/job/nope/versions", "job versions not found")]:
        r = client.simulate_get(path)
        assert_plain_error(r, 404, text)
        assert_read_headers(r)
        assert int(r.headers["x-nomad-index"]) > 0
    for path in ("/v1/job/nope/allocations", "/v1/job/nope/evaluations", "/v1/job/nope/deployments"):
        r = client.simulate_get(path)
        assert r.status_code == 200 and r.json == []
    r = client.simulate_get("/v1/job/nope/deployment")
    assert r.status_code == 200 and r.text == "null"


def test_revert_and_stable_headers(client, jobspec):
    register(client, jobspec.service())
    register(client, jobspec.service(Priority=60))
    r = client.simulate_post("/v1/job/example/revert", json={"JobID": "example", "JobVersion": 0})
    assert r.status_code == 200, r.text
    assert r.headers["x-nomad-index"] == str(r.json["Index"])
    assert r.headers["x-nomad-knownleader"] == "false"
    assert r.headers["x-nomad-lastcontact"] == "0"
    assert_plain_error(client.simulate_post("/v1/job/example/revert", json={"JobID": "other"}), 400,
                       "Job ID does not match")
    r = client.simulate_post("/v1/job/example/stable", json={"JobID": "example", "JobVersion": 2, "Stable": True})
    assert r.status_code == 200 and list(r.json) == ["Index"]
    assert r.headers["x-nomad-index"] == str(r.json["Index"])
    versions = client.simulate_get("/v1/job/example/versions", query_string="diffs=true").json
    assert [v["Version"] for v in versions["Versions"]] == [2, 1, 0]
    assert len(versions["Diffs"]) == 2


def test_plan_and_validate(client, jobspec):
    register(client, jobspec.service())
    job_modify_index = client.simulate_get("/v1/job/example").json["JobModifyIndex"]
    r = client.simulate_post("/v1/job/example/plan", json={"Job": jobspec.service(Priority=70), "Diff": True})
    assert r.status_code == 200, r.text
    assert r.json["JobModifyIndex"] == job_modify_index
    assert r.headers["x-nomad-index"] == str(job_modify_index)
    assert r.json["Diff"]["Type"] == "Edited"
    r = client.simulate_put("/v1/validate/job", json={"Job": {"ID": "x"}})
    assert r.status_code == 200
    assert "x-nomad-index" not in r.headers
    assert r.json["DriverConfigValidated"] is True
    assert r.json["ValidationErrors"] == ["Missing job datacenters", "Missing job task groups"]


def test_deregister_and_purge(client, jobspec):
    register(client, jobspec.service())
    r = client.simulate_delete("/v1/job/example")
    assert r.status_code == 200 and r.headers["x-nomad-index"] == str(r.json["Index"])
    assert client.simulate_get("/v1/job/example").json["Stop"] is True
    r = client.simulate_delete("/v1/job/example", query_string="purge=true")
    assert r.status_code == 200
    assert_plain_error(client.simulate_get("/v1/job/example"), 404, "job not found")
    assert client.simulate_delete("/v1/job/never-was").status_code == 200


# --- compression and header spelling -----------------------------------------------------------------

def test_gzip_and_deflate(client, jobspec):
    register(client, jobspec.service())
    plain = client.simulate_get("/v1/job/example").content
    r = client.simulate_get("/v1/job/example", headers={"Accept-Encoding": "gzip, deflate"})
    assert r.headers["content-encoding"] == "gzip"
    assert gzip.decompress(r.content) == plain
    r = client.simulate_get("/v1/job/example", headers={"Accept-Encoding": "deflate, gzip"})
    assert r.headers["content-encoding"] == "deflate"
    assert zlib.decompress(r.content, -15) == plain
    r = client.simulate_get("/v1/job/nope", headers={"Accept-Encoding": "gzip"})  # errors too
    assert r.status_code == 404 and gzip.decompress(r.content) == b"job not found"
    r = client.simulate_get("/v1/job/example", headers={"Accept-Encoding": "br"})
    assert "content-encoding" not in r.headers and r.content == plain


def test_header_names_are_go_canonical(cluster):
    app = create_app(cluster)
    seen: list[tuple[str, str]] = []
    env = falcon.testing.create_environ(path="/v1/jobs")
    body = b"".join(app(env, lambda status, headers, exc_info=None: seen.extend(headers)))
    assert body == b"[]"
    names = [k for k, _ in seen]
    for name in ("X-Nomad-Index", "X-Nomad-Knownleader", "X-Nomad-Lastcontact", "Content-Type", "Vary"):
        assert name in names
    assert canonical_header("content-length") == "Content-Length"


# --- blocking queries ------------------------------------------------------------------------------

def test_bad_wait_and_index(client):
    r = client.simulate_get("/v1/jobs", query_string="index=1&wait=banana")
    assert_plain_error(r, 400, "Invalid wait time")
    assert "x-nomad-index" not in r.headers
    assert_plain_error(client.simulate_get("/v1/jobs", query_string="index=-3"), 400, "Invalid index")
    assert_plain_error(client.simulate_get("/v1/evaluations", query_string="index=x"), 400, "Invalid index")
    assert_plain_error(client.simulate_get("/v1/job/x/summary", query_string="wait=5"), 400, "Invalid wait time")


def test_blocking_query_times_out_with_same_index(client, jobspec):
    register(client, jobspec.service())  # index 0 would not block at all
    index = int(client.simulate_get("/v1/jobs").headers["x-nomad-index"])
    assert index > 0
    start = time.monotonic()
    r = client.simulate_get("/v1/jobs", query_string=f"index={index}&wait=300ms")
    elapsed = time.monotonic() - start
    assert r.status_code == 200
    assert r.headers["x-nomad-index"] == str(index)
    assert 0.29 <= elapsed < 3.0


def test_blocking_query_in_the_past_returns_at_once(client, jobspec):
    register(client, jobspec.service())
    start = time.monotonic()
    r = client.simulate_get("/v1/jobs", query_string="index=1&wait=5s")
    assert r.status_code == 200 and time.monotonic() - start < 1.0


def test_blocking_query_woken_by_concurrent_write(client, jobspec):
    register(client, jobspec.service())
    r = client.simulate_get("/v1/job/example")
    index = int(r.headers["x-nomad-index"])
    result: dict[str, Any] = {}

    def blocked() -> None:
        start = time.monotonic()
        result["resp"] = client.simulate_get("/v1/job/example", query_string=f"index={index}&wait=10s")
        result["elapsed"] = time.monotonic() - start

    reader = threading.Thread(target=blocked)
    reader.start()
    time.sleep(0.3)
    assert reader.is_alive(), "the read should be blocked"
    w = client.simulate_post("/v1/job/example/stable", json={"JobID": "example", "JobVersion": 0, "Stable": True})
    assert w.status_code == 200, w.text
    reader.join(5)
    assert not reader.is_alive()
    resp = result["resp"]
    assert resp.status_code == 200
    assert int(resp.headers["x-nomad-index"]) > index
    assert resp.json["Stable"] is True
    assert 0.25 < result["elapsed"] < 5


def test_blocking_other_endpoints_woken(client, cluster, jobspec):
    first = register(client, jobspec.service())
    index = int(client.simulate_get("/v1/evaluations").headers["x-nomad-index"])
    assert index > 0
    out: dict[str, Any] = {}
    t = threading.Thread(target=lambda: out.setdefault(
        "r", client.simulate_get("/v1/evaluations", query_string=f"index={index}&wait=10s")))
    t.start()
    time.sleep(0.2)
    assert t.is_alive()
    second = client.simulate_post("/v1/job/example/evaluate").json
    t.join(5)
    assert not t.is_alive()
    assert int(out["r"].headers["x-nomad-index"]) > index
    assert {first["EvalID"], second["EvalID"]} <= {e["ID"] for e in out["r"].json}


# --- evaluations, allocations, deployments, nodes -----------------------------------------------------

def test_evaluations_and_allocations(client, jobspec):
    out = register(client, jobspec.service())
    eval_id = out["EvalID"]
    evals = client.simulate_get("/v1/evaluations")
    assert evals.status_code == 200 and eval_id in [e["ID"] for e in evals.json]
    assert_read_headers(evals)
    r = client.simulate_get(f"/v1/evaluation/{eval_id}")
    assert r.status_code == 200 and r.json["ID"] == eval_id
    assert r.headers["x-nomad-index"] == str(r.json["ModifyIndex"])
    r = client.simulate_get("/v1/evaluations", params={"prefix": eval_id[:4]})
    assert eval_id in [e["ID"] for e in r.json]
    r = client.simulate_get("/v1/evaluations", params={"prefix": eval_id[:4].upper()})  # memdb decodes hex
    assert eval_id in [e["ID"] for e in r.json]
    r = client.simulate_get("/v1/evaluations", params={"prefix": eval_id[:3]})
    assert_plain_error(r, 500, "eval lookup failed: index error: Input (without hyphens) must be even length")
    r = client.simulate_get("/v1/evaluations", params={"prefix": "zz"})
    assert_plain_error(r, 500, "eval lookup failed: index error: Invalid UUID: encoding/hex: invalid byte: "
                               "U+007A 'z'")
    r = client.simulate_get("/v1/evaluation/00000000-0000-0000-0000-000000000000")
    assert_plain_error(r, 404, "eval not found")
    assert_read_headers(r)

    allocs = client.simulate_get(f"/v1/evaluation/{eval_id}/allocations").json
    assert len(allocs) == 1 and allocs[0]["EvalID"] == eval_id
    listed = client.simulate_get("/v1/allocations").json
    assert [a["ID"] for a in listed] == [allocs[0]["ID"]]
    assert "Job" not in listed[0]  # a stub
    alloc_id = allocs[0]["ID"]
    r = client.simulate_get(f"/v1/allocation/{alloc_id}")
    assert r.status_code == 200 and r.json["ID"] == alloc_id and r.json["Job"]["ID"] == "example"
    assert r.headers["x-nomad-index"] == str(r.json["ModifyIndex"])
    assert client.simulate_get("/v1/allocations", params={"prefix": alloc_id[:2]}).json[0]["ID"] == alloc_id
    assert_plain_error(client.simulate_get("/v1/allocation/nope"), 404, "alloc not found")


def test_dispatched_alloc_payload_is_decompressed(client, jobspec):
    register(client, jobspec.param_batch())
    payload = base64.b64encode(b"the payload").decode()
    child = client.simulate_post("/v1/job/param-batch/dispatch",
                                 json={"Payload": payload, "Meta": {"who": "me"}}).json["DispatchedJobID"]
    alloc = client.simulate_get(f"/v1/job/{child}/allocations").json[0]
    full = client.simulate_get(f"/v1/allocation/{alloc['ID']}").json
    assert base64.b64decode(full["Job"]["Payload"]) == b"the payload"


def test_deployments(client, jobspec):
    register(client, jobspec.service())
    deployments = client.simulate_get("/v1/deployments")
    assert deployments.status_code == 200 and len(deployments.json) == 1
    dep = deployments.json[0]
    r = client.simulate_get(f"/v1/deployment/{dep['ID']}")
    assert r.status_code == 200 and r.json["JobID"] == "example"
    assert_read_headers(r, r.json["ModifyIndex"])
    allocs = client.simulate_get(f"/v1/deployment/allocations/{dep['ID']}").json
    assert len(allocs) == 1
    assert_plain_error(client.simulate_get("/v1/deployment/nope"), 404, "deployment not found")

    # pause, resume, fail
    r = client.simulate_post(f"/v1/deployment/pause/{dep['ID']}", json={"DeploymentID": dep["ID"], "Pause": True})
    assert r.status_code == 200, r.text
    assert r.headers["x-nomad-index"] == str(r.json["Index"])
    assert client.simulate_get(f"/v1/deployment/{dep['ID']}").json["Status"] == "paused"
    r = client.simulate_post(f"/v1/deployment/pause/{dep['ID']}", json={"DeploymentID": dep["ID"], "Pause": False})
    assert r.status_code == 200 and r.json["EvalID"]
    assert_plain_error(client.simulate_post(f"/v1/deployment/pause/{dep['ID']}", json={"Pause": True}), 400,
                       "DeploymentID must be specified")
    assert_plain_error(client.simulate_post(f"/v1/deployment/promote/{dep['ID']}",
                                            json={"DeploymentID": "other", "All": True}), 400,
                       "Deployment ID does not match")
    assert_plain_error(client.simulate_post(f"/v1/deployment/allocation-health/{dep['ID']}", body=""), 400, "EOF")
    r = client.simulate_post(f"/v1/deployment/fail/{dep['ID']}", body="ignored")
    assert r.status_code == 200, r.text
    assert r.headers["x-nomad-index"] == str(r.json["Index"])
    assert client.simulate_get(f"/v1/deployment/{dep['ID']}").json["Status"] == "failed"
    assert_plain_error(client.simulate_post(f"/v1/deployment/fail/{dep['ID']}"), 500,
                       "can't fail terminal deployment")
    assert_plain_error(client.simulate_post("/v1/deployment/fail/nope"), 500, "deployment not found")
    r = client.simulate_post(f"/v1/deployment/allocation-health/{dep['ID']}",
                             json={"DeploymentID": dep["ID"], "HealthyAllocationIDs": [allocs[0]["ID"]]})
    assert_plain_error(r, 500, "can't set health of allocations for a terminal deployment")


def test_deployment_alloc_health(client, jobspec):
    job = jobspec.service()
    job["TaskGroups"][0]["Count"] = 2
    register(client, job)
    dep = client.simulate_get("/v1/job/example/deployment").json
    allocs = client.simulate_get(f"/v1/deployment/allocations/{dep['ID']}").json
    assert len(allocs) == 2
    r = client.simulate_post(f"/v1/deployment/allocation-health/{dep['ID']}",
                             json={"DeploymentID": dep["ID"], "HealthyAllocationIDs": [allocs[0]["ID"]]})
    assert r.status_code == 200, r.text
    assert r.headers["x-nomad-index"] == str(r.json["Index"])
    after = client.simulate_get(f"/v1/deployment/{dep['ID']}").json
    assert after["TaskGroups"]["cache"]["HealthyAllocs"] == 1
    r = client.simulate_post(f"/v1/deployment/allocation-health/{dep['ID']}", json={"DeploymentID": dep["ID"]})
    assert_plain_error(r, 500, "must specify at least one healthy/unhealthy allocation ID")


def test_nodes(client, cluster):
    nodes = client.simulate_get("/v1/nodes")
    assert nodes.status_code == 200 and len(nodes.json) == 3
    assert set(nodes.json[0]) == {"ID", "Datacenter", "Name", "NodeClass", "Version", "Drain", "Status",
                                  "StatusDescription", "CreateIndex", "ModifyIndex"}
    node_id = nodes.json[0]["ID"]
    r = client.simulate_get(f"/v1/node/{node_id}")
    assert r.status_code == 200 and r.json["ID"] == node_id and r.json["SecretID"] == ""
    assert cluster.snapshot().node_by_id(node_id).SecretID != ""
    assert client.simulate_get(f"/v1/node/{node_id}/allocations").json == []
    assert_plain_error(client.simulate_get("/v1/node/nope"), 404, "node not found")
    assert [n["ID"] for n in client.simulate_get("/v1/nodes", params={"prefix": node_id[:6]}).json] == [node_id]


def test_node_allocations(client, jobspec):
    register(client, jobspec.service())
    alloc = client.simulate_get("/v1/allocations").json[0]
    r = client.simulate_get(f"/v1/node/{alloc['NodeID']}/allocations")
    assert [a["ID"] for a in r.json] == [alloc["ID"]]
    assert r.json[0]["Job"]["ID"] == "example"  # full allocations
    assert r.headers["x-nomad-index"] == str(r.json[0]["ModifyIndex"])


# --- search, status, agent ------------------------------------------------------------------------------

def test_search(client, jobspec):
    for i in range(25):
        register(client, jobspec.service(f"web-{i:02d}"))
    register(client, jobspec.service("api"))
    r = client.simulate_post("/v1/search", json={"Prefix": "web", "Context": "jobs"})
    assert r.status_code == 200
    assert r.json["Matches"]["jobs"] == [f"web-{i:02d}" for i in range(20)]
    assert r.json["Truncations"] == {"jobs": True}
    assert r.headers["x-nomad-index"] == str(r.json["Index"])
    assert_read_headers(r)
    r = client.simulate_put("/v1/search", json={"Prefix": "api", "Context": "all"})
    # "api" is no UUID prefix: the UUID contexts are skipped, only jobs answer
    assert r.json["Matches"] == {"jobs": ["api"]} and r.json["Truncations"] == {"jobs": False}
    eval_id = client.simulate_get("/v1/evaluations").json[0]["ID"]
    r = client.simulate_post("/v1/search", json={"Prefix": eval_id[:8], "Context": "evals"})
    assert eval_id in r.json["Matches"]["evals"]
    r = client.simulate_post("/v1/search", json={"Prefix": "ab", "Context": "all"})
    assert set(r.json["Matches"]) == {"allocs", "jobs", "nodes", "evals", "deployment"}
    r = client.simulate_post("/v1/search", json={"Prefix": "x", "Context": "bogus"})
    assert_plain_error(r, 500, "context must be one of [allocs jobs nodes evals deployment] or 'all' for all "
                               'contexts; got "bogus"')
    assert_plain_error(client.simulate_post("/v1/search", body=""), 400, "EOF")


def test_search_reads_namespace_from_query_then_body_and_never_checks_the_region(client, jobspec):
    # v0.7.1 command/agent/search_endpoint.go decodes the body, then s.parse overrides
    # Region/Namespace/AuthToken with non-empty query values; nomad/search_endpoint.go
    # PrefixSearch never forwards, so any region is answered locally (as a 0.7.1 agent does).
    register(client, jobspec.service("web"))
    find = {"Prefix": "w", "Context": "jobs"}
    for query, body, found in [("region=mars", find, ["web"]), ("", dict(find, Region="mars"), ["web"]),
                               ("namespace=default", dict(find, Namespace="other"), ["web"]),
                               ("", dict(find, Namespace="other"), None),
                               ("namespace=other", find, None)]:
        r = client.simulate_post("/v1/search", json=body, query_string=query)
        assert (r.status_code, r.json["Matches"]) == (200, {"jobs": found}), (query, body, r.text)


def test_status_regions_agent(client):
    r = client.simulate_get("/v1/status/leader")
    assert r.status_code == 200 and r.json == "127.0.0.1:4647"
    assert "x-nomad-index" not in r.headers
    assert client.simulate_get("/v1/status/peers").json == ["127.0.0.1:4647"]
    assert client.simulate_get("/v1/regions").json == ["global"]
    assert_plain_error(client.simulate_get("/v1/regions", query_string="region=mars"), 500, "No path to region")
    me = client.simulate_get("/v1/agent/self").json
    assert me["config"]["Region"] == "global" and me["config"]["Datacenter"] == "dc1"
    assert me["member"]["Name"] and me["member"]["Tags"]["region"] == "global"
    assert "nomad" in me["stats"]


# --- ACLs -------------------------------------------------------------------------------------------------

UNKNOWN_SECRET = "00000000-0000-4000-8000-00000000dead"


def test_acl_tokens_reach_the_services(jobspec):
    cluster = Cluster(clock="virtual", acl=True)
    try:
        client = falcon.testing.TestClient(create_app(cluster))
        secret = cluster.bootstrap_token.SecretID
        assert_plain_error(client.simulate_get("/v1/jobs"), 403, "Permission denied")
        assert_plain_error(client.simulate_get("/v1/jobs", headers={"X-Nomad-Token": UNKNOWN_SECRET}), 403,
                           "ACL token not found")
        auth = {"X-Nomad-Token": secret}
        assert client.simulate_get("/v1/jobs", headers=auth).status_code == 200
        r = client.simulate_post("/v1/jobs", json={"Job": jobspec.service()}, headers=auth)
        assert r.status_code == 200, r.text
        assert client.simulate_get("/v1/evaluations", headers=auth).status_code == 200
        assert_plain_error(client.simulate_get("/v1/nodes"), 403, "Permission denied")
        assert client.simulate_get("/v1/nodes", headers=auth).status_code == 200
        assert_plain_error(client.simulate_get("/v1/agent/self"), 403, "Permission denied")
        assert_plain_error(client.simulate_post("/v1/search", json={"Prefix": "e", "Context": "jobs"}), 403,
                           "Permission denied")
        r = client.simulate_post("/v1/search", json={"Prefix": "e", "Context": "jobs"}, headers=auth)
        assert r.json["Matches"]["jobs"] == ["example"]
    finally:
        cluster.close()


def test_wsgi_env_factory_minted_acl_token_is_printed(capsys):
    from shim.wsgi import cluster_from_env
    cluster = cluster_from_env({"NOMADJOBS_ACL_BOOTSTRAP": "1", "NOMADJOBS_CLOCK": "virtual"})
    try:
        secret = cluster.bootstrap_token.SecretID
        assert secret in capsys.readouterr().err
        client = falcon.testing.TestClient(create_app(cluster))
        assert client.simulate_get("/v1/jobs", headers={"X-Nomad-Token": secret}).status_code == 200
    finally:
        cluster.close()


def test_served_cluster_keeps_no_history_and_blocking_queries_still_wake(jobspec):
    """The server's cluster keeps no past commits (nothing in the HTTP API reads one);
    a blocking query, which compares table indexes, still wakes on the next write."""
    from shim.wsgi import cluster_from_env
    cluster = cluster_from_env({"NOMADJOBS_CLOCK": "virtual"})
    try:
        client = falcon.testing.TestClient(create_app(cluster))
        first = client.simulate_post("/v1/jobs", json={"Job": jobspec.service("hist-a")})
        assert first.status_code == 200
        index = cluster.index
        assert cluster.snapshot_at(index) is not None
        assert cluster.snapshot_at(index - 1) is None
        got = {}

        def block() -> None:
            got["r"] = client.simulate_get("/v1/jobs", query_string=f"index={index}&wait=20s")

        waiter = threading.Thread(target=block)
        waiter.start()
        waiter.join(0.3)
        assert waiter.is_alive()  # parked until something changes
        assert client.simulate_post("/v1/jobs", json={"Job": jobspec.service("hist-b")}).status_code == 200
        waiter.join(10)
        assert not waiter.is_alive()
        assert int(got["r"].headers["X-Nomad-Index"]) > index
        assert sorted(j["ID"] for j in got["r"].json) == ["hist-a", "hist-b"]
    finally:
        cluster.close()


def test_wsgi_env_factory_fixed_acl_token(monkeypatch):
    from shim.wsgi import cluster_from_env
    cluster = cluster_from_env({"NOMADJOBS_FLEET": "golden", "NOMADJOBS_CLOCK": "virtual", "NOMADJOBS_ACL": "1",
                                "NOMADJOBS_ACL_TOKEN": "fixed-secret", "NOMADJOBS_SEED": "7"})
    try:
        assert cluster.acl_enabled
        assert cluster.bootstrap_token.SecretID == "fixed-secret"
        assert [t.SecretID for t in cluster.snapshot().acl_tokens()] == ["fixed-secret"]
        assert [n.Name for n in cluster.snapshot().nodes()] == ["nomad-dev"]
    finally:
        cluster.close()
    from shim.wsgi import ConfigError
    with pytest.raises(ConfigError):
        cluster_from_env({"NOMADJOBS_FLEET": "huge"})
    with pytest.raises(ConfigError):
        cluster_from_env({"NOMADJOBS_CLOCK": "sundial"})


def test_gc_thresholds_reach_the_cluster_from_the_environment():
    from shim.wsgi import cluster_from_env
    cluster = cluster_from_env({"NOMADJOBS_CLOCK": "virtual", "NOMADJOBS_JOB_GC_THRESHOLD": "90m",
                                "NOMADJOBS_EVAL_GC_THRESHOLD": "30s"})
    try:
        config = cluster.lifecycle.gc.config
        assert (config.job_threshold_ns, config.eval_threshold_ns, config.node_threshold_ns) == \
            (90 * 60 * 10**9, 30 * 10**9, 24 * 3600 * 10**9)
    finally:
        cluster.close()
