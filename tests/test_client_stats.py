"""The client agent's stats and allocation actions (/v1/client/stats,
/v1/client/allocation/<id>/stats|snapshot|gc) and the CORS wrapper of the client
routes; error texts and shapes as a real v0.7.1 agent answers them."""

from __future__ import annotations

import io
import tarfile
from typing import Iterator

import falcon.testing
import pytest

from nomadjobs import Cluster
from nomadjobs.fleet import NodeSpec
from nomadjobs.query import WriteOptions
from shim import create_app

UNKNOWN = "00000000-0000-0000-0000-000000000000"
CPU_MEASURED = ["System Mode", "User Mode", "Percent"]
MEMORY_MEASURED = ["RSS", "Swap"]


def _task(name: str, **meta: str) -> dict:
    return {"Name": name, "Driver": "exec", "Config": {"command": "/bin/sh"}, "Meta": meta or None,
            "Resources": {"CPU": 100, "MemoryMB": 32}}


@pytest.fixture
def api() -> Iterator[tuple[falcon.testing.TestClient, str, Cluster]]:
    # One 4-core node: the agent's own, so its host stats see the allocation.
    cluster = Cluster([NodeSpec(name="n1", ip="10.0.0.1", cpu_mhz=4000, memory_mb=8192, disk_mb=10240)], seed=3)
    cluster.register({"ID": "web", "Type": "service", "Datacenters": ["dc1"], "TaskGroups": [{
        "Name": "grp", "EphemeralDisk": {"SizeMB": 300},
        "Tasks": [_task("main", **{"nomadjobs.cpu_percent": "12.5", "nomadjobs.rss_bytes": "1048576"}),
                  _task("side", **{"nomadjobs.rss_bytes": "2048"})]}]})
    cluster.advance(5)
    alloc = next(iter(cluster.snapshot().allocs())).ID
    yield falcon.testing.TestClient(create_app(cluster)), alloc, cluster
    cluster.close()


def get(client: falcon.testing.TestClient, path: str, method: str = "GET") -> tuple[int, str]:
    r = client.simulate_request(method, path)
    return r.status_code, r.text


def test_allocation_stats_report_the_running_tasks(api) -> None:
    client, alloc, cluster = api
    r = client.simulate_get(f"/v1/client/allocation/{alloc}/stats")
    assert r.status_code == 200 and r.headers["Vary"] == "Accept-Encoding, Origin"
    body = r.json
    assert list(body) == ["ResourceUsage", "Tasks", "Timestamp"]
    assert sorted(body["Tasks"]) == ["main", "side"]
    main = body["Tasks"]["main"]
    assert list(main) == ["Pids", "ResourceUsage", "Timestamp"]
    assert main["Timestamp"] == body["Timestamp"] == cluster.now_ns()
    cpu = main["ResourceUsage"]["CpuStats"]
    assert list(cpu) == ["Measured", "Percent", "SystemMode", "ThrottledPeriods", "ThrottledTime", "TotalTicks",
                         "UserMode"]
    # 12.5 % of one of four cores of 4,000 MHz, as the executor's TicksConsumed counts it.
    assert (cpu["Measured"], cpu["Percent"], cpu["TotalTicks"]) == (CPU_MEASURED, 12.5, 125.0)
    memory = body["ResourceUsage"]["MemoryStats"]
    assert (memory["RSS"], memory["Measured"]) == (1048576 + 2048, MEMORY_MEASURED)
    only = client.simulate_get(f"/v1/client/allocation/{alloc}/stats?task=side").json
    assert list(only["Tasks"]) == ["side"]
    assert only["ResourceUsage"]["CpuStats"]["TotalTicks"] == 0.0
    assert get(client, f"/v1/client/allocation/{alloc}/stats?task=nope") == \
        (500, f'allocation "{alloc}" has no task "nope"')
    assert get(client, f"/v1/client/allocation/{UNKNOWN}/stats") == (500, f'unknown allocation ID "{UNKNOWN}"')
    assert client.simulate_post(f"/v1/client/allocation/{alloc}/stats").status_code == 200  # no method check
    for path in (alloc, f"{alloc}/bogus", f"{alloc}/stats/extra"):
        assert get(client, f"/v1/client/allocation/{path}") == (404, "resource not found")


def test_a_finished_allocation_reports_nothing_and_can_be_collected_once(api) -> None:
    client, alloc, cluster = api
    assert get(client, f"/v1/client/allocation/{alloc}/gc") == (500, "unable to collect allocation: not present")
    cluster.jobs.deregister_job("web", False, WriteOptions())
    cluster.advance(10)
    body = client.simulate_get(f"/v1/client/allocation/{alloc}/stats").json
    assert body == {"ResourceUsage": {
        "CpuStats": {"Measured": None, "Percent": 0.0, "SystemMode": 0.0, "ThrottledPeriods": 0, "ThrottledTime": 0,
                     "TotalTicks": 0.0, "UserMode": 0.0},
        "MemoryStats": {"Cache": 0, "KernelMaxUsage": 0, "KernelUsage": 0, "MaxUsage": 0, "Measured": None,
                        "RSS": 0, "Swap": 0}}, "Tasks": {}, "Timestamp": 0}
    assert get(client, f"/v1/client/allocation/{alloc}/gc", "PUT") == (200, "")
    assert get(client, f"/v1/client/allocation/{alloc}/gc") == (500, "unable to collect allocation: not present")
    # Its directory is gone; the server still has the allocation.
    assert get(client, f"/v1/client/fs/ls/{alloc}") == \
        (500, f"open /var/lib/nomad/alloc/{alloc}: no such file or directory")
    assert cluster.snapshot().alloc_by_id(alloc) is not None


