"""The real servers as subprocesses on a free loopback port, driven by python-nomad
and requests: gunicorn with shim/gunicorn.conf.py, and ``nomadjobs-server`` (granian
by default, gunicorn on request)."""

from __future__ import annotations

import base64
import json
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Iterator, Optional

import nomad
import nomad.api.exceptions as nomad_exc
import pytest
import requests

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
LOOPBACK = "127.0.0.1"
STARTUP_S = 60
PLAIN = "text/plain; charset=utf-8"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


class Server:
    """A server subprocess bound to 127.0.0.1:port; stopped with SIGTERM (then
    killed, by its own PID, if it does not go)."""

    def __init__(self, argv: list[str], port: int, extra_env: Optional[dict[str, str]] = None) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("NOMADJOBS_", "GRANIAN_"))}
        env["NOMADJOBS_BIND"] = f"{LOOPBACK}:{port}"
        env.update(extra_env or {})
        self.port = port
        self.argv = argv
        self.url = f"http://{LOOPBACK}:{port}"
        self.proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True)
        self._stderr: list[str] = []
        self._stdout: list[str] = []
        threading.Thread(target=self._drain, args=(self.proc.stderr, self._stderr), daemon=True).start()
        threading.Thread(target=self._drain, args=(self.proc.stdout, self._stdout), daemon=True).start()
        self._wait_ready()

    @staticmethod
    def _drain(stream: Any, sink: list[str]) -> None:
        for line in stream:
            sink.append(line)

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + STARTUP_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}: {self.output()}")
            try:
                if requests.get(self.url + "/v1/status/leader", timeout=2).status_code in (200, 403):
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"server did not start: {self.output()}")

    def output(self) -> str:
        return "".join(self._stdout) + "".join(self._stderr)

    @property
    def stdout_lines(self) -> list[str]:
        return [line.rstrip("\n") for line in self._stdout]

    def stop(self, timeout: float = 30) -> float:
        """SIGTERM; returns how long the server took to exit."""
        start = time.monotonic()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
                raise AssertionError(f"server ignored SIGTERM for {timeout}s: {self.output()}")
        return time.monotonic() - start


def launch(kind: str, port: int, *extra: str, clock: str = "wall") -> Server:
    env = {"NOMADJOBS_CLOCK": clock}
    if kind in ("granian", "server-gunicorn"):
        extra = (*extra, "--clock", clock)
    if kind == "gunicorn":
        argv = [str(BIN / "gunicorn"), "-c", "shim/gunicorn.conf.py", "shim.wsgi:app"]
    elif kind == "granian":
        argv = [str(BIN / "nomadjobs-server"), "--bind", f"{LOOPBACK}:{port}", *extra]
    elif kind == "server-gunicorn":
        argv = [str(BIN / "nomadjobs-server"), "--server", "gunicorn", "--bind", f"{LOOPBACK}:{port}", *extra]
    elif kind == "granian-cli":
        argv = [str(BIN / "granian"), "--interface", "wsgi", "--blocking-threads", "64", "--host", LOOPBACK,
                "--port", str(port), "--no-ws", "shim.wsgi:app"]
    else:
        raise ValueError(kind)
    return Server(argv, port, env)


@pytest.fixture(scope="module", params=["gunicorn", "granian"])
def server(request) -> Iterator[Server]:
    srv = launch(request.param, free_port())
    yield srv
    srv.stop()


@pytest.fixture
def api(server) -> nomad.Nomad:
    return nomad.Nomad(host=LOOPBACK, port=server.port, timeout=10)


def _service(jobspec, job_id: str, **kw: Any) -> dict:
    return jobspec.service(job_id, **kw)


# --- jobs lifecycle through python-nomad ---------------------------------------------------------

def test_register_read_list_update(api, jobspec):
    out = api.job.register_job("web", {"Job": _service(jobspec, "web")})
    assert out["EvalID"] and out["Index"] == out["EvalCreateIndex"]
    job = api.job.get_job("web")
    assert job["ID"] == "web" and job["Version"] == 0
    assert [j["ID"] for j in api.jobs.get_jobs(prefix="we")] == ["web"]
    assert api.jobs.get_jobs(prefix="zzz-none") == []
    api.job.register_job("web", {"Job": _service(jobspec, "web", Priority=70)})
    assert api.job.get_job("web")["Version"] == 1
    versions = api.job.get_versions("web")
    assert [v["Version"] for v in versions["Versions"]] == [1, 0]


