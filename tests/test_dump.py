"""Dump, load and reset: every table and index round-trips, reads answer the same,
seeded clusters are reproducible, and the HTTP admin endpoints do the same."""

from __future__ import annotations

import base64
import json
import threading
import time
from typing import Any

import falcon.testing
import pytest

from nomadjobs import Cluster, DumpError, QueryOptions, WriteOptions, structs as s
from shim.admin import add_admin_routes
from nomadjobs.codec import to_wire
from nomadjobs.state.store import ACL_TOKEN_BOOTSTRAP
from nomadjobs.dump import TABLE_TYPES
from nomadjobs.fsm import ACLPolicyUpsert, ACLTokenUpsert
from shim import create_app

S = 1_000_000_000
NS = "default"


def service(job_id: str, image: str = "redis:3", count: int = 2, canary: int = 0) -> dict[str, Any]:
    return {"ID": job_id, "Datacenters": ["dc1"],
            "Update": {"MaxParallel": 1, "Canary": canary, "MinHealthyTime": 1 * S, "HealthyDeadline": 30 * S},
            "TaskGroups": [{"Name": "g", "Count": count, "Tasks": [{
                "Name": "t", "Driver": "docker", "Config": {"image": image, "port_map": [{"db": 6379}]},
                "Resources": {"CPU": 100, "MemoryMB": 64,
                              "Networks": [{"MBits": 1, "DynamicPorts": [{"Label": "db"}]}]}}]}]}


def busy_cluster(seed: int = 4, acl: bool = False) -> Cluster:
    """A cluster that has been through a bit of everything the store records."""
    c = Cluster(seed=seed, acl=acl)
    token = c.bootstrap_token.SecretID if c.bootstrap_token is not None else ""
    c.register(service("web"), token=token)
    c.run_until_quiet()
    c.register(service("web", image="redis:4", canary=1), token=token)  # a canary deployment
    c.advance(2)
    c.register({"ID": "nightly", "Type": "batch", "Datacenters": ["dc1"],
                "Periodic": {"Enabled": True, "SpecType": "cron", "Spec": "0 3 * * *", "TimeZone": "UTC"},
                "TaskGroups": [{"Name": "g", "Tasks": [{"Name": "t", "Driver": "raw_exec",
                                                         "Config": {"command": "/bin/true"},
                                                         "Resources": {"CPU": 100, "MemoryMB": 16}}]}]},
               token=token)
    c.jobs.periodic_force("nightly", WriteOptions(token=token))
    c.register({"ID": "report", "Type": "batch", "Datacenters": ["dc1"],
                "ParameterizedJob": {"Payload": "optional", "MetaRequired": ["who"]},
                "TaskGroups": [{"Name": "g", "Tasks": [{"Name": "t", "Driver": "raw_exec",
                                                         "Config": {"command": "/bin/true"},
                                                         "DispatchPayload": {"File": "in"},
                                                         "Resources": {"CPU": 100, "MemoryMB": 16}}]}]},
               token=token)
    c.jobs.dispatch_job("report", s.JobDispatchRequest(Meta={"who": "me"}, Payload=b"\x00payload"),
                        WriteOptions(token=token))
    c.register(service("doomed", count=1), token=token)
    c.run_until_quiet()
    c.jobs.deregister_job("doomed", purge=False, w=WriteOptions(token=token))
    c.kill_node(c.snapshot().nodes()[0].ID)
    c.apply(ACLPolicyUpsert([s.ACLPolicy(Name="ro", Rules='namespace "default" { policy = "read" }')]))
    c.apply(ACLTokenUpsert([s.ACLToken(AccessorID=c.new_id(), SecretID=c.new_id(), Name="ci",
                                       Type="client", Policies=["ro"])]))
    c.run_until_quiet()
    return c


def reads(c: Cluster, token: str = "") -> dict[str, Any]:
    """What clients can observe through the Jobs service, indexes included."""
    q = QueryOptions(token=token)
    out: dict[str, Any] = {}
    stubs, meta = c.jobs.list_jobs(q)
    out["jobs"] = (to_wire(stubs), meta.index)
    for stub in stubs:
        jid = stub.ID
        for name, call in (("job", lambda: c.jobs.get_job(jid, q)),
                           ("versions", lambda: c.jobs.job_versions(jid, True, q)),
                           ("allocs", lambda: c.jobs.job_allocations(jid, True, q)),
                           ("evals", lambda: c.jobs.job_evaluations(jid, q)),
                           ("deployments", lambda: c.jobs.job_deployments(jid, q)),
                           ("deployment", lambda: c.jobs.job_latest_deployment(jid, q)),
                           ("summary", lambda: c.jobs.job_summary(jid, q))):
            result, meta = call()
            out[f"{jid}/{name}"] = (to_wire(result), meta.index)
    return out


def stable(data: Any) -> Any:
    """A dump without AllocMetric.AllocationTime: the scheduler measures it in real
    time (nomadjobs/scheduler/stack.py), so it is the one value a seed cannot fix."""
    if isinstance(data, dict):
        return {k: (0 if k == "AllocationTime" else stable(v)) for k, v in data.items()}
    if isinstance(data, list):
        return [stable(v) for v in data]
    return data