def test_snapshot_is_a_tar_of_the_migrated_directories(api) -> None:
    client, alloc, _ = api
    r = client.simulate_get(f"/v1/client/allocation/{alloc}/snapshot")
    assert (r.status_code, r.headers["Content-Type"], len(r.content)) == (200, "application/octet-stream", 512 * 5)
    members = tarfile.open(fileobj=io.BytesIO(r.content)).getmembers()
    assert [(m.name, m.isdir(), m.mode, m.uname) for m in members] == \
        [("alloc/data", True, 0o777, "nobody"), ("main/local", True, 0o777, "nobody"),
         ("side/local", True, 0o777, "nobody")]
    assert get(client, f"/v1/client/allocation/{UNKNOWN}/snapshot") == (500, "allocation not found")


def test_host_stats_are_the_agent_nodes(api) -> None:
    client, _, cluster = api
    r = client.simulate_get("/v1/client/stats")
    body = r.json
    assert list(body) == ["AllocDirStats", "CPU", "CPUTicksConsumed", "DiskStats", "Memory", "Timestamp", "Uptime"]
    assert [c["CPU"] for c in body["CPU"]] == ["cpu0", "cpu1", "cpu2", "cpu3"]
    assert body["CPUTicksConsumed"] == 125.0
    assert body["CPU"][0]["Total"] == pytest.approx(125 / 4000 * 100)
    assert body["Memory"] == {"Available": 8192 * 2**20 - 1050624, "Free": 8192 * 2**20 - 1050624,
                              "Total": 8192 * 2**20, "Used": 1050624}
    disk = body["DiskStats"][0]
    assert (disk["Device"], disk["Mountpoint"], disk["Size"], disk["Used"]) == \
        ("/dev/sda1", "/", 10240 * 2**20, 300 * 2**20)
    assert (body["AllocDirStats"]["Device"], body["AllocDirStats"]["Used"]) == ("", 300 * 2**20)
    assert body["Timestamp"] == cluster.now_ns() and body["Uptime"] == 5
    # The same node agent-info names (`nomad node-status -self` reads it there).
    agent = client.simulate_get("/v1/agent/self").json["stats"]["client"]
    assert (agent["node_id"], agent["num_allocations"]) == (cluster.snapshot().nodes()[0].ID, "1")
    assert client.simulate_request("OPTIONS", "/v1/client/stats").status_code == 200  # no method check
    empty = falcon.testing.TestClient(create_app(Cluster([], seed=1)))
    assert get(empty, "/v1/client/stats") == (500, "node is not running a Nomad Client")


def test_client_routes_answer_cors(api) -> None:
    client, alloc, _ = api
    r = client.simulate_get("/v1/client/stats", headers={"Origin": "http://ui.example"})
    assert r.headers["Access-Control-Allow-Origin"] == "*"
    assert "Access-Control-Allow-Origin" not in client.simulate_get("/v1/client/stats").headers
    assert "Access-Control-Allow-Origin" not in client.simulate_put(
        "/v1/client/stats", headers={"Origin": "http://ui.example"}).headers  # only GET and HEAD
    pre = client.simulate_request("OPTIONS", f"/v1/client/fs/ls/{alloc}", headers={
        "Origin": "http://ui.example", "Access-Control-Request-Method": "get",
        "Access-Control-Request-Headers": "X-Nomad-Token"})
    assert (pre.status_code, pre.text) == (200, "")
    assert (pre.headers["Access-Control-Allow-Methods"], pre.headers["Access-Control-Allow-Headers"]) == \
        ("GET", "X-Nomad-Token")
    assert pre.headers["Vary"] == \
        "Accept-Encoding, Origin, Access-Control-Request-Method, Access-Control-Request-Headers"
    put = client.simulate_request("OPTIONS", "/v1/client/stats", headers={
        "Origin": "http://ui.example", "Access-Control-Request-Method": "PUT"})
    assert put.status_code == 200 and "Access-Control-Allow-Methods" not in put.headers


def test_stats_need_read_job_and_node_read_with_acls() -> None:
    cluster = Cluster(seed=4, acl=True)
    root = cluster.bootstrap_token.SecretID
    cluster.register({"ID": "t", "Type": "service", "Datacenters": ["dc1"], "TaskGroups": [{
        "Name": "g", "Tasks": [_task("t")]}]}, token=root)
    cluster.advance(1)
    alloc = next(iter(cluster.snapshot().allocs())).ID
    client = falcon.testing.TestClient(create_app(cluster))
    for path in (f"/v1/client/allocation/{alloc}/stats", "/v1/client/stats"):
        assert get(client, path) == (403, "Permission denied")
        assert client.simulate_get(path, headers={"X-Nomad-Token": root}).status_code == 200