def test_versions_stable_revert_plan(api, jobspec):
    api.job.register_job("rev", {"Job": _service(jobspec, "rev")})
    api.job.register_job("rev", {"Job": _service(jobspec, "rev", Priority=60)})
    assert api.job.stable_job("rev", 1, True)["Index"] > 0
    assert api.job.get_job("rev")["Stable"] is True
    out = api.job.revert_job("rev", 0, enforce_prior_version=1)
    assert out["EvalID"] and out["KnownLeader"] is False
    assert api.job.get_job("rev")["Version"] == 2
    with pytest.raises(nomad_exc.BaseNomadException) as err:
        api.job.revert_job("rev", 42)
    assert err.value.nomad_resp.status_code == 500
    assert err.value.nomad_resp.text == 'job "rev" in namespace "default" at version 42 not found'
    plan = api.job.plan_job("rev", {"Job": _service(jobspec, "rev", Priority=99)}, diff=True)
    assert plan["JobModifyIndex"] == api.job.get_job("rev")["JobModifyIndex"]
    assert plan["Diff"]["Type"] == "Edited"
    assert "cache" in plan["Annotations"]["DesiredTGUpdates"]


def test_dispatch_and_child_routes(api, jobspec):
    api.job.register_job("pb", {"Job": jobspec.param_batch("pb")})
    out = api.job.dispatch_job("pb", payload=base64.b64encode(b"hi").decode(), meta={"who": "tests"})
    child = out["DispatchedJobID"]
    assert child.startswith("pb/dispatch-")
    assert api.job.get_job(child)["ParentID"] == "pb"
    assert api.job.get_summary(child)["JobID"] == child
    assert [a["JobID"] for a in api.job.get_allocations(child)] == [child]
    with pytest.raises(nomad_exc.BaseNomadException) as err:
        api.job.dispatch_job("pb", meta={"bogus": "x"})
    assert err.value.nomad_resp.text == "Dispatch request included unpermitted metadata keys: [bogus]"


def test_periodic_force_and_evaluate(api, jobspec):
    api.job.register_job("cron", {"Job": jobspec.periodic_batch("cron")})
    forced = api.job.periodic_job("cron")
    assert forced["EvalID"] and forced["Index"] == forced["EvalCreateIndex"]
    children = [j["ID"] for j in api.jobs.get_jobs(prefix="cron/periodic-")]
    assert len(children) == 1
    with pytest.raises(nomad_exc.BaseNomadException) as err:
        api.job.evaluate_job("cron")
    assert err.value.nomad_resp.text == "can't evaluate periodic job"
    api.job.register_job("evalme", {"Job": _service(jobspec, "evalme")})
    out = api.job.evaluate_job("evalme")
    assert out["EvalID"] in {e["ID"] for e in api.job.get_evaluations("evalme")}


def test_summary_allocations_evaluations_deployments(api, jobspec):
    api.job.register_job("reads", {"Job": _service(jobspec, "reads")})
    summary = api.job.get_summary("reads")
    assert set(summary["Summary"]) == {"cache"}
    allocs = api.job.get_allocations("reads")
    assert len(allocs) == 1 and allocs[0]["TaskGroup"] == "cache"
    evals = api.job.get_evaluations("reads")
    assert evals and all(e["JobID"] == "reads" for e in evals)
    deployments = api.job.get_deployments("reads")
    assert len(deployments) == 1
    assert api.job.get_deployment("reads")["ID"] == deployments[0]["ID"]
    # the cluster-wide endpoints see the same objects
    assert api.evaluation.get_evaluation(evals[0]["ID"])["ID"] == evals[0]["ID"]
    assert api.allocation.get_allocation(allocs[0]["ID"])["JobID"] == "reads"
    assert api.deployment.get_deployment(deployments[0]["ID"])["JobID"] == "reads"
    assert any(a["ID"] == allocs[0]["ID"] for a in api.allocations.get_allocations())
    assert api.nodes.get_nodes() and api.node.get_node(allocs[0]["NodeID"])["ID"] == allocs[0]["NodeID"]
    found = api.search.search("reads", "jobs")
    assert found["Matches"]["jobs"] == ["reads"]
    assert api.status.leader.get_leader() == "127.0.0.1:4647"
    assert api.regions.get_regions() == ["global"]
    assert api.agent.get_agent()["config"]["Region"] == "global"