def rows(c: Cluster) -> dict[str, list[Any]]:
    snap = c.snapshot().view
    return {name: list(snap.scan(name)) for name in TABLE_TYPES}


@pytest.mark.parametrize("acl", [False, True])
def test_dump_load_reproduces_every_table_read_and_index(acl: bool) -> None:
    original = busy_cluster(acl=acl)
    token = original.bootstrap_token.SecretID if acl else ""
    data = original.dump()
    assert all(data["tables"][name]["rows"] for name in TABLE_TYPES if name != ACL_TOKEN_BOOTSTRAP), \
        "the scenario fills every table"
    # The bootstrap table has no rows, only its index: the bootstrap's.
    assert data["tables"][ACL_TOKEN_BOOTSTRAP]["index"] == (original.bootstrap_token.CreateIndex if acl else 0)

    loaded = Cluster.from_dump(json.loads(json.dumps(data)))  # through real JSON text
    assert loaded.index == original.index
    for name in TABLE_TYPES:
        assert loaded.snapshot().table_index(name) == original.snapshot().table_index(name), name
    assert rows(loaded) == rows(original)                  # model equality, row by row
    assert loaded.dump() == data
    assert reads(loaded, token) == reads(original, token)
    assert loaded.acl_enabled is acl
    if acl:
        assert loaded.bootstrap_token == original.bootstrap_token


def test_loaded_cluster_continues_like_the_original() -> None:
    original = busy_cluster()
    copy = Cluster.from_dump(original.dump())
    for c in (original, copy):
        c.register(service("late", count=3))
        c.advance(5)
        c.kill_node(c.snapshot().nodes()[1].ID)
        c.jobs.periodic_force("nightly", WriteOptions())
        c.run_until_quiet()
    assert stable(copy.dump()) == stable(original.dump())


def test_same_seed_same_calls_same_dump_and_other_seed_differs() -> None:
    a, b, other = busy_cluster(seed=11), busy_cluster(seed=11), busy_cluster(seed=12)
    assert json.dumps(stable(a.dump())) == json.dumps(stable(b.dump()))
    assert stable(a.dump()) != stable(other.dump())


def test_dump_is_plain_json_with_wire_rows() -> None:
    c = busy_cluster()
    data = c.dump()
    assert json.loads(json.dumps(data)) == data
    child = next(r for r in data["tables"]["jobs"]["rows"] if r["ID"].startswith("report/dispatch-"))
    assert isinstance(child["Payload"], str) and base64.b64decode(child["Payload"])  # bytes as base64
    assert data["index"] == c.index
    assert set(data["tables"]) == set(c.db.snapshot().tables)


def test_load_in_place_replaces_state_and_keeps_the_object() -> None:
    source = busy_cluster()
    target = Cluster(seed=99)
    target.register(service("other"))
    jobs_service = target.jobs
    target.load(source.dump())
    assert target.jobs is jobs_service
    assert target.snapshot().job_by_id(NS, "other") is None
    assert target.dump() == source.dump()
    assert target.snapshot_at(target.index - 1) is None  # history starts at the load


def test_load_refuses_bad_data_without_touching_state() -> None:
    c = busy_cluster()
    before = c.dump()
    for bad in ({}, {"format": "nomadjobs-state", "version": 99, "tables": {}},
                {**before, "tables": {"jobs": before["tables"]["jobs"]}}):
        with pytest.raises(DumpError):
            c.load(bad)
    broken = json.loads(json.dumps(before))
    broken["tables"]["jobs"]["rows"][0]["Priority"] = "high"
    with pytest.raises(ValueError):
        c.load(broken)
    assert c.dump() == before


def test_reset_is_a_fresh_cluster() -> None:
    c = busy_cluster(seed=6)
    c.reset()
    assert c.dump() == Cluster(seed=6).dump()
    # ...and it works like one afterwards.
    c.register(service("web"))
    c.run_until_quiet()
    fresh = Cluster(seed=6)
    fresh.register(service("web"))
    fresh.run_until_quiet()
    assert stable(c.dump()) == stable(fresh.dump())


def test_reset_with_acls_keeps_the_management_secret() -> None:
    c = busy_cluster(seed=8, acl=True)
    secret = c.bootstrap_token.SecretID
    c.reset()
    assert c.bootstrap_token.SecretID == secret
    assert c.dump() == Cluster(seed=8, acl=True).dump()
    # A secret chosen from outside (nomadjobs-server --acl-token) survives too.
    fixed = Cluster(seed=8)
    fixed.acl_enabled = True
    fixed.bootstrap_token = fixed.acl.bootstrap("00000000-0000-0000-0000-00000000abcd")[0]
    fixed.reset()
    assert fixed.bootstrap_token.SecretID == "00000000-0000-0000-0000-00000000abcd"
    fixed.jobs.list_jobs(QueryOptions(token="00000000-0000-0000-0000-00000000abcd"))


