"""The official 0.7.1 CLI's ACL, server, operator and node commands, run against a real
agent and against nomadjobs side by side: same exit status, same table headers and
field names. Needs the binary (``NOMAD_BIN``); skipped without it."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Callable, Iterator

import pytest

from nomadjobs import Cluster

pytestmark = pytest.mark.skipif(not os.environ.get("NOMAD_BIN"), reason="NOMAD_BIN (a Nomad v0.7.1 binary) is not set")

POLICY = 'namespace "default" {\n  policy = "read"\n}\nnode {\n  policy = "read"\n}\n'


class Side:
    def __init__(self, address: str, workdir: Path) -> None:
        self.env = {**os.environ, "NOMAD_ADDR": address}
        self.env.pop("NOMAD_TOKEN", None)
        self.workdir = workdir

    def run(self, *args: str) -> tuple[int, str]:
        out = subprocess.run([os.environ["NOMAD_BIN"], *args], env=self.env, cwd=self.workdir,
                             capture_output=True, text=True, timeout=60)
        return out.returncode, out.stdout + out.stderr


def _shape(text: str) -> list[str]:
    """What a command's output says, without the values that differ between two
    clusters: IDs, secrets, times, addresses, names of the machine."""
    text = re.sub(r"[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}", "<id>", text)
    text = re.sub(r"\b[0-9a-f]{8}\b", "<id>", text)
    text = re.sub(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d[.\d]* \+0000 UTC", "<time>", text)
    text = re.sub(r"127\.0\.0\.1:\d+", "<addr>", text)
    text = re.sub(r"(?m)^(\S+\s*=\s*).*$", r"\1<value>", text)  # "Key = value" lines: the keys
    return [line.split()[0] if line.split() else "" for line in text.splitlines()]


@pytest.fixture(scope="module")
def sides(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Side, Side]]:
    from shim.testserver import NomadServer

    # Both with ACLs enabled and not bootstrapped (difftest's agent bootstraps its own).
    ours = NomadServer(Cluster(clock="wall", acl=True, acl_bootstrap=False))
    real = _fresh_acl_agent(tmp_path_factory.mktemp("agent"))
    work = tmp_path_factory.mktemp("cli")
    (work / "ro.hcl").write_text(POLICY)
    try:
        yield Side(real[0], work), Side(ours.url, work)
    finally:
        real[1]()
        ours.stop()


def _fresh_acl_agent(directory: Path) -> tuple[str, Callable[[], None]]:
    """A dev agent with ACLs on and nobody bootstrapped: (address, stop)."""
    from difftest.servers import LOOPBACK, free_port, release_math_env

    ports = {"http": free_port(), "rpc": free_port(), "serf": free_port()}
    config = "ports {\n" + "".join(f"  {k} = {v}\n" for k, v in ports.items()) + "}\nacl {\n  enabled = true\n}\n"
    (directory / "agent.hcl").write_text(config)
    log = open(directory / "agent.log", "wb")
    proc = subprocess.Popen([os.environ["NOMAD_BIN"], "agent", "-dev", "-bind", LOOPBACK, "-config",
                             str(directory / "agent.hcl"), "-data-dir", str(directory / "data")],
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env=release_math_env())
    address = f"http://{LOOPBACK}:{ports['http']}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(address + "/v1/status/leader", timeout=2) as r:
                if json.loads(r.read()):
                    break
        except OSError:
            pass
        time.sleep(0.3)

    def stop() -> None:
        proc.kill()
        proc.wait(10)
        log.close()

    return address, stop


def _both(sides: tuple[Side, Side], *args: str) -> tuple[tuple[int, str], tuple[int, str]]:
    real, ours = sides
    return real.run(*args), ours.run(*args)


def test_acl_commands_behave_alike(sides: tuple[Side, Side]) -> None:
    real_boot, ours_boot = _both(sides, "acl", "bootstrap")
    assert real_boot[0] == ours_boot[0] == 0
    assert _shape(real_boot[1]) == _shape(ours_boot[1])
    for side, text in zip(sides, (real_boot[1], ours_boot[1])):
        side.env["NOMAD_TOKEN"] = re.search(r"Secret ID\s+=\s+(\S+)", text).group(1)  # type: ignore[union-attr]
    for args in (("acl", "policy", "apply", "-description", "Read only", "ro", "ro.hcl"),
                 ("acl", "policy", "list"), ("acl", "policy", "info", "ro"),
                 ("acl", "token", "create", "-name", "ci", "-policy", "ro"),
                 ("acl", "token", "self"), ("acl", "bootstrap"), ("acl", "policy", "delete", "ro"),
                 ("acl", "policy", "info", "ro")):
        (real_rc, real_out), (ours_rc, ours_out) = _both(sides, *args)
        assert real_rc == ours_rc, (args, real_out, ours_out)
        if real_rc == 0:
            assert _shape(real_out) == _shape(ours_out), (args, real_out, ours_out)


def test_server_operator_and_node_commands_behave_alike(sides: tuple[Side, Side]) -> None:
    for args in (("server-members",), ("operator", "raft", "list-peers")):
        (real_rc, real_out), (ours_rc, ours_out) = _both(sides, *args)
        assert real_rc == ours_rc == 0, (args, real_out, ours_out)
        assert _shape(real_out)[0] == _shape(ours_out)[0], (args, real_out, ours_out)  # the header
    for side in sides:
        rc, out = side.run("node-status")
        node = out.splitlines()[1].split()[0]
        assert side.run("node-drain", "-enable", "-yes", node)[0] == 0
        assert "Drain   = true" in side.run("node-status", node)[1]
        assert side.run("node-drain", "-disable", "-yes", node)[0] == 0


JOB = """job "talk" {
  datacenters = ["dc1"]
  group "grp" {
    task "talker" {
      driver = "raw_exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "echo hello; echo more; echo oops 1>&2; sleep 600"]
      }
      meta {
        nomadjobs.stdout = "hello\\nmore\\n"
        nomadjobs.stderr = "oops\\n"
      }
      resources {
        cpu    = 100
        memory = 32
      }
    }
  }
}
"""


def test_client_commands_behave_alike(tmp_path: Path) -> None:
    """logs, fs, alloc-status -stats, node-status -self -stats, agent-info,
    client-config and check: the real agent runs the task's command, nomadjobs
    writes the task's meta output; both must print the same."""
    from difftest.servers import RealAgent, free_port
    from nomadjobs.fleet import NodeSpec
    from shim.testserver import NomadServer

    port = free_port()
    ours = NomadServer(Cluster([NodeSpec(name="n1", ip="10.0.0.1", http_addr=f"127.0.0.1:{port}")], clock="wall"),
                       port=port)
    real = RealAgent(os.environ["NOMAD_BIN"])
    (tmp_path / "talk.nomad").write_text(JOB)
    sides = (Side(f"http://127.0.0.1:{real.port}", tmp_path), Side(ours.url, tmp_path))
    try:
        allocs = []
        for side in sides:
            rc, out = side.run("run", "-detach", "talk.nomad")
            assert rc == 0, out
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                rc, out = side.run("status", "talk")
                if rc == 0 and " running " in out.split("Allocations")[-1]:
                    break
                time.sleep(0.3)
            allocs.append(out.split("Allocations")[-1].splitlines()[2].split()[0])
        time.sleep(1)  # the real task has written its output
        for args in (["logs", "{a}"], ["logs", "-stderr", "{a}"], ["fs", "{a}", "alloc/logs/talker.stdout.0"],
                     ["fs", "-tail", "-c", "3", "{a}", "alloc/logs/talker.stdout.0"], ["fs", "{a}", "alloc"],
                     ["fs", "-stat", "{a}", "alloc/logs"], ["alloc-status", "-stats", "{a}"],
                     ["node-status", "-self", "-stats"], ["agent-info"], ["client-config", "-servers"], ["check"]):
            outs = []
            for side, alloc in zip(sides, allocs):
                for _ in range(5):  # the CLI's frame reader may drop a frame racing the end of the body
                    rc, out = side.run(*[arg.format(a=alloc) for arg in args])
                    if rc != 0 or out.strip() or args[0] != "logs":
                        break
                outs.append((rc, out))
            (real_rc, real_out), (ours_rc, ours_out) = outs
            assert real_rc == ours_rc == 0, (args, real_out, ours_out)
            if args[0] in ("logs", "fs") and "-stat" not in args and args[2:3] != ["alloc"]:
                assert real_out == ours_out, (args, real_out, ours_out)  # the file's bytes
            else:
                assert _shape(real_out)[:3] == _shape(ours_out)[:3], (args, real_out, ours_out)
    finally:
        real.close()
        ours.stop()
