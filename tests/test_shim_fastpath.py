"""The app's GET path (no Falcon Request/Response, rendered answers reused) must answer
byte for byte as the Falcon path does, and never serve an answer the state has moved past."""

from __future__ import annotations

import io
import json
import sys
import threading
from typing import Any, Optional

import orjson
import pytest

from nomadjobs import QueryOptions, codec, fsm
from nomadjobs import structs as s
from nomadjobs.cluster import Cluster
from shim import create_app

Answer = tuple[str, list[tuple[str, str]], bytes]


def environ(path: str, query: str = "", method: str = "GET", headers: Optional[dict[str, str]] = None,
            body: bytes = b"") -> dict[str, Any]:
    env: dict[str, Any] = {
        "REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": query, "SCRIPT_NAME": "",
        "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "4646", "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(body), "wsgi.errors": sys.stderr,
        "wsgi.version": (1, 0), "wsgi.multithread": True, "wsgi.multiprocess": False, "wsgi.run_once": False,
        "REMOTE_ADDR": "127.0.0.1", "HTTP_HOST": "127.0.0.1:4646",
    }
    if body:
        env["CONTENT_LENGTH"] = str(len(body))
    for name, value in (headers or {}).items():
        env["HTTP_" + name.upper().replace("-", "_")] = value
    return env


def answer(wsgi: Any, env: dict[str, Any]) -> Answer:
    out: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
        out["status"], out["headers"] = status, headers

    body = b"".join(wsgi(dict(env), start_response))
    return out["status"], list(out["headers"]), body


class Served:
    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.app = create_app(cluster)

    def get(self, path: str, query: str = "", **headers: str) -> Answer:
        return answer(self.app, environ(path, query, headers={k.replace("_", "-"): v for k, v in headers.items()}))

    def falcon(self, path: str, query: str = "", headers: Optional[dict[str, str]] = None) -> Answer:
        return answer(self.app._falcon_call, environ(path, query, headers=headers))

    def write(self, method: str, path: str, doc: Any, token: str = "") -> Answer:
        headers = {"X-Nomad-Token": token} if token else None
        return answer(self.app, environ(path, method=method, headers=headers, body=json.dumps(doc).encode()))


def header(ans: Answer, name: str) -> Optional[str]:
    return next((v for k, v in ans[1] if k == name), None)


@pytest.fixture
def served(jobspec: Any) -> Any:
    cluster = Cluster(clock="virtual", seed=4)
    srv = Served(cluster)
    for job in (jobspec.service("web"), jobspec.service("web-2"), jobspec.param_batch(),
                jobspec.periodic_batch()):
        assert srv.write("PUT", "/v1/jobs", {"Job": job})[0] == "200 OK"
    yield srv
    cluster.close()


PATHS = [
    "/v1/jobs", "/v1/job/web", "/v1/job/web/summary", "/v1/job/nope", "/v1/job/nope/summary", "/v1/job/",
    "/v1/job/web/versions", "/v1/job/web/allocations", "/v1/job/web/evaluations", "/v1/job/web/deployments",
    "/v1/job/web/deployment", "/v1/job/web/plan", "/v1/job/web/evaluate", "/v1/job/web/periodic/force",
    "/v1/job/param-batch/dispatch", "/v1/job/web/stable", "/v1/job/web/revert", "/v1/evaluations",
    "/v1/allocations", "/v1/deployments", "/v1/nodes", "/v1/search", "/v1/status/leader", "/v1/status/peers",
    "/v1/regions", "/v1/agent/self", "/v1/validate/job", "/v1/evaluation/x", "/v1/allocation/x", "/v1/node/x",
    "/v1/node/x/allocations", "/v1/deployment/x", "/v1/deployment/allocations/x", "/v1/deployment/fail/x",
    "/v1/job/caf\xc3\xa9",
]
QUERIES = ["", "prefix=we", "prefix=web&prefix=x", "pretty", "pretty=0", "pretty=1&prefix=web-", "index=abc",
           "wait=soon", "region=elsewhere", "namespace=other", "all=true", "diffs=maybe", "diffs=true",
           "index=1&wait=1ms", "stale", "pr%65tty", "x=%70retty&%70retty=1"]