def test_reset_keeps_user_listeners_and_drops_old_timers() -> None:
    c = Cluster(seed=1)
    seen: list[Any] = []
    c.listeners.append(lambda command, result: seen.append(type(command).__name__))
    c.register(service("web"))
    assert c.clock.pending() > 0
    c.reset()
    assert c.clock.pending() == 0
    seen.clear()
    c.register(service("web"))
    assert "JobRegister" in seen


def test_load_wakes_blocked_readers() -> None:
    source = busy_cluster()
    target = Cluster(seed=1)
    target.register(service("web"))
    _, meta = target.jobs.list_jobs(QueryOptions())
    answer: dict[str, Any] = {}
    waiter = threading.Thread(target=lambda: answer.update(
        r=target.jobs.list_jobs(QueryOptions(min_index=meta.index, wait_s=10))))
    waiter.start()
    time.sleep(0.1)
    started = time.monotonic()
    target.load(source.dump())
    waiter.join(5)
    assert time.monotonic() - started < 5
    stubs, new_meta = answer["r"]
    assert new_meta.index == source.snapshot().table_index("jobs")
    assert {j.ID for j in stubs} == {j.ID for j in source.snapshot().jobs()}


def test_loaded_cluster_starts_pending_allocations() -> None:
    c = Cluster(seed=2)
    c.register(service("web"))  # placed, not started: the clock has not moved
    assert {a.ClientStatus for a in c.snapshot().allocs_by_job(NS, "web")} == {"pending"}
    copy = Cluster.from_dump(c.dump())
    copy.advance(1)
    assert {a.ClientStatus for a in copy.snapshot().allocs_by_job(NS, "web")} == {"running"}


# --- HTTP -------------------------------------------------------------------------------------

def admin_client(cluster: Cluster) -> falcon.testing.TestClient:
    app = create_app(cluster)
    add_admin_routes(app, cluster)
    add_admin_routes(app, cluster)  # harmless twice
    return falcon.testing.TestClient(app)


def test_http_state_round_trip_reset_and_advance() -> None:
    cluster = busy_cluster()
    client = admin_client(cluster)
    got = client.simulate_get("/_nomadjobs/state")
    assert got.status_code == 200 and got.json == json.loads(json.dumps(cluster.dump()))
    jobs_before = client.simulate_get("/v1/jobs")

    reset = client.simulate_put("/_nomadjobs/reset")
    assert reset.status_code == 200 and reset.json["Index"] == cluster.index
    assert client.simulate_get("/v1/jobs").json == []

    loaded = client.simulate_put("/_nomadjobs/state", json=got.json)
    assert loaded.status_code == 200 and loaded.json["Index"] == got.json["index"]
    again = client.simulate_get("/v1/jobs")
    assert again.json == jobs_before.json
    assert again.headers["X-Nomad-Index"] == jobs_before.headers["X-Nomad-Index"]

    now = cluster.now_ns()
    adv = client.simulate_post("/_nomadjobs/advance", params={"seconds": "2.5"})
    assert adv.status_code == 200 and adv.json["NowNs"] == now + int(2.5 * S)
    quiet = client.simulate_put("/_nomadjobs/run-until-quiet")
    assert quiet.status_code == 200 and "Fired" in quiet.json


@pytest.mark.parametrize("params,text", [({"seconds": "soon"}, "seconds must be a number"),
                                         ({"seconds": "-1"}, "seconds must be a finite number >= 0"),
                                         ({}, "seconds must be a number")])
def test_http_advance_rejects_bad_seconds(params: dict[str, str], text: str) -> None:
    r = admin_client(Cluster()).simulate_put("/_nomadjobs/advance", params=params)
    assert r.status_code == 400 and text in r.text


def test_http_advance_needs_a_virtual_clock_and_load_needs_a_dump() -> None:
    with Cluster(clock="wall") as cluster:
        client = admin_client(cluster)
        r = client.simulate_put("/_nomadjobs/advance", params={"seconds": "1"})
        assert r.status_code == 400 and "wall clock" in r.text
        assert client.simulate_put("/_nomadjobs/state", body=b"{nope").status_code == 400
        assert client.simulate_put("/_nomadjobs/state", json={"format": "x"}).status_code == 400
        assert client.simulate_put("/_nomadjobs/state").status_code == 400
        assert client.simulate_delete("/_nomadjobs/state").status_code == 405


def test_http_admin_requires_the_management_token_with_acls() -> None:
    cluster = Cluster(acl=True)
    client = admin_client(cluster)
    assert client.simulate_get("/_nomadjobs/state").status_code == 403
    assert client.simulate_put("/_nomadjobs/reset", headers={"X-Nomad-Token": "wrong"}).status_code == 403
    ok = client.simulate_get("/_nomadjobs/state", headers={"X-Nomad-Token": cluster.bootstrap_token.SecretID})
    assert ok.status_code == 200
    assert client.simulate_get("/v1/jobs").status_code == 403  # Nomad's own routes unchanged
