"""Fuzzing the Falcon shim in-process: random methods, paths, query strings, headers
and bodies (junk JSON, wrong types, huge numbers, invalid UTF-8, mutated valid
requests) against every route. Whatever comes in, the answer is one of Nomad's
statuses with Nomad's plain text, never a Python traceback; a refused request writes
nothing; and the app keeps serving afterwards."""

from __future__ import annotations

import json
import logging
import os
from typing import Any, Optional
from urllib.parse import quote, urlencode

import falcon.testing
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nomadjobs import Cluster
from nomadjobs import codec
from nomadjobs import structs as s
from nomadjobs.testing import jobs, parameterized_jobs, periodic_jobs
from shim import create_app

NOMAD_STATUSES = {200, 400, 403, 404, 405, 500}
REDIRECT = 301  # Go's ServeMux answers unclean paths with a redirect, as Nomad does
LEAKS = ("Traceback", ".py", "Error(", "Exception(", "File \"", "site-packages", "0x7f")

EXAMPLES = int(os.environ.get("NOMADJOBS_FUZZ_EXAMPLES", "300"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                       HealthCheck.filter_too_much, HealthCheck.data_too_large])

# Every route the shim serves, with a {} where an ID goes.
ROUTES = (
    "/v1/jobs", "/v1/job/{}", "/v1/job/{}/evaluate", "/v1/job/{}/allocations", "/v1/job/{}/evaluations",
    "/v1/job/{}/periodic/force", "/v1/job/{}/plan", "/v1/job/{}/summary", "/v1/job/{}/dispatch",
    "/v1/job/{}/versions", "/v1/job/{}/revert", "/v1/job/{}/deployments", "/v1/job/{}/deployment",
    "/v1/job/{}/stable", "/v1/validate/job", "/v1/evaluations", "/v1/evaluation/{}",
    "/v1/evaluation/{}/allocations", "/v1/allocations", "/v1/allocation/{}", "/v1/deployments",
    "/v1/deployment/{}", "/v1/deployment/allocations/{}", "/v1/deployment/fail/{}", "/v1/deployment/pause/{}",
    "/v1/deployment/promote/{}", "/v1/deployment/allocation-health/{}", "/v1/nodes", "/v1/node/{}",
    "/v1/node/{}/allocations", "/v1/search", "/v1/status/leader", "/v1/status/peers", "/v1/agent/self",
    "/v1/regions", "/v1/node/{}/drain", "/v1/node/{}/evaluate", "/v1/node/{}/purge",
    "/v1/acl/bootstrap", "/v1/acl/policies", "/v1/acl/policy/{}", "/v1/acl/tokens", "/v1/acl/token",
    "/v1/acl/token/{}", "/v1/acl/token/self", "/v1/agent/members", "/v1/agent/servers", "/v1/agent/join",
    "/v1/agent/force-leave", "/v1/agent/health", "/v1/agent/keyring/{}", "/v1/metrics",
    "/v1/operator/raft/configuration", "/v1/operator/raft/peer", "/v1/system/gc",
    "/v1/system/reconcile/summaries", "/v1/client/gc", "/v1/client/fs/ls/{}", "/v1/client/fs/cat/{}",
    "/v1/client/fs/logs/{}", "/v1/client/fs/readat/{}", "/v1/client/fs/stat/{}", "/v1/client/fs/stream/{}",
    "/v1/client/stats", "/v1/client/allocation/{}/stats", "/v1/client/allocation/{}/gc",
    "/v1/client/allocation/{}/snapshot", "/v1/jobs/parse",
)
KNOWN_IDS = ("web", "param", "cron")
METHODS = st.sampled_from(["GET", "GET", "PUT", "POST", "DELETE", "HEAD", "PATCH", "OPTIONS"])

# --- building blocks -----------------------------------------------------------------------------

