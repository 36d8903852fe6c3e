"""Agent, operator, metrics and node-write endpoints, with the answers a real v0.7.1
dev agent gives (recorded by hand; command/agent/agent_endpoint.go,
operator_endpoint.go, metrics_endpoint.go, node_endpoint.go)."""

from __future__ import annotations

from typing import Any, Iterator

import falcon.testing
import nomad
import pytest

from nomadjobs import Cluster
from shim import create_app
from shim.testserver import NomadServer


class Api:
    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.client = falcon.testing.TestClient(create_app(cluster))

    def __call__(self, method: str, path: str, token: str = "") -> falcon.testing.Result:
        return self.client.simulate_request(method, path, headers={"X-Nomad-Token": token} if token else {})


@pytest.fixture
def api() -> Iterator[Api]:
    cluster = Cluster(seed=5)
    yield Api(cluster)
    cluster.close()


def service(job_id: str, count: int = 3) -> dict[str, Any]:
    return {"ID": job_id, "Datacenters": ["dc1"], "TaskGroups": [{"Name": "g", "Count": count, "Tasks": [{
        "Name": "t", "Driver": "exec", "Config": {"command": "/bin/sleep"},
        "Resources": {"CPU": 100, "MemoryMB": 32}}]}]}


def test_members_and_the_raft_configuration_list_the_server_group(api: Api) -> None:
    members = api("GET", "/v1/agent/members").json
    assert list(members) == ["ServerName", "ServerRegion", "ServerDC", "Members"]
    member = members["Members"][0]
    assert list(member) == ["Name", "Addr", "Port", "Tags", "Status", "ProtocolMin", "ProtocolMax", "ProtocolCur",
                            "DelegateMin", "DelegateMax", "DelegateCur"]
    assert (member["Status"], member["Tags"]["role"], member["Tags"]["build"]) == ("alive", "nomad", "0.7.1")
    assert api("GET", "/v1/agent/self").json["member"] == member
    config = api("GET", "/v1/operator/raft/configuration").json
    assert config == {"Index": 1, "Servers": [{"Address": "127.0.0.1:4647", "ID": "127.0.0.1:4647", "Leader": True,
                                                "Node": member["Name"], "Voter": True}]}
    assert api("GET", "/v1/status/peers").json == [config["Servers"][0]["Address"]]
    r = api("PUT", "/v1/operator/raft/configuration")
    assert (r.status_code, r.text) == (405, "")
    r = api("DELETE", "/v1/operator/raft/peer")
    assert (r.status_code, r.text) == (400, "Must specify ?address with IP:port of peer to remove")
    r = api("DELETE", "/v1/operator/raft/peer?address=10.1.1.1:4647")
    assert (r.status_code, r.text) == (500, 'address "10.1.1.1:4647" was not found in the Raft configuration')
    r = api("GET", "/v1/operator/autopilot/health")
    assert (r.status_code, r.text) == (404, "Invalid method")


def test_client_servers_join_force_leave_health_keyring(api: Api) -> None:
    assert api("GET", "/v1/agent/servers").json == ["127.0.0.1:4647"]
    assert (api("PUT", "/v1/agent/servers").status_code, api("PUT", "/v1/agent/servers").text) == \
        (400, "missing server address")
    assert api("POST", "/v1/agent/servers?address=10.0.0.9&address=10.0.0.2:4647").status_code == 200
    assert api("GET", "/v1/agent/servers").json == ["10.0.0.2:4647", "10.0.0.9:4647"]
    assert api("PUT", "/v1/agent/join?address=127.0.0.1:4648").json == {"error": "", "num_joined": 1}
    failed = api("PUT", "/v1/agent/join?address=127.0.0.1:1").json
    assert failed == {"error": "1 error(s) occurred:\n\n* Failed to join 127.0.0.1: dial tcp 127.0.0.1:1: "
                               "connect: connection refused", "num_joined": 0}
    assert api("PUT", "/v1/agent/join").text == "missing address to join"
    assert api("GET", "/v1/agent/join").status_code == 405
    assert (api("PUT", "/v1/agent/force-leave?node=gone").status_code, api("PUT", "/v1/agent/force-leave").text) == \
        (200, "missing node to force leave")
    assert api("GET", "/v1/agent/health").json == {"client": {"message": "ok", "ok": True},
                                                    "server": {"message": "ok", "ok": True}}
    assert api("GET", "/v1/agent/health?type=server").json == {"server": {"message": "ok", "ok": True}}
    assert api("GET", "/v1/agent/health?type=bogus").json == {}
    assert api("GET", "/v1/agent/health?index=x").text == "Invalid index"
    r = api("PUT", "/v1/agent/keyring/list")  # gossip encryption is off, as on a dev agent
    assert (r.status_code, r.text) == (500, "1/1 nodes reported failure")
    assert (api("GET", "/v1/agent/keyring/bogus").status_code, api("GET", "/v1/agent/keyring/bogus").text) == \
        (404, "resource not found")