def test_deregister_and_purge(api, jobspec):
    api.job.register_job("gone", {"Job": _service(jobspec, "gone")})
    out = api.job.deregister_job("gone")
    assert out["EvalID"]
    assert api.job.get_job("gone")["Stop"] is True
    api.job.deregister_job("gone", purge=True)
    with pytest.raises(nomad_exc.URLNotFoundNomadException):
        api.job.get_job("gone")


def test_unknown_jobs(api, server):
    with pytest.raises(nomad_exc.URLNotFoundNomadException) as err:
        api.job.get_job("no-such-job")
    assert err.value.nomad_resp.text == "job not found"
    assert "X-Nomad-Index" in err.value.nomad_resp.headers
    with pytest.raises(nomad_exc.URLNotFoundNomadException):
        api.job.get_versions("no-such-job")
    with pytest.raises(nomad_exc.URLNotFoundNomadException):
        api.job.get_summary("no-such-job")
    assert api.job.get_allocations("no-such-job") == []
    assert api.job.get_deployment("no-such-job") is None
    with pytest.raises(nomad_exc.BaseNomadException) as err:
        api.job.evaluate_job("no-such-job")
    assert err.value.nomad_resp.status_code == 500 and err.value.nomad_resp.text == "job not found"


# --- raw HTTP ------------------------------------------------------------------------------------------

def test_bad_json_and_wrong_methods(server):
    r = requests.post(server.url + "/v1/jobs", data='{"Job": {"ID": "x",', timeout=10)
    assert (r.status_code, r.text, r.headers["Content-Type"]) == (400, "unexpected EOF", PLAIN)
    r = requests.delete(server.url + "/v1/jobs", timeout=10)
    assert (r.status_code, r.text) == (405, "Invalid method")
    r = requests.get(server.url + "/v1/job/x/evaluate", timeout=10)
    assert (r.status_code, r.text) == (405, "Invalid method")
    r = requests.get(server.url + "/v1/jobs?index=1&wait=banana", timeout=10)
    assert (r.status_code, r.text) == (400, "Invalid wait time")
    r = requests.get(server.url + "/v1/jobs?index=-3", timeout=10)
    assert (r.status_code, r.text) == (400, "Invalid index")
    r = requests.get(server.url + "/v1/nope", timeout=10)
    assert (r.status_code, r.text) == (404, "404 page not found\n")


def test_chunked_request_body(server, jobspec):
    body = json.dumps({"Job": _service(jobspec, "chunky")}).encode()
    r = requests.post(server.url + "/v1/jobs", data=iter([body[:50], body[50:]]), timeout=10)  # no Content-Length
    assert r.status_code == 200, r.text
    assert requests.get(server.url + "/v1/job/chunky", timeout=10).json()["ID"] == "chunky"


# A broken chunked body, as a real 0.7.1 agent answers it (recorded by hand: Go's JSON
# decoder reads as it goes, so a syntax error or a whole value before the break wins).
BROKEN_CHUNKED = [
    (b"zz\r\nabc\r\n0\r\n\r\n", 400, "invalid byte in chunk length"),
    (b"5\r\nabc\r\n0\r\n\r\n", 400, "invalid character 'a' looking for beginning of value"),
    (b'4\r\n{"Jo\r\n3;ext\r\nb":\r\n1\r\n{\r\nzz\r\n', 400, "invalid byte in chunk length"),
    (b"2\r\n{}\r\nzz\r\n", 400, "Job must be specified"),
    (b'9\r\n{"Job":{}\r\n1\r\n}XY', 400, "Job ID hasn't been provided"),
]