_TEXT = st.text(st.characters(blacklist_categories=["Cs"]), max_size=12)
_IDS = st.one_of(
    st.sampled_from(KNOWN_IDS + ("", "web/periodic-1", "..", ".", "a b", "%2F", "%zz", "job%20x", "ü", "/")),
    _TEXT,
    st.builds(lambda a, b: f"{a}/{b}", st.sampled_from(KNOWN_IDS), _TEXT),
)
_SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(min_value=2**63 - 2, max_value=2**70),
    st.integers(min_value=-(2**70), max_value=-(2**63) + 2), st.floats(allow_nan=False, allow_infinity=False),
    _TEXT,
)
JSON = st.recursive(_SCALARS, lambda inner: st.lists(inner, max_size=3)
                    | st.dictionaries(st.sampled_from(["Job", "ID", "TaskGroups", "Tasks", "Name", "Count",
                                                       "Config", "Meta", "Datacenters", "Priority", "Type",
                                                       "JobID", "JobVersion", "Stable", "Payload", "Prefix",
                                                       "Context", "Diff", "EnforceIndex", "Resources"]) | _TEXT,
                                      inner, max_size=4),
                    max_leaves=12)


def _mutate(value: Any, draw: Any, depth: int = 0) -> Any:
    """Replace, drop or add one thing somewhere inside a JSON value."""
    if isinstance(value, dict) and value and depth < 6 and draw(st.integers(0, 3)) > 0:
        key = draw(st.sampled_from(sorted(value)))
        out = dict(value)
        out[key] = _mutate(value[key], draw, depth + 1)
        return out
    if isinstance(value, list) and value and depth < 6 and draw(st.integers(0, 3)) > 0:
        i = draw(st.integers(0, len(value) - 1))
        out = list(value)
        out[i] = _mutate(value[i], draw, depth + 1)
        return out
    action = draw(st.sampled_from(["replace", "replace", "drop", "add"]))
    if action == "drop" and isinstance(value, dict) and value:
        out = dict(value)
        del out[draw(st.sampled_from(sorted(value)))]
        return out
    if action == "add" and isinstance(value, dict):
        return {**value, draw(_TEXT): draw(JSON)}
    return draw(JSON)


@st.composite
def _valid_request_bodies(draw: Any) -> Any:
    job = codec.to_wire(draw(jobs(job_id=st.sampled_from(KNOWN_IDS + ("fresh",)))))
    return draw(st.sampled_from([
        {"Job": job},
        {"Job": job, "Diff": True},
        {"Job": job, "EnforceIndex": True, "JobModifyIndex": 0},
        {"JobID": draw(st.sampled_from(KNOWN_IDS)), "JobVersion": draw(st.integers(0, 3)), "Stable": True},
        {"JobID": "param", "Payload": "aGVsbG8=", "Meta": {"k": "v"}},
        {"Prefix": "w", "Context": draw(st.sampled_from(["jobs", "evals", "allocs", "nodes", "deployment", "all"]))},
        {"DeploymentID": "x", "Pause": True, "All": True},
    ]))