def test_metrics_report_the_state(api: Api) -> None:
    api.cluster.register(service("web"))
    api.cluster.advance(5)
    metrics = api("GET", "/v1/metrics").json
    assert list(metrics) == ["Counters", "Gauges", "Points", "Samples", "Timestamp"]
    by_name: dict[str, float] = {}
    for g in metrics["Gauges"]:
        assert set(g) == {"Labels", "Name", "Value"} and g["Labels"]["host"]
        by_name[g["Name"]] = by_name.get(g["Name"], 0) + g["Value"]
    assert by_name["nomad.client.allocations.running"] == 3
    assert by_name["nomad.client.allocated.cpu"] == 300
    assert api("POST", "/v1/metrics").status_code == 405


def test_node_drain_evaluate_and_purge(api: Api) -> None:
    cluster = api.cluster
    cluster.register(service("web"))
    cluster.advance(5)
    node = next(a.NodeID for a in cluster.snapshot().allocs())
    r = api("PUT", f"/v1/node/{node}/drain?enable=true")
    answer = r.json
    assert list(answer) == ["EvalIDs", "EvalCreateIndex", "NodeModifyIndex", "Index", "LastContact", "KnownLeader"]
    assert answer["NodeModifyIndex"] == answer["Index"] == int(r.headers["X-Nomad-Index"]) > 0
    assert len(answer["EvalIDs"]) == 1 and answer["EvalCreateIndex"] > answer["Index"]
    assert cluster.snapshot().node_by_id(node).Drain is True
    moved = [a for a in cluster.snapshot().allocs() if a.NodeID == node]
    assert moved and all(a.DesiredStatus == "stop" and a.DesiredDescription == "alloc is being migrated"
                         for a in moved)
    # The same value again writes nothing, but still evaluates the node's jobs.
    again = api("PUT", f"/v1/node/{node}/drain?enable=true")
    assert (again.json["Index"], again.json["NodeModifyIndex"], again.headers["X-Nomad-Index"]) == (0, 0, "0")
    assert again.json["EvalIDs"]
    for query, text in (("", "missing enable value"), ("?enable=", "missing enable value"),
                        ("?enable=yes", "invalid enable value")):
        r = api("PUT", f"/v1/node/{node}/drain{query}")
        assert (r.status_code, r.text) == (400, text)
    r = api("PUT", "/v1/node/abc/drain?enable=false")
    assert (r.status_code, r.text) == (500, "node lookup failed: index error: UUID must be 36 characters")
    r = api("PUT", "/v1/node/00000000-0000-4000-8000-000000000000/evaluate")
    assert (r.status_code, r.text) == (500, "node not found")
    r = api("POST", f"/v1/node/{node}/evaluate")
    assert r.json["EvalCreateIndex"] == int(r.headers["X-Nomad-Index"]) and r.json["NodeModifyIndex"] == 0
    assert r.json["Servers"][0]["RPCAdvertiseAddr"] == "127.0.0.1:4647"
    r = api("PUT", f"/v1/node/{node}/purge")
    assert r.json["NodeModifyIndex"] == int(r.headers["X-Nomad-Index"]) and r.json["Servers"] is None
    assert api("GET", f"/v1/node/{node}").status_code == 404
    assert api("GET", f"/v1/node/{node}/drain").status_code == 405


def test_node_writes_need_node_write() -> None:
    cluster = Cluster(seed=5, acl=True)
    api = Api(cluster)
    node = cluster.snapshot().nodes()[0].ID
    r = api("PUT", f"/v1/node/{node}/drain?enable=true")
    assert (r.status_code, r.text) == (403, "Permission denied")
    r = api("GET", "/v1/operator/raft/configuration")
    assert (r.status_code, r.text) == (403, "Permission denied")
    assert api("GET", "/v1/agent/health").status_code == 200  # no ACL check there
    assert api("PUT", f"/v1/node/{node}/drain?enable=true", cluster.bootstrap_token.SecretID).status_code == 200


def test_python_nomad_agent_operator_node_and_system() -> None:
    server = NomadServer(Cluster(clock="wall", seed=5))
    try:
        api = nomad.Nomad(host=server.host, port=server.port, timeout=10)
        assert api.agent.get_members()["Members"][0]["Status"] == "alive"
        assert api.agent.get_servers() == ["127.0.0.1:4647"]
        assert api.agent.join_agent("127.0.0.1:4648")["num_joined"] == 1
        assert api.operator.get_configuration()["Servers"][0]["Leader"] is True
        assert api.metrics.get_metrics()["Gauges"]
        node = api.nodes.get_nodes()[0]["ID"]
        assert api.node.drain_node(node, True)["NodeModifyIndex"] > 0
        assert api.node.get_node(node)["Drain"] is True
        assert api.node.drain_node(node, False)["NodeModifyIndex"] > 0
        assert api.node.evaluate_node(node)["NumNodes"] == 3
        assert api.system.initiate_garbage_collection() is True
        assert api.system.reconcile_summaries() is True
    finally:
        server.stop()
