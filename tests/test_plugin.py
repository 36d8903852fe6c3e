"""The pytest plugin: fixtures, marker options, isolation; and the deploy-with-revert
example run against the ``nomad_server`` fixture."""

from __future__ import annotations

import importlib.util
import socket
import sys
from pathlib import Path
from types import ModuleType
from typing import Callable

import nomad
import nomad.api.exceptions
import pytest
import requests

from nomadjobs import Cluster, NomadServer, NodeSpec
from nomadjobs.clock import VirtualClock, WallClock

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[1]
JOB = {"ID": "web", "Datacenters": ["dc1"], "TaskGroups": [{"Name": "web", "Tasks": [{
    "Name": "server", "Driver": "exec", "Config": {"command": "/bin/sleep", "args": ["600"]},
    "Resources": {"CPU": 100, "MemoryMB": 64}}]}]}


def load_example(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"example_{name}", ROOT / "examples" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


# --- fixtures used directly (the plugin is loaded through its entry point) ---------------------

def test_plugin_is_registered_by_entry_point(pytestconfig: pytest.Config) -> None:
    plugin = pytestconfig.pluginmanager.get_plugin("nomadjobs")
    assert plugin is not None and plugin.__name__ == "shim.pytest_plugin"


def test_nomad_cluster_defaults(nomad_cluster: Cluster) -> None:
    assert isinstance(nomad_cluster.clock, VirtualClock)
    assert len(nomad_cluster.snapshot().nodes()) == 3
    assert nomad_cluster.seed == 0 and not nomad_cluster.acl_enabled
    assert nomad_cluster.dump() == Cluster().dump()


@pytest.mark.nomad(fleet="golden", acl=True, seed=3)
def test_marker_options_reach_the_cluster(nomad_cluster: Cluster) -> None:
    assert [n.Name for n in nomad_cluster.snapshot().nodes()] == ["nomad-dev"]
    assert nomad_cluster.bootstrap_token is not None
    assert nomad_cluster.dump() == Cluster("golden", acl=True, seed=3).dump()


@pytest.mark.nomad(seed=5, nodes=4)
class TestClassMarker:
    def test_class_marker(self, nomad_cluster: Cluster) -> None:
        assert nomad_cluster.seed == 5 and len(nomad_cluster.snapshot().nodes()) == 4

    @pytest.mark.nomad(seed=6)
    def test_closest_marker_wins(self, nomad_cluster: Cluster) -> None:
        assert nomad_cluster.seed == 6 and len(nomad_cluster.snapshot().nodes()) == 4


@pytest.mark.nomad(seed=2)
def test_factory_overrides_marker_and_isolates(nomad_cluster_factory: Callable[..., Cluster]) -> None:
    a = nomad_cluster_factory()
    b = nomad_cluster_factory(fleet=[NodeSpec("solo")], seed=9)
    assert a.seed == 2 and b.seed == 9 and a is not b
    a.register(JOB)
    assert b.snapshot().job_by_id("default", "web") is None
    c = nomad_cluster_factory(clock="wall")
    assert isinstance(c.clock, WallClock)


def test_nomad_server_with_python_nomad(nomad_server: NomadServer) -> None:
    assert nomad_server.host == "127.0.0.1" and nomad_server.port > 0
    assert nomad_server.address == nomad_server.url == f"http://127.0.0.1:{nomad_server.port}"
    assert isinstance(nomad_server.cluster.clock, WallClock) and nomad_server.token is None
    client = nomad.Nomad(host=nomad_server.host, port=nomad_server.port)
    client.job.register_job("web", {"Job": JOB})
    assert [j["ID"] for j in client.jobs.get_jobs()] == ["web"]
    assert nomad_server.cluster.snapshot().job_by_id("default", "web") is not None
    state = requests.get(f"{nomad_server.url}/_nomadjobs/state").json()
    assert 0 < state["index"] <= nomad_server.cluster.index  # the wall clock keeps it moving


@pytest.mark.nomad(acl=True, clock="virtual")
def test_nomad_server_with_acls(nomad_server: NomadServer, monkeypatch: pytest.MonkeyPatch) -> None:
    assert nomad_server.token == nomad_server.cluster.bootstrap_token.SecretID
    monkeypatch.delenv("NOMAD_TOKEN")  # the fixture set it; python-nomad would send it
    anonymous = nomad.Nomad(address=nomad_server.address)
    with pytest.raises(nomad.api.exceptions.BaseNomadException):
        anonymous.jobs.get_jobs()
    client = nomad.Nomad(address=nomad_server.address, token=nomad_server.token)
    client.job.register_job("web", {"Job": JOB})
    assert requests.put(f"{nomad_server.url}/_nomadjobs/advance", params={"seconds": 1},
                        headers={"X-Nomad-Token": nomad_server.token}).status_code == 200
    assert [a["ClientStatus"] for a in client.job.get_allocations("web")] == ["running"]


def test_server_factory_can_share_a_cluster(nomad_server_factory: Callable[..., NomadServer],
                                            nomad_cluster: Cluster) -> None:
    one, two = nomad_server_factory(nomad_cluster), nomad_server_factory(nomad_cluster)
    assert one.port != two.port
    requests.put(f"{one.url}/v1/jobs", json={"Job": JOB}).raise_for_status()
    assert [j["ID"] for j in requests.get(f"{two.url}/v1/jobs").json()] == ["web"]
    with pytest.raises(TypeError):
        nomad_server_factory(nomad_cluster, seed=1)


def test_server_stops_and_frees_its_port() -> None:
    server = NomadServer(Cluster())
    port = server.port
    assert requests.get(f"{server.url}/v1/jobs").status_code == 200
    server.stop()
    server.stop()  # idempotent
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", port)) != 0


# --- the example deploy script, over HTTP -------------------------------------------------

def test_deploy_with_revert_example(nomad_server: NomadServer, capsys: pytest.CaptureFixture[str]) -> None:
    example = load_example("deploy_with_revert")
    assert example.main(["--address", nomad_server.address, "--timeout", "30"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == ["v0: successful (Deployment completed successfully)",
                   "v1: failed (Failed due to unhealthy allocations)",
                   "reverted to v0: successful"]
    client = nomad.Nomad(address=nomad_server.address)
    job = client.job.get_job("web")
    assert job["Version"] == 2 and job["Stable"]
    assert job["TaskGroups"][0]["Tasks"][0]["Config"]["command"] == "/bin/sleep"
    versions = {v["Version"]: v["Stable"] for v in client.job.get_versions("web")["Versions"]}
    assert versions == {0: True, 1: False, 2: True}


def test_deploy_example_without_stable_version_does_not_revert(nomad_server: NomadServer) -> None:
    example = load_example("deploy_with_revert")
    client = nomad.Nomad(address=nomad_server.address, timeout=30)
    result = example.deploy(client, example.crashing(example.WEB), timeout_s=30)
    assert (result.version, result.status, result.reverted_to) == (0, "failed", None)


# --- the plugin as a user's suite sees it (a separate pytest process) ---------------------------

def run_suite(pytester: pytest.Pytester, source: str) -> pytest.RunResult:
    pytester.makepyfile(test_user=source)
    return pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider")


def test_fresh_cluster_per_test_in_a_user_suite(pytester: pytest.Pytester) -> None:
    result = run_suite(pytester, f"""
JOB = {JOB!r}

def test_one(nomad_cluster):
    nomad_cluster.register(JOB)
    assert len(list(nomad_cluster.snapshot().jobs())) == 1

def test_two(nomad_cluster):
    assert list(nomad_cluster.snapshot().jobs()) == []
""")
    result.assert_outcomes(passed=2)


def test_unknown_option_is_a_usage_error(pytester: pytest.Pytester) -> None:
    result = run_suite(pytester, """
import pytest

@pytest.mark.nomad(flavour="vanilla")
def test_x(nomad_cluster):
    pass
""")
    assert result.ret != 0
    result.stdout.fnmatch_lines(["*unknown nomadjobs option*flavour*"])


def test_marker_is_registered_for_strict_markers(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_user="""
import pytest

@pytest.mark.nomad(seed=1)
def test_x(nomad_cluster):
    assert nomad_cluster.seed == 1
""")
    pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider", "--strict-markers").assert_outcomes(passed=1)


@pytest.mark.nomad(acl=True, clock="virtual")
def test_nomad_server_points_the_environment_at_itself(nomad_server: NomadServer) -> None:
    import os
    assert os.environ["NOMAD_ADDR"] == nomad_server.address
    assert os.environ["NOMAD_TOKEN"] == nomad_server.token
    # Code under test that builds its own client with no arguments finds the server.
    nomad.Nomad().job.register_job("web", {"Job": JOB})
    assert nomad_server.cluster.snapshot().job_by_id("default", "web") is not None


def test_the_environment_is_restored_after_the_block(monkeypatch: pytest.MonkeyPatch) -> None:
    import os
    monkeypatch.setenv("NOMAD_ADDR", "http://elsewhere:4646")
    monkeypatch.setenv("NOMAD_TOKEN", "someone-elses")
    with NomadServer(Cluster()) as server:
        with server.environment():
            assert os.environ["NOMAD_ADDR"] == server.address
            assert "NOMAD_TOKEN" not in os.environ  # no ACLs: no token to send
        assert os.environ["NOMAD_ADDR"] == "http://elsewhere:4646"
        assert os.environ["NOMAD_TOKEN"] == "someone-elses"