@pytest.mark.parametrize("body,status,message", BROKEN_CHUNKED)
def test_a_broken_chunked_body_is_answered_as_nomad_does(server, body: bytes, status: int, message: str) -> None:
    with socket.create_connection((LOOPBACK, server.port), timeout=10) as sock:
        sock.sendall(b"PUT /v1/jobs HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + body)
        raw = b""
        while b"\r\n\r\n" not in raw:
            raw += sock.recv(65536)
        got, headers = _parse_head(raw)
        text = raw.split(b"\r\n\r\n", 1)[1]
        while len(text) < int(headers["content-length"]):
            text += sock.recv(65536)
    if any("gunicorn" in arg for arg in server.argv):
        assert (got, text.decode()) == (status, message)
    else:
        # granian hands the application what it de-chunked before the break, without
        # an error: a Go error still, but "unexpected EOF" where Go names the break.
        assert got == status
        assert text.decode() in (message, "unexpected EOF", "EOF")


def test_headers_and_gzip(server, jobspec):
    requests.post(server.url + "/v1/jobs", json={"Job": _service(jobspec, "hdr")}, timeout=10)
    r = requests.get(server.url + "/v1/job/hdr?pretty", timeout=10)  # requests asks for gzip
    assert r.status_code == 200
    assert r.headers["Content-Encoding"] == "gzip" and r.headers["Vary"] == "Accept-Encoding"
    assert r.text.startswith('{\n    "Stop": false') and r.text.endswith("}\n")
    assert r.headers["X-Nomad-Knownleader"] == "true" and r.headers["X-Nomad-Lastcontact"] == "0"
    assert int(r.headers["X-Nomad-Index"]) == r.json()["ModifyIndex"]


def test_blocking_query_woken_and_timing_out(server, jobspec):
    requests.post(server.url + "/v1/jobs", json={"Job": _service(jobspec, "blk")}, timeout=10)
    index = int(requests.get(server.url + "/v1/job/blk", timeout=10).headers["X-Nomad-Index"])
    # timing out: stable toggles nothing here, nobody writes this job
    start = time.monotonic()
    r = requests.get(server.url + f"/v1/job/blk?index={index}&wait=1s", timeout=20)
    elapsed = time.monotonic() - start
    assert r.status_code == 200 and int(r.headers["X-Nomad-Index"]) >= index
    if int(r.headers["X-Nomad-Index"]) == index:  # (a wall-clock status change could wake it early)
        assert 0.9 <= elapsed < 5

    index = int(requests.get(server.url + "/v1/job/blk", timeout=10).headers["X-Nomad-Index"])
    result: dict[str, Any] = {}

    def blocked() -> None:
        t0 = time.monotonic()
        result["r"] = requests.get(server.url + f"/v1/job/blk?index={index}&wait=30s", timeout=60)
        result["elapsed"] = time.monotonic() - t0

    reader = threading.Thread(target=blocked)
    reader.start()
    time.sleep(0.5)
    w = requests.post(server.url + "/v1/job/blk/stable",
                      json={"JobID": "blk", "JobVersion": 0, "Stable": True}, timeout=10)
    assert w.status_code == 200, w.text
    reader.join(30)
    assert not reader.is_alive()
    assert result["r"].status_code == 200
    assert int(result["r"].headers["X-Nomad-Index"]) > index
    assert result["elapsed"] < 20


def _open_long_poll(port: int, path: str) -> socket.socket:
    sock = socket.create_connection((LOOPBACK, port), timeout=60)
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {LOOPBACK}\r\nConnection: close\r\n\r\n".encode())
    return sock


def _parse_head(raw: bytes) -> tuple[int, dict[str, str]]:
    head = raw.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    status = int(head[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in head[1:] if ":" in line)}
    return status, headers


def _read_all(socks: list[socket.socket], timeout: float) -> list[tuple[int, dict[str, str]]]:
    """Read every response at once, like independent clients would: each socket is
    closed as soon as the server ends its answer (a client that lingers would hold
    up gunicorn's lingering close, see docs/server.md)."""
    bufs = {s.fileno(): bytearray() for s in socks}
    by_fd = {s.fileno(): s for s in socks}
    poller = select.poll()
    for sock in socks:
        sock.setblocking(False)
        poller.register(sock, select.POLLIN)
    done: dict[int, bytes] = {}
    deadline = time.monotonic() + timeout
    while len(done) < len(socks) and time.monotonic() < deadline:
        for fd, _ in poller.poll(200):
            try:
                data = by_fd[fd].recv(65536)
            except BlockingIOError:
                continue
            except OSError:
                data = b""
            if data:
                bufs[fd] += data
                continue
            poller.unregister(fd)
            by_fd[fd].close()
            done[fd] = bytes(bufs[fd])
    return [_parse_head(done[s_fd]) for s_fd in list(bufs) if s_fd in done]


@pytest.mark.parametrize("kind", ["gunicorn", "granian"])
def test_500_concurrent_long_polls(kind, jobspec):
    """500 blocking queries stay open while other requests are answered normally;
    one write wakes them all. A virtual clock keeps background writes from waking
    them early."""
    n = 500
    srv = launch(kind, free_port(), clock="virtual")
    socks: list[socket.socket] = []
    try:
        requests.post(srv.url + "/v1/jobs", json={"Job": _service(jobspec, "poll-base")}, timeout=10)
        index = int(requests.get(srv.url + "/v1/jobs", timeout=10).headers["X-Nomad-Index"])
        socks = [_open_long_poll(srv.port, f"/v1/jobs?prefix=poll-&index={index}&wait=60s") for _ in range(n)]
        time.sleep(1.0)  # let the server pick every poll up
        with requests.Session() as session:
            latencies = []
            for _ in range(20):
                t0 = time.monotonic()
                r = session.get(srv.url + "/v1/job/poll-base", timeout=30)
                latencies.append(time.monotonic() - t0)
                assert r.status_code == 200
                assert r.json()["ID"] == "poll-base"
        # (generous bounds: the machine may be busy with other test runs)
        assert sorted(latencies)[len(latencies) // 2] < 1.0, latencies
        poller = select.poll()  # not select(): 500 descriptors may pass FD_SETSIZE
        for sock in socks:
            poller.register(sock, select.POLLIN)
        early = poller.poll(0)
        assert early == [], f"{len(early)} polls answered before any write"
        r = requests.post(srv.url + "/v1/jobs", json={"Job": _service(jobspec, "poll-wake")}, timeout=30)
        assert r.status_code == 200
        answers = _read_all(socks, timeout=60)
    finally:
        for sock in socks:
            sock.close()
        srv.stop()
    assert len(answers) == n
    assert all(status == 200 for status, _ in answers)
    assert all(int(h["x-nomad-index"]) > index for _, h in answers)


# --- the other launchers ----------------------------------------------------------------------------

def test_server_gunicorn_acl_token_and_sigterm():
    port = free_port()
    srv = launch("server-gunicorn", port, "--acl-token", "s3cret-token", "--fleet", "golden")
    try:
        assert srv.stdout_lines[:1] == ["s3cret-token"]
        r = requests.get(srv.url + "/v1/jobs", timeout=10)
        assert (r.status_code, r.text) == (403, "Permission denied")
        r = requests.get(srv.url + "/v1/jobs", headers={"X-Nomad-Token": "s3cret-token"}, timeout=10)
        assert r.status_code == 200
        nodes = requests.get(srv.url + "/v1/nodes", headers={"X-Nomad-Token": "s3cret-token"}, timeout=10).json()
        assert [n["Name"] for n in nodes] == ["nomad-dev"]
    finally:
        took = srv.stop()
    assert srv.proc.returncode == 0
    assert took < 15


def test_granian_acl_prints_generated_token():
    srv = launch("granian", free_port(), "--acl-bootstrap", "--nodes", "5")
    try:
        deadline = time.monotonic() + 10
        while not srv.stdout_lines and time.monotonic() < deadline:
            time.sleep(0.05)
        secret = srv.stdout_lines[0]
        assert len(secret) == 36
        api = nomad.Nomad(host=LOOPBACK, port=srv.port, token=secret, timeout=10)
        assert len(api.nodes.get_nodes()) == 5
        with pytest.raises(nomad_exc.URLNotAuthorizedNomadException):
            nomad.Nomad(host=LOOPBACK, port=srv.port, token="00000000-0000-4000-8000-00000000dead",
                        timeout=10).jobs.get_jobs()
    finally:
        srv.stop()
    assert srv.proc.returncode == 0


def test_acl_alone_starts_unbootstrapped_and_nomad_acl_bootstrap_works():
    srv = launch("granian", free_port(), "--acl")
    try:
        assert srv.stdout_lines == []  # no token made, none printed
        r = requests.get(srv.url + "/v1/jobs", timeout=10)
        assert (r.status_code, r.text) == (403, "Permission denied")
        token = requests.post(srv.url + "/v1/acl/bootstrap", timeout=10).json()
        assert token["Type"] == "management" and token["Name"] == "Bootstrap Token"
        r = requests.get(srv.url + "/v1/jobs", headers={"X-Nomad-Token": token["SecretID"]}, timeout=10)
        assert r.status_code == 200
        again = requests.post(srv.url + "/v1/acl/bootstrap", timeout=10)
        assert (again.status_code, again.text) == (500, f"ACL bootstrap already done (reset index: {token['CreateIndex']})")
    finally:
        srv.stop()


def test_granian_cli_serves_the_wsgi_module():
    srv = launch("granian-cli", free_port())
    try:
        assert requests.get(srv.url + "/v1/regions", timeout=10).json() == ["global"]
    finally:
        srv.stop()


def test_sigterm_with_open_long_poll_is_bounded():
    srv = launch("granian", free_port())
    sock = None
    try:
        requests.get(srv.url + "/v1/jobs", timeout=10)
        requests.post(srv.url + "/v1/job/x/evaluate", timeout=10)  # any write: a non-zero index to block on
        index = int(requests.get(srv.url + "/v1/evaluations", timeout=10).headers["X-Nomad-Index"])
        sock = _open_long_poll(srv.port, f"/v1/job/none/summary?index={index + 10**6}&wait=300s")
        time.sleep(0.5)
    finally:
        took = srv.stop(timeout=40)
        if sock is not None:
            sock.close()
    assert took < 30


def test_two_gunicorn_servers_side_by_side():
    """The control socket is off: a second gunicorn does not collide with the first."""
    first = launch("gunicorn", free_port())
    try:
        second = launch("gunicorn", free_port())
        try:
            assert requests.get(second.url + "/v1/regions", timeout=10).status_code == 200
            assert requests.get(first.url + "/v1/regions", timeout=10).status_code == 200
        finally:
            second.stop()
    finally:
        first.stop()
    assert first.proc.returncode == 0


def test_bad_options_fail_fast():
    out = subprocess.run([str(BIN / "nomadjobs-server"), "--bind", "nonsense"], cwd=ROOT, capture_output=True,
                         text=True, timeout=30)
    assert out.returncode != 0 and "--bind" in out.stderr
    out = subprocess.run([str(BIN / "nomadjobs-server"), "--nodes", "0", "--bind", f"{LOOPBACK}:{free_port()}"],
                         cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert out.returncode != 0 and "nodes" in out.stderr


# --- the operator's view (issue 17) -----------------------------------------------------------------

def _run(*argv: str, env: Optional[dict[str, str]] = None, timeout: float = 30) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("NOMADJOBS_")}
    return subprocess.run([str(BIN / "nomadjobs-server"), *argv], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, env={**clean, **(env or {})})


def _answering(port: int) -> bool:
    try:
        requests.get(f"http://{LOOPBACK}:{port}/v1/regions", timeout=2)
        return True
    except requests.RequestException:
        return False


def test_version() -> None:
    out = _run("--version")
    assert out.returncode == 0 and out.stdout.startswith("nomadjobs-server ") and "v0.7.1" in out.stdout


@pytest.mark.parametrize("variable,value,words", [
    ("NOMADJOBS_CLOCK", "bogus", "NOMADJOBS_CLOCK: expected one of wall, virtual, got 'bogus'"),
    ("NOMADJOBS_THREADS", "0", "NOMADJOBS_THREADS must be at least 1, got 0"),
    ("NOMADJOBS_SEED", "x", "NOMADJOBS_SEED: expected an integer, got 'x'"),
    ("NOMADJOBS_ACL", "maybe", "NOMADJOBS_ACL: expected 1/true/yes/on or 0/false/no/off, got 'maybe'"),
    ("NOMADJOBS_MAX_BODY_BYTES", "-5", "NOMADJOBS_MAX_BODY_BYTES must be at least 1, got -5"),
    ("NOMADJOBS_ACL_TOKEN_FILE", "/nonexistent/token", "--acl-token-file: No such file or directory"),
    ("NOMADJOBS_JOB_GC_THRESHOLD", "4 hours", "NOMADJOBS_JOB_GC_THRESHOLD: time: unknown unit  hours in duration 4 hours"),
    ("NOMADJOBS_NODE_GC_THRESHOLD", "0s", "NOMADJOBS_NODE_GC_THRESHOLD must be positive, got '0s'"),
])
def test_an_unusable_variable_is_refused_with_its_name(variable: str, value: str, words: str) -> None:
    out = _run(env={variable: value})
    assert out.returncode == 1
    assert out.stderr.strip().startswith("nomadjobs-server: ") and words in out.stderr
    assert out.stderr.count("\n") == 1 and out.stdout == ""


@pytest.mark.parametrize("second", ["granian", "gunicorn"])
def test_a_busy_address_fails_at_once_with_one_line(second: str) -> None:
    first = launch("granian", free_port())
    try:
        started = time.monotonic()
        out = _run("--bind", f"{LOOPBACK}:{first.port}", "--server", second)
        assert out.returncode == 1 and time.monotonic() - started < 15
        assert out.stderr == f"nomadjobs-server: cannot listen on {LOOPBACK}:{first.port}: Address already in use\n"
    finally:
        first.stop()


def test_variables_configure_nomadjobs_server_and_flags_win() -> None:
    port = free_port()
    srv = Server([str(BIN / "nomadjobs-server"), "--seed", "7"], port,
                 {"NOMADJOBS_FLEET": "golden", "NOMADJOBS_SEED": "3", "NOMADJOBS_MAX_JOB_ALLOCATIONS": "2"})
    try:
        nodes = requests.get(srv.url + "/v1/nodes", timeout=10).json()
        assert [n["Name"] for n in nodes] == ["nomad-dev"]  # NOMADJOBS_FLEET honoured
        job = {"Job": {"ID": "x", "Datacenters": ["dc1"], "TaskGroups": [{"Name": "g", "Count": 3, "Tasks": [
            {"Name": "t", "Driver": "raw_exec", "Config": {"command": "/bin/true"}}]}]}}
        r = requests.put(srv.url + "/v1/jobs", json=job, timeout=10)
        assert r.status_code == 500 and "at most 2 per job" in r.text
        assert nodes[0]["ID"] == _golden_node_id(seed=7)  # the flag beat NOMADJOBS_SEED=3
    finally:
        srv.stop()


def _golden_node_id(seed: int) -> str:
    from nomadjobs import Cluster
    cluster = Cluster("golden", seed=seed)
    try:
        return str(cluster.snapshot().nodes()[0].ID)
    finally:
        cluster.close()


def test_token_from_a_file_and_logs_on_stderr(tmp_path: Path) -> None:
    secret = "0b7ac7d8-1c68-4a52-9a38-1b0a9c0bd3a1"
    (tmp_path / "token").write_text(secret + "\n")
    srv = launch("granian", free_port(), "--acl-token-file", str(tmp_path / "token"), "--access-log")
    try:
        r = requests.get(srv.url + "/v1/jobs", headers={"X-Nomad-Token": secret}, timeout=10)
        assert r.status_code == 200
        time.sleep(0.5)
    finally:
        srv.stop()
    assert srv.stdout_lines == [secret]  # the token alone; every log line went to stderr
    log = "".join(srv._stderr)
    assert "Listening" in log and "GET /v1/jobs" in log
    assert "Python threads" not in log  # granian's warning about the chosen thread count
    assert secret not in " ".join(srv.proc.args)  # not on the command line, so not in ps


def test_the_documented_token_recipe_works(tmp_path: Path) -> None:
    port = free_port()
    script = (f'cd "{tmp_path}"; PATH="{BIN}:$PATH"\n'
              f'nomadjobs-server --acl-bootstrap --bind {LOOPBACK}:{port} > token.txt 2>server.log &\n'
              'until [ -s token.txt ]; do sleep 0.1; done\n'
              'TOKEN=$(head -1 token.txt)\n'
              'echo "$TOKEN"\n')
    out = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60)
    token = out.stdout.strip()
    try:
        assert len(token) == 36
        deadline = time.monotonic() + STARTUP_S
        while not _answering(port) and time.monotonic() < deadline:
            time.sleep(0.1)
        r = requests.get(f"http://{LOOPBACK}:{port}/v1/jobs", headers={"X-Nomad-Token": token}, timeout=10)
        assert r.status_code == 200
    finally:
        subprocess.run(["pkill", "-f", f"nomadjobs-server --acl-bootstrap --bind {LOOPBACK}:{port}"])
        deadline = time.monotonic() + 30
        while _answering(port) and time.monotonic() < deadline:
            time.sleep(0.2)


def test_the_worker_exits_when_its_launcher_is_killed() -> None:
    srv = launch("granian", free_port())
    os.kill(srv.proc.pid, signal.SIGKILL)
    srv.proc.wait(10)
    deadline = time.monotonic() + 15
    while _answering(srv.port) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _answering(srv.port)


@pytest.mark.parametrize("kind", ["server-gunicorn", "granian"])
def test_a_crashed_worker_stops_the_server_loudly(kind: str) -> None:
    srv = launch(kind, free_port())
    try:
        requests.post(srv.url + "/v1/job/x/evaluate", timeout=10)
        os.kill(_worker_pid(srv.proc.pid), signal.SIGKILL)
        srv.proc.wait(30)
    finally:
        srv.stop()
    assert srv.proc.returncode == 1
    assert "in-memory cluster" in srv.output()
    assert not _answering(srv.port)


def _worker_pid(arbiter: int) -> int:
    children = Path(f"/proc/{arbiter}/task/{arbiter}/children").read_text().split()
    assert len(children) == 1, children
    return int(children[0])


def _stream_request(port: int, path: str) -> socket.socket:
    sock = socket.create_connection((LOOPBACK, port), timeout=5)
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    return sock


def _read_until(sock: socket.socket, marker: bytes, timeout: float) -> bytes:
    got = b""
    deadline = time.monotonic() + timeout
    while marker not in got and time.monotonic() < deadline:
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            continue
        if not chunk:
            break
        got += chunk
    return got


@pytest.mark.parametrize("kind", ["server-gunicorn", "granian"])
def test_followed_logs_stream_and_free_their_thread_when_the_reader_goes(kind) -> None:
    """A follow streams chunked frames, then heartbeats; a reader that goes away
    (even of a plain stream, which writes nothing between changes) gives its thread
    back: with two threads, a request after three abandoned streams is answered."""
    port = free_port()
    srv = launch(kind, port, "--threads", "2")
    try:
        job = {"Job": {"ID": "talk", "Type": "service", "Datacenters": ["dc1"], "TaskGroups": [{
            "Name": "g", "Tasks": [{"Name": "t", "Driver": "exec", "Config": {"command": "/bin/sh"},
                                    "Meta": {"nomadjobs.stdout": "hello\n"},
                                    "Resources": {"CPU": 100, "MemoryMB": 32}}]}]}}
        assert requests.put(srv.url + "/v1/jobs", json=job, timeout=10).status_code == 200
        deadline = time.monotonic() + 20
        alloc = None
        while time.monotonic() < deadline and alloc is None:
            allocs = requests.get(srv.url + "/v1/job/talk/allocations", timeout=10).json()
            if allocs and allocs[0]["TaskStates"] and allocs[0]["TaskStates"]["t"]["StartedAt"]:
                alloc = allocs[0]["ID"]
            time.sleep(0.1)
        assert alloc is not None
        base = f"/v1/client/fs/logs/{alloc}?task=t&type=stdout&follow=true"
        framed = _stream_request(port, base)
        got = _read_until(framed, b"{}", 5)
        head, _, body = got.partition(b"\r\n\r\n")
        assert b"200 OK" in head and b"chunked" in head.lower()
        assert b'{"Offset":6,"Data":"aGVsbG8K","File":"alloc/logs/t.stdout.0"}' in body and body.endswith(b"{}\r\n")
        framed.close()
        for _ in range(3):
            plain = _stream_request(port, base + "&plain=true")
            assert _read_until(plain, b"hello\n", 5).endswith(b"hello\n\r\n")
            plain.close()
        time.sleep(2.5)  # each stream finds its reader gone at its next beat
        answer = requests.get(srv.url + "/v1/jobs", timeout=5)
        assert answer.status_code == 200
    finally:
        srv.stop()


def test_job_files_are_registered_at_start_and_a_bad_one_stops_it(tmp_path: Path) -> None:
    jobs = tmp_path / "jobs"
    jobs.mkdir()
    for name in ("api", "web"):
        (jobs / f"{name}.nomad").write_text(f'''job "{name}" {{
  datacenters = ["dc1"]
  group "g" {{
    task "t" {{
      driver = "exec"
      config {{
        command = "/bin/sleep"
      }}
      resources {{
        cpu    = 100
        memory = 32
      }}
    }}
  }}
}}
''')
    (jobs / "notes.txt").write_text("not a job file")
    port = free_port()
    srv = launch("granian", port, "--jobs", str(jobs))
    try:
        listed = requests.get(srv.url + "/v1/jobs", timeout=10).json()
        assert sorted(j["ID"] for j in listed) == ["api", "web"]
    finally:
        srv.stop()
    (jobs / "web.nomad").write_text('job "web" {\n  colour = "red"\n}\n')
    out = _run("--bind", f"{LOOPBACK}:{free_port()}", "--jobs", str(jobs))
    assert out.returncode == 1
    assert out.stderr.strip() == ("nomadjobs-server: --jobs: Error parsing job file from web.nomad: error parsing "
                                  "'job': 1 error(s) occurred:\n\n* job: invalid key: colour")
    (jobs / "web.nomad").write_text('job "web" {\n  datacenters = ["dc1"]\n  group "g" {\n    count = -1\n  }\n}\n')
    out = _run("--bind", f"{LOOPBACK}:{free_port()}", "--jobs", str(jobs))
    assert out.returncode == 1 and out.stderr.startswith("nomadjobs-server: --jobs: web.nomad: ")
