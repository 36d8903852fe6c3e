"""The app's PUT/POST path (no Falcon Request/Response) must answer byte for byte as the
Falcon path does, and leave the same state behind.

Two clusters with the same seed receive the same requests, one through ``app`` (the
fast path where it applies) and one through ``app._falcon_call``; every answer and the
final state must be identical."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Optional

import pytest

from nomadjobs.cluster import Cluster
from shim import app as shim_app
from shim import create_app
from test_shim_fastpath import Answer, answer
from test_shim_fastpath import environ as base_environ

GOLDEN = Path(__file__).parent / "golden" / "nomad-0.7.1"


def environ(method: str, path: str, body: Optional[bytes], query: str = "",
            headers: Optional[dict[str, str]] = None, length: Optional[str] = None,
            chunked: bool = False) -> dict[str, Any]:
    """``length`` overrides the Content-Length (None: the body's); ``chunked``: none at
    all, the server having de-chunked the body."""
    env = base_environ(path, query, method, headers, body or b"")
    env.pop("CONTENT_LENGTH", None)
    if chunked:
        env["wsgi.input_terminated"] = True
    elif length is not None:
        env["CONTENT_LENGTH"] = length
    elif body is not None:
        env["CONTENT_LENGTH"] = str(len(body))
    if body is not None:
        env["CONTENT_TYPE"] = "application/json"
    return env


class Twin:
    """Two clusters, same seed: ``fast`` served by the app, ``slow`` through Falcon."""

    def __init__(self, **cluster_args: Any) -> None:
        self.fast_cluster = Cluster(clock="virtual", seed=7, **cluster_args)
        self.slow_cluster = Cluster(clock="virtual", seed=7, **cluster_args)
        self.fast = create_app(self.fast_cluster)
        self.slow = create_app(self.slow_cluster)
        self.fast_token = self.slow_token = ""
        if cluster_args.get("acl"):
            self.fast_token = self.fast_cluster.bootstrap_token.SecretID
            self.slow_token = self.slow_cluster.bootstrap_token.SecretID

    def same(self, method: str, path: str, body: Any = None, query: str = "",
             headers: Optional[dict[str, str]] = None, **env_args: Any) -> Answer:
        raw = body if body is None or isinstance(body, bytes) else json.dumps(body).encode()
        fast_headers, slow_headers = dict(headers or {}), dict(headers or {})
        if fast_headers.get("X-Nomad-Token") == "<mgmt>":
            fast_headers["X-Nomad-Token"] = self.fast_token
            slow_headers["X-Nomad-Token"] = self.slow_token
        got = answer(self.fast, environ(method, path, raw, query, fast_headers, **env_args))
        expected = answer(self.slow._falcon_call, environ(method, path, raw, query, slow_headers, **env_args))
        assert got == expected, (method, path, query, headers, env_args, body)
        return got

    def close(self) -> None:
        self.fast_cluster.close()
        self.slow_cluster.close()


@pytest.fixture
def twin() -> Any:
    t = Twin()
    yield t
    t.close()


def state_of(t: Twin) -> None:
    """Both clusters read the same, through the same (GET) path."""
    for path in ("/v1/jobs", "/v1/evaluations", "/v1/allocations", "/v1/deployments", "/v1/nodes"):
        env = environ("GET", path, None)
        assert answer(t.fast, env) == answer(t.slow, environ("GET", path, None)), path


def test_writes_answer_as_the_falcon_path_does(twin: Twin, jobspec: Any) -> None:
    t = twin
    web = {"Job": jobspec.service("web")}
    assert t.same("POST", "/v1/jobs", web)[0] == "200 OK"
    assert t.same("PUT", "/v1/jobs", {"Job": jobspec.service("web-2")})[0] == "200 OK"
    t.same("PUT", "/v1/jobs", web)  # unchanged spec: same job modify index, new eval
    t.same("POST", "/v1/job/web", {"Job": jobspec.service("web", Priority=70)})
    t.same("POST", "/v1/job/other", web)  # ID mismatch
    t.same("POST", "/v1/job/", web)
    t.same("PUT", "/v1/jobs", {"Job": jobspec.param_batch()})
    t.same("PUT", "/v1/jobs", {"Job": jobspec.periodic_batch()})
    t.same("POST", "/v1/jobs", {"Job": jobspec.service("web-3")}, query="pretty")
    t.same("POST", "/v1/jobs", {"Job": jobspec.service("web-4")}, headers={"Accept-Encoding": "gzip"})
    t.same("POST", "/v1/jobs", {"Job": jobspec.service("web-5")}, headers={"Accept-Encoding": "deflate"})
    t.same("POST", "/v1/jobs", {"Job": jobspec.service("web-6")}, query="region=elsewhere")
    t.same("POST", "/v1/jobs", {"Job": jobspec.service("web-6")}, query="namespace=other")
    t.same("POST", "/v1/jobs", {"Job": jobspec.service("web-6", Namespace="other")})
    t.same("POST", "/v1/jobs", {"Job": jobspec.service("web-7"), "EnforceIndex": True, "JobModifyIndex": 3})
    t.same("POST", "/v1/jobs", {"Job": jobspec.service("web-7"), "EnforceIndex": True})
    # Refusals: bodies Go would not decode, invalid jobs.
    for body in (b"", b"   ", b"{", b"null", b"[]", b'{"Job": 3}', b'{"Job": {"ID": 5}}',
                 b'{"Job": {"ID": "x", "TaskGroups": [{"Count": "1"}]}}', b'{"Job": {"ID": "x"}}',
                 b'{"job": {"id": "lower", "name": "lower", "datacenters": ["dc1"], "taskgroups": []}}',
                 b'{"Job": {"ID": "x"}} trailing', "{\"Job\": {\"ID\": \"caf\u00e9\"}}".encode()):
        t.same("POST", "/v1/jobs", body)
        t.same("PUT", "/v1/job/x", body)
    # Other write endpoints.
    t.same("POST", "/v1/job/web/plan", {"Job": jobspec.service("web", Priority=60), "Diff": True})
    t.same("POST", "/v1/job/web/evaluate", None)
    t.same("POST", "/v1/job/param-batch/dispatch", {"Meta": {"who": "me"}, "Payload": "aGk="})
    t.same("POST", "/v1/job/param-batch/dispatch", {"Meta": {}})
    t.same("POST", "/v1/job/periodic-batch/periodic/force", None)
    t.same("POST", "/v1/job/web/revert", {"JobID": "web", "JobVersion": 0})
    t.same("POST", "/v1/job/web/stable", {"JobID": "web", "JobVersion": 0, "Stable": True})
    t.same("POST", "/v1/validate/job", {"Job": jobspec.service("v")})
    t.same("PUT", "/v1/validate/job", {"Job": {"ID": "v"}})
    t.same("POST", "/v1/search", {"Prefix": "web", "Context": "jobs"})
    t.same("POST", "/v1/deployment/fail/nope", None)
    t.same("POST", "/v1/deployment/pause/nope", {"Pause": True})
    t.same("POST", "/v1/deployment/promote/nope", {"All": True})
    t.same("POST", "/v1/deployment/allocation-health/nope", {"HealthyAllocationIDs": ["a"]})
    t.same("POST", "/v1/job/web/summary", None)  # reads answer any verb
    t.same("PUT", "/v1/job/web/versions", None, query="diffs=true")
    t.same("POST", "/v1/status/leader", None)
    t.same("POST", "/v1/agent/self", None)
    # Not allowed, unknown, redirected, admin: Falcon's answers either way.
    t.same("POST", "/v1/nodes", None)
    t.same("PUT", "/v1/evaluations", b"{}")
    t.same("POST", "/v1/nowhere", b"{}")
    t.same("POST", "/v1/job//web", web)
    t.same("POST", "/v1/job/./web", web)
    t.same("POST", "/v1/job", web)
    t.same("POST", "/v1/job/caf\xc3\xa9", {"Job": jobspec.service("caf\u00e9")})
    t.same("POST", "/", web)
    t.same("DELETE", "/v1/job/web-2", None)
    t.same("DELETE", "/v1/job/web-3", None, query="purge=true")
    state_of(t)


def test_body_framing_is_read_as_falcon_reads_it(twin: Twin, jobspec: Any) -> None:
    t = twin
    body = json.dumps({"Job": jobspec.service("framed")}).encode()
    t.same("POST", "/v1/jobs", body, chunked=True)  # de-chunked: read to its end
    t.same("POST", "/v1/jobs", body, length="")  # empty: as if absent
    n = 0
    for length in ("0", str(len(body) - 5), str(len(body) + 10), "+%d" % len(body), " %d" % len(body),
                   "1_0", "-1", "abc", "\u0661\u0662", "00%d" % len(body)):
        n += 1
        doc = json.dumps({"Job": jobspec.service(f"framed-{n}")}).encode()
        if length.startswith("00"):
            length = "00%d" % len(doc)
        t.same("POST", "/v1/jobs", doc, length=length)
    t.same("POST", "/v1/jobs", None)  # no body, no length
    state_of(t)


def test_acl_writes_answer_as_the_falcon_path_does(jobspec: Any) -> None:
    t = Twin(acl=True)
    try:
        for token in ("", "not-a-token", "<mgmt>"):
            headers = {"X-Nomad-Token": token} if token else None
            t.same("POST", "/v1/jobs", {"Job": jobspec.service("acl-" + str(len(token)))}, headers=headers)
            t.same("POST", "/v1/job/web/evaluate", None, headers=headers)
        t.same("POST", "/v1/jobs", {"Job": jobspec.service("secret"), "SecretID": "nope"})
        state_of(t)
    finally:
        t.close()


def test_golden_writes_answer_as_the_falcon_path_does(twin: Twin) -> None:
    writes = 0
    for path in sorted(GOLDEN.glob("*.json")):
        req = json.loads(path.read_text()).get("request", {})
        if req.get("method") not in ("PUT", "POST", "DELETE"):
            continue
        body = req.get("body")
        raw = None if body is None else (body.encode() if isinstance(body, str) else json.dumps(body).encode())
        target = req.get("path", "/")
        path_only, _, query = target.partition("?")
        twin.same(req["method"], path_only, raw, query=query, headers=req.get("headers"))
        writes += 1
    assert writes >= 20
    state_of(twin)


def test_plain_content_lengths_only() -> None:
    plain = shim_app._plain_length
    assert plain(None) and plain("") and plain("0") and plain("123") and plain("007")
    for value in ("+1", " 1", "1 ", "1_0", "-1", "abc", "\u0661", "1.0"):
        assert not plain(value), value


def test_writes_skip_falcon(twin: Twin, jobspec: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    real = type(twin.fast)._falcon_call

    def spy(self: Any, env: dict, start_response: Callable) -> Any:
        calls.append(env["REQUEST_METHOD"] + " " + env["PATH_INFO"])
        return real(self, env, start_response)

    monkeypatch.setattr(type(twin.fast), "_falcon_call", spy)
    body = json.dumps({"Job": jobspec.service("quick")}).encode()
    assert answer(twin.fast, environ("POST", "/v1/jobs", body))[0] == "200 OK"
    assert answer(twin.fast, environ("PUT", "/v1/job/quick", body))[0] == "200 OK"
    assert calls == []
    answer(twin.fast, environ("POST", "/v1/jobs", body, length="+%d" % len(body)))
    answer(twin.fast, environ("DELETE", "/v1/job/quick", None))
    assert calls == ["POST /v1/jobs", "DELETE /v1/job/quick"]