@st.composite
def bodies(draw: Any) -> Optional[bytes]:
    kind = draw(st.sampled_from(["none", "json", "valid", "mutated", "mutated", "bytes", "numbers", "text",
                                 "repeats", "hostile"]))
    if kind == "none":
        return None
    if kind == "json":
        return json.dumps(draw(JSON)).encode()
    if kind == "valid":
        return json.dumps(draw(_valid_request_bodies())).encode()
    if kind == "mutated":
        return json.dumps(_mutate(draw(_valid_request_bodies()), draw)).encode()
    if kind == "bytes":
        return draw(st.binary(max_size=64) | st.just(b"\xff\xfe{\"Job\": 1}") | st.just(b'{"Job": "\xc3\x28"}'))
    if kind == "numbers":
        number = draw(st.sampled_from(["1e400", "-1e400", "18446744073709551616", "9223372036854775808",
                                       "-9223372036854775809", "1.5", "0x10", "NaN", "Infinity", "00", "-0"]))
        field = draw(st.sampled_from(["Priority", "Count", "JobModifyIndex", "JobVersion", "CPU"]))
        if field in ("Count", "CPU"):
            return ('{"Job":{"ID":"web","Datacenters":["dc1"],"TaskGroups":[{"Name":"g","Count":%s,"Tasks":'
                    '[{"Name":"t","Driver":"exec","Config":{"command":"x"},"Resources":{"CPU":%s}}]}]}}'
                    % (number if field == "Count" else "1", number if field == "CPU" else "100")).encode()
        if field == "Priority":
            return ('{"Job":{"ID":"web","Datacenters":["dc1"],"Priority":%s}}' % number).encode()
        return ('{"JobID":"web","%s":%s}' % (field, number)).encode()
    if kind == "repeats":
        return _with_repeats(draw(_valid_request_bodies()), draw)
    if kind == "hostile":
        # What no job needs: huge counts, missing namespaces, deep nesting.
        job = codec.to_wire(draw(jobs(job_id=st.sampled_from(KNOWN_IDS))))
        what = draw(st.sampled_from(["count", "namespace", "deep"]))
        if what == "count":
            job["TaskGroups"][0]["Count"] = draw(st.sampled_from([2**31, 2**31 - 1, 10**6, 100_001]))
        elif what == "namespace":
            job["Namespace"] = draw(st.sampled_from(["nope", "", "Default"]))
        else:
            depth = draw(st.sampled_from([129, 300, 1025, 5000]))
            return json.dumps({"Job": job, "Diff": True}).replace('"Job": {', '"Job": {"Meta": ' + "[" * depth
                                                                   + "]" * depth + ", ", 1).encode()
        return json.dumps({"Job": job, "Diff": draw(st.booleans())}).encode()
    return draw(st.sampled_from([b"", b"{", b"[]", b"null", b"{}", b'{"Job":null}', b'"string"', b"{}{}",
                                 b"\x00", b'{"Job":{}}', b'{"Job":{"ID":""}}', b" " * 3, b"not json",
                                 b'{"Job": {}} trailing', b'{"Job": {"ID": "\\ud800"}}', b"\xef\xbb\xbf{}",
                                 b'{"Job": {"ID": "web", "ID": null}}', b'{"JobID": "web", "jobid": 1}', b"\x7f",
                                 b'{"Job": {"TaskGroups": [{"Name": "a"}, 5]}}', b'{"Payload": [104, 256]}']))


def _with_repeats(value: Any, draw: Any) -> bytes:
    """JSON text of ``value`` in which some keys come twice, the second time maybe
    spelled otherwise and with null, another value or a mutated one."""
    if isinstance(value, dict):
        parts = []
        for key, item in value.items():
            parts.append(json.dumps(key).encode() + b":" + _with_repeats(item, draw))
            if draw(st.integers(0, 9)) == 0:
                again = draw(st.sampled_from([key, key.lower(), key.swapcase()]))
                repeat = draw(st.sampled_from(["null", "same", "other"]))
                other = None if repeat == "null" else item if repeat == "same" else _mutate(item, draw)
                parts.append(json.dumps(again).encode() + b":" + _with_repeats(other, draw))
        return b"{" + b",".join(parts) + b"}"
    if isinstance(value, list):
        return b"[" + b",".join(_with_repeats(v, draw) for v in value) + b"]"
    return json.dumps(value).encode()


@st.composite
def paths(draw: Any) -> str:
    route = draw(st.sampled_from(ROUTES))
    path = route.replace("{}", draw(_IDS)) if "{}" in route else route
    tweak = draw(st.sampled_from(["", "", "", "slash", "double", "dot", "escape", "suffix"]))
    if tweak == "slash":
        path += "/"
    elif tweak == "double":
        path = path.replace("/v1/", "/v1//", 1)
    elif tweak == "dot":
        path += "/./x/.."
    elif tweak == "escape":
        path = quote(path, safe="/") if draw(st.booleans()) else path + "%2F%00"
    elif tweak == "suffix":
        path += draw(st.sampled_from(["/summary/extra", "/plan/", "/versions?x", "/evaluate/evaluate"]))
    return path


_QUERY_VALUES = st.one_of(st.sampled_from(["", "0", "1", "true", "false", "yes", "-1", "18446744073709551616",
                                           "1s", "1ms", "5m", "abc", "default", "global", "other", "web",
                                           # Unicode digits, and numbers Go's parsers overflow on
                                           "\u00b2", "\u0663", "9" * 5000, "+1", "0x10", "9" * 400 + "s",
                                           "9223372036854775808ns", "1\u00b5s", "1e3s", ".s"]),
                          _TEXT)