HEADERS: list[dict[str, str]] = [{}, {"Accept-Encoding": "gzip"}, {"Accept-Encoding": "deflate, gzip"},
                                 {"Accept-Encoding": "br"}, {"X-Nomad-Token": "not-a-token"}]


def test_gets_answer_as_the_falcon_path_does(served: Served) -> None:
    for path in PATHS:
        for query in QUERIES:
            for headers in HEADERS:
                env = environ(path, query, headers=headers)
                expected = answer(served.app._falcon_call, env)
                assert answer(served.app, env) == expected, (path, query, headers)
                assert answer(served.app, env) == expected, (path, query, headers)  # rendered once, reused


def test_gets_with_acls_answer_as_the_falcon_path_does(jobspec: Any) -> None:
    cluster = Cluster(clock="virtual", acl=True, seed=5)
    srv = Served(cluster)
    mgmt = cluster.bootstrap_token.SecretID
    assert srv.write("PUT", "/v1/jobs", {"Job": jobspec.service("web")}, token=mgmt)[0] == "200 OK"
    cluster.apply(fsm.ACLPolicyUpsert([s.ACLPolicy(Name="reader", Rules='namespace "default" { policy = "read" }')]))
    reader = s.ACLToken(AccessorID=cluster.new_id(), SecretID=cluster.new_id(), Name="r",
                        Type=s.ACL_CLIENT_TOKEN, Policies=["reader"])
    cluster.apply(fsm.ACLTokenUpsert([reader]))
    for token in ("", mgmt, reader.SecretID, "unknown"):
        for path in ("/v1/jobs", "/v1/job/web", "/v1/job/web/summary", "/v1/nodes", "/v1/agent/self"):
            headers = {"X-Nomad-Token": token} if token else {}
            for query in ("", "prefix=w", "namespace=other"):
                env = environ(path, query, headers=headers)
                expected = answer(srv.app._falcon_call, env)
                assert answer(srv.app, env) == expected, (token, path, query)
                assert answer(srv.app, env) == expected, (token, path, query)
    # A token deleted after its answers were rendered reads nothing any more.
    assert srv.get("/v1/job/web", X_Nomad_Token=reader.SecretID)[0] == "200 OK"
    cluster.apply(fsm.ACLTokenDelete([reader.AccessorID]))
    denied = srv.get("/v1/job/web", X_Nomad_Token=reader.SecretID)
    assert denied[0] == "403 Forbidden" and denied[2] == b"ACL token not found"
    cluster.close()


def test_a_changed_job_is_never_answered_from_before(served: Served, jobspec: Any) -> None:
    before = served.get("/v1/job/web")
    before_gz = served.get("/v1/job/web", Accept_Encoding="gzip")
    served.write("PUT", "/v1/jobs", {"Job": jobspec.service("web", Priority=70)})
    after = served.get("/v1/job/web")
    assert json.loads(after[2])["Priority"] == 70 and json.loads(before[2])["Priority"] == 50
    assert int(header(after, "X-Nomad-Index")) > int(header(before, "X-Nomad-Index"))
    assert after == served.falcon("/v1/job/web")
    assert served.get("/v1/job/web", Accept_Encoding="gzip") != before_gz
    assert served.get("/v1/job/web", Accept_Encoding="gzip") == served.falcon(
        "/v1/job/web", headers={"Accept-Encoding": "gzip"})


def test_summaries_and_lists_follow_the_state(served: Served, jobspec: Any) -> None:
    summary = served.get("/v1/job/web/summary")
    listed = served.get("/v1/jobs", "prefix=web")
    everything = served.get("/v1/jobs")
    # The allocations start: the summary (and the stubs embedding it) change.
    served.cluster.advance(30)
    assert served.get("/v1/job/web/summary") == served.falcon("/v1/job/web/summary") != summary
    assert served.get("/v1/jobs", "prefix=web") == served.falcon("/v1/jobs", "prefix=web") != listed
    # A new job joins the lists it matches, and only those.
    listed = served.get("/v1/jobs", "prefix=web")
    served.write("PUT", "/v1/jobs", {"Job": jobspec.service("web-3")})
    now = served.get("/v1/jobs", "prefix=web")
    assert [j["ID"] for j in json.loads(now[2])] == ["web", "web-2", "web-3"]
    assert now == served.falcon("/v1/jobs", "prefix=web") and now != listed
    assert served.get("/v1/jobs", "prefix=param") == served.falcon("/v1/jobs", "prefix=param")
    assert served.get("/v1/jobs") == served.falcon("/v1/jobs") != everything


def test_an_unrelated_write_keeps_the_job_index(served: Served, jobspec: Any) -> None:
    before = served.get("/v1/job/web")
    served.write("PUT", "/v1/jobs", {"Job": jobspec.service("other")})
    after = served.get("/v1/job/web")
    assert after == before == served.falcon("/v1/job/web")


def test_a_blocking_get_is_answered_with_the_new_job(served: Served, jobspec: Any) -> None:
    index = header(served.get("/v1/job/web"), "X-Nomad-Index")
    got: list[Answer] = []
    waiter = threading.Thread(target=lambda: got.append(served.get("/v1/job/web", f"index={index}&wait=10s")))
    waiter.start()
    served.write("PUT", "/v1/jobs", {"Job": jobspec.service("web", Priority=80)})
    waiter.join(10)
    assert got and json.loads(got[0][2])["Priority"] == 80
    assert got[0] == served.falcon("/v1/job/web")


def test_refused_queries_are_refused_every_time(served: Served) -> None:
    for _ in range(2):
        assert served.get("/v1/job/web", "index=abc")[:3:2] == ("400 Bad Request", b"Invalid index")
        assert served.get("/v1/job/web", "wait=soon")[:3:2] == ("400 Bad Request", b"Invalid wait time")


def test_list_bytes_are_the_elements_bytes(served: Served) -> None:
    stubs, _ = served.cluster.jobs.list_jobs(QueryOptions())
    expected = orjson.dumps(codec.to_wire(stubs))
    assert codec.dumps(stubs) == expected
    assert codec.dumps(list(stubs)) is codec.dumps(stubs)  # same elements: the same cached bytes
    assert codec.dumps(stubs[:-1]) == orjson.dumps(codec.to_wire(stubs[:-1]))
    assert codec.dumps(stubs[::-1]) == orjson.dumps(codec.to_wire(stubs[::-1]))
    mixed = [stubs[0], s.JobSummary(JobID="x", Namespace="default")]
    assert codec.dumps(mixed) == orjson.dumps(codec.to_wire(mixed))
    assert codec.cached_dumps([]) is None and codec.cached_dumps(mixed) is None


def test_rendered_reads_stay_within_their_bounds() -> None:
    from shim.app import _RenderedReads

    cache = _RenderedReads(max_entries=3, max_bytes=100, max_body=40)
    bodies = [bytes([65 + i]) * 30 for i in range(5)]
    for i, body in enumerate(bodies):
        cache.put((i,), body, ("200 OK", (), body))
    assert [cache.get((i,), body) is not None for i, body in enumerate(bodies)] == [False, False, True, True, True]
    assert cache.get((4,), bytes(bytearray(bodies[4]))) is None  # equal, but not the same object
    big = b"x" * 41
    cache.put((9,), big, ("200 OK", (), big))
    assert cache.get((9,), big) is None
    gz = b"y" * 35
    cache.put((5,), bodies[0], ("200 OK", (), gz))  # body and its compressed form both count
    assert cache.get((5,), bodies[0]) is not None and cache.get((3,), bodies[3]) is None


def test_list_bytes_cache_stays_within_its_bounds(served: Served) -> None:
    stubs, _ = served.cluster.jobs.list_jobs(QueryOptions())
    cache = codec._ListBytesCache(max_entries=2, max_bytes=10_000)
    lists = [stubs[i:] for i in range(len(stubs))]
    for items in lists:
        cache.put(items, codec.dumps(items))
    assert [cache.get(items) is not None for items in lists] == [False] * (len(lists) - 2) + [True, True]
    assert cache.get(list(reversed(lists[-2]))) is None  # same elements, another order