@st.composite
def queries(draw: Any) -> str:
    params = draw(st.dictionaries(st.sampled_from(["index", "wait", "prefix", "namespace", "region", "stale",
                                                   "pretty", "purge", "all", "diffs", "junk"]),
                                  _QUERY_VALUES, max_size=4))
    if "index" in params:
        # A numeric index makes reads block until the wait runs out; keep that short.
        params["wait"] = draw(st.sampled_from(["1ms", "3ms"]))
    text = urlencode(params)
    if draw(st.integers(0, 7)) == 0:
        text += draw(st.sampled_from(["&%zz", "&pretty", "&=x", "&index", ";x=1", "&wait=1ms&wait=2ms"]))
    return text


HEADERS = st.fixed_dictionaries({}, optional={
    "X-Nomad-Token": st.sampled_from(["", "bogus", "00000000-0000-0000-0000-000000000000"]),
    "Accept-Encoding": st.sampled_from(["gzip", "deflate", "br", "gzip;q=0"]),
    "Content-Type": st.sampled_from(["application/json", "text/plain", "application/x-www-form-urlencoded"]),
})


# --- the app under test ---------------------------------------------------------------------------

class _Errors(logging.Handler):
    """Collects what the shim logs when it catches an unexpected exception."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def _seed_cluster() -> Cluster:
    cluster = Cluster(seed=21)
    web = codec.from_wire({"ID": "web", "Datacenters": ["dc1"], "TaskGroups": [{"Name": "g", "Count": 2, "Tasks": [{
        "Name": "t", "Driver": "exec", "Config": {"command": "/bin/sleep"},
        "Resources": {"CPU": 100, "MemoryMB": 32}}]}],
        "Update": {"MaxParallel": 1, "MinHealthyTime": 1_000_000_000, "HealthyDeadline": 60_000_000_000}}, s.Job)
    param = codec.from_wire({"ID": "param", "Type": "batch", "Datacenters": ["dc1"],
                             "ParameterizedJob": {"Payload": "optional", "MetaOptional": ["k"]},
                             "TaskGroups": [{"Name": "g", "Tasks": [{"Name": "t", "Driver": "exec",
                                                                     "Config": {"command": "/bin/true"}}]}]}, s.Job)
    cron = codec.from_wire({"ID": "cron", "Type": "batch", "Datacenters": ["dc1"],
                            "Periodic": {"Spec": "*/5 * * * *"},
                            "TaskGroups": [{"Name": "g", "Tasks": [{"Name": "t", "Driver": "exec",
                                                                    "Config": {"command": "/bin/true"}}]}]}, s.Job)
    for job in (web, param, cron):
        cluster.jobs.register_job(s.JobRegisterRequest(Job=job))
    cluster.advance(0.2)
    return cluster


@pytest.fixture(scope="module")
def served() -> Any:
    cluster = _seed_cluster()
    handler = _Errors()
    logger = logging.getLogger("nomadjobs.shim")
    logger.addHandler(handler)
    client = falcon.testing.TestClient(create_app(cluster))
    # The test client reads an answer to its end: streams stop after what is there.
    cluster.client.close()
    yield cluster, client, handler
    logger.removeHandler(handler)
    cluster.close()


def _state(cluster: Cluster) -> Any:
    snap = cluster.snapshot()
    return snap.latest_index(), codec.to_wire(sorted(snap.jobs(), key=lambda j: j.ID))


def _check(served: Any, method: str, path: str, query: str, body: Optional[bytes], headers: dict) -> None:
    cluster, client, errors = served
    before = _state(cluster)
    try:
        result = client.simulate_request(method, path, query_string=query or None, body=body, headers=headers)
    except (ValueError, UnicodeError):
        # The test client refuses to build a few of these requests (e.g. a path
        # falcon.testing cannot encode); nothing reached the app.
        assert _state(cluster) == before
        return
    assert not errors.records, [r.getMessage() for r in errors.records]
    status = result.status_code
    allowed = NOMAD_STATUSES | {REDIRECT}
    assert status in allowed, (status, method, path, query, result.text)
    text = result.content.decode("utf-8", "replace")
    if result.headers.get("content-encoding") is None:
        for leak in LEAKS:
            assert leak not in text, (leak, status, method, path, text[:500])
        assert not (status == 500 and text == "Internal Server Error"), (method, path, body)
    if status != 200 or method in ("GET", "HEAD"):
        assert _state(cluster) == before, (status, method, path, query, text[:300])


@FUZZ
@given(method=METHODS, path=paths(), query=queries(), body=bodies(), headers=HEADERS)
def test_fuzzed_requests_get_nomad_answers(served: Any, method: str, path: str, query: str,
                                           body: Optional[bytes], headers: dict) -> None:
    _check(served, method, path, query, body, headers)


@FUZZ
@given(route=st.sampled_from([r for r in ROUTES if "{}" not in r or r.startswith("/v1/job/")]),
       job_id=st.sampled_from(KNOWN_IDS), method=st.sampled_from(["PUT", "POST"]), body=bodies())
def test_fuzzed_bodies_on_write_routes(served: Any, route: str, job_id: str, method: str,
                                       body: Optional[bytes]) -> None:
    _check(served, method, route.replace("{}", job_id), "", body, {})


@settings(max_examples=max(20, EXAMPLES // 5), deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(job=jobs() | periodic_jobs() | parameterized_jobs())
def test_valid_jobs_register_over_http(served: Any, job: s.Job) -> None:
    cluster, client, _ = served
    before = cluster.snapshot().job_by_id("default", job.ID)
    result = client.simulate_put("/v1/jobs", body=json.dumps({"Job": codec.to_wire(job)}))
    if before is not None and (before.Type != (job.Type or "service") or before.is_periodic() != job.is_periodic()
                               or before.is_parameterized() != job.is_parameterized()):
        assert result.status_code == 500 and "cannot update" in result.text
    else:
        assert result.status_code == 200, result.text
        assert result.json["JobModifyIndex"] == cluster.snapshot().job_by_id("default", job.ID).JobModifyIndex


# Nomad decodes a body with Go's json.Decoder (Go 1.9): its answers, over HTTP.
_TASK = {"Name": "t", "Driver": "exec", "Config": {"command": "/bin/true"}}


@pytest.mark.parametrize("body,status,text", [
    (b"not json", 400, "invalid character 'o' in literal null (expecting 'u')"),
    (b"\x00", 400, "invalid character '\\x00' looking for beginning of value"),
    (b'{"Job": {}} trailing', 400, "Job ID hasn't been provided"),  # only the first value is read
    (b'{"Job": {"ID": "\\ud800", "Datacenters": ["dc1"]}}', 500,
     "1 error(s) occurred:\n\n* Missing job task groups"),  # a lone surrogate is U+FFFD, not an error
    (json.dumps({"Job": {"ID": "fresh", "Datacenters": ["dc1"], "TaskGroups": [{"Name": "g", "Tasks": [
        {**_TASK, "KillTimeout": {"a": 1}}]}]}}).encode(), 400,
     "json: cannot unmarshal object into Go struct field Task.KillTimeout of type time.Duration"),
    (json.dumps({"Job": {"ID": "fresh", "Datacenters": ["dc1"], "TaskGroups": [{"Name": "g", "Tasks": [_TASK]}],
                         "taskgroups": None}}).encode(), 500,
     "1 error(s) occurred:\n\n* Missing job task groups"),  # the later key wins
])
def test_bodies_are_decoded_as_go_decodes_them(served: Any, body: bytes, status: int, text: str) -> None:
    cluster, client, errors = served
    before = _state(cluster)
    result = client.simulate_put("/v1/jobs", body=body)
    assert (result.status_code, result.text) == (status, text)
    assert _state(cluster) == before and not errors.records


def test_app_keeps_answering_afterwards(served: Any) -> None:
    cluster, client, errors = served
    result = client.simulate_get("/v1/jobs")
    assert result.status_code == 200
    assert {stub["ID"] for stub in result.json} >= set(KNOWN_IDS)
    assert result.headers["x-nomad-index"] == str(cluster.snapshot().table_index("jobs"))
    assert not errors.records
