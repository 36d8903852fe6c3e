"""The two sides of a differential run.

:class:`RealAgent` is ``$NOMAD_BIN agent -dev`` on free loopback ports with a data dir
of its own; :class:`OursServer` is nomadjobs on a wall clock with one node mirrored
from the agent's (same resources, attributes and drivers), so placement and blocking
decide the same way. Both answer :meth:`request` and know their tokens by role when
ACLs are on. :class:`RecordedSide` plays back a transcript recorded from a real agent.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any, Optional, Protocol

from .http import Answer, request

LOOPBACK = "127.0.0.1"

# ACL policies the runs use; tokens are made for each (plus the management token).
POLICIES = {
    "reader": 'namespace "default" { policy = "read" }',
    "writer": 'namespace "default" { policy = "write" }',
    "lister": 'namespace "default" { capabilities = ["list-jobs"] }',
}
ROLES = ("management", *POLICIES, "anonymous", "bogus")
BOGUS_SECRET = "00000000-0000-4000-8000-000000000000"


class Side(Protocol):
    name: str

    def request(self, method: str, path: str, body: Optional[bytes] = None,
                headers: Optional[dict[str, str]] = None) -> Answer: ...

    def secret(self, role: str) -> str: ...

    def close(self) -> None: ...


def go_version(binary: str) -> str:
    """The Go release a binary was built with (its build info), e.g. ``go1.19.8``;
    ``go1.9`` (Nomad 0.7.1's release toolchain) when it cannot be read."""
    try:
        data = Path(binary).read_bytes()
    except OSError:
        return "go1.9"
    match = re.search(rb"\xff Go buildinf:.{2,40}?(go1\.\d+(?:\.\d+)?)", data, re.DOTALL)
    return match.group(1).decode() if match else "go1.9"


def later_go_than_release(binary: str) -> bool:
    """True when the binary's encoding/json words type errors with a field path."""
    minor = int(go_version(binary).split(".")[1])
    return minor > 9


def release_math_env() -> dict[str, str]:
    """The environment for the reference agent, with Go's FMA kernels off.

    From Go 1.10 on, ``math.Exp`` on amd64 uses fused multiply-adds where the CPU has
    them, which changes bin-packing scores in their last bits. Nomad 0.7.1 was released
    with Go 1.9, which has no such path, and nomadjobs follows the release
    (``nomadjobs.golang.math``); older Go ignores the setting."""
    env = dict(os.environ)
    env["GODEBUG"] = ",".join(filter(None, [env.get("GODEBUG", ""), "cpu.fma=off"]))
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def _wait(what: str, check: Any, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
            if last:
                return last
        except OSError as exc:
            last = exc
        time.sleep(0.1)
    raise TimeoutError(f"{what} not ready after {timeout}s (last: {last!r})")


class RealAgent:
    """A Nomad v0.7.1 dev agent (server and client in one) on loopback."""

    name = "nomad"

    def __init__(self, binary: str, acl: bool = False, start_timeout: float = 30.0) -> None:
        self.binary = binary
        self.acl = acl
        self.dir = Path(tempfile.mkdtemp(prefix="difftest-nomad-"))
        self.port = free_port()
        ports = {"http": self.port, "rpc": free_port(), "serf": free_port()}
        config = "ports {\n" + "".join(f"  {k} = {v}\n" for k, v in ports.items()) + "}\n"
        if acl:
            config += "acl {\n  enabled = true\n}\n"
        (self.dir / "agent.hcl").write_text(config)
        self.log = open(self.dir / "agent.log", "wb")
        self.proc = subprocess.Popen(
            [binary, "agent", "-dev", "-bind", LOOPBACK, "-config", str(self.dir / "agent.hcl"),
             "-data-dir", str(self.dir / "data")],
            stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
            env=release_math_env())
        self.secrets: dict[str, str] = {}
        #: Type errors name the field path (a later Go than 0.7.1's release build).
        self.go_field_paths = later_go_than_release(binary)
        try:
            self._ready(start_timeout)
        except BaseException:
            self.close()
            raise

    def _ready(self, timeout: float) -> None:
        def leader() -> bool:
            ans = self.raw("GET", "/v1/status/leader")
            return ans.status == 200 and ans.json() not in ("", None)

        _wait("leader", leader, timeout)
        if self.acl:
            boot = self.raw("PUT", "/v1/acl/bootstrap")
            if boot.status != 200:
                raise RuntimeError(f"ACL bootstrap failed: {boot.status} {boot.body!r}")
            self.secrets["management"] = boot.json()["SecretID"]
            headers = {"X-Nomad-Token": self.secrets["management"]}
            for name, rules in POLICIES.items():
                body = json.dumps({"Name": name, "Description": "", "Rules": rules}).encode()
                ans = self.raw("PUT", f"/v1/acl/policy/{name}", body, headers)
                if ans.status != 200:
                    raise RuntimeError(f"policy {name}: {ans.status} {ans.body!r}")
                body = json.dumps({"Name": name, "Type": "client", "Policies": [name]}).encode()
                token = self.raw("PUT", "/v1/acl/token", body, headers)
                if token.status != 200:
                    raise RuntimeError(f"token {name}: {token.status} {token.body!r}")
                self.secrets[name] = token.json()["SecretID"]

        def node_ready() -> bool:
            ans = self.raw("GET", "/v1/nodes", headers=self._mgmt())
            return ans.status == 200 and any(n["Status"] == "ready" for n in ans.json())

        _wait("client node", node_ready, timeout)

    def _mgmt(self) -> dict[str, str]:
        return {"X-Nomad-Token": self.secrets["management"]} if self.acl else {}

    def raw(self, method: str, path: str, body: Optional[bytes] = None,
            headers: Optional[dict[str, str]] = None) -> Answer:
        return request(LOOPBACK, self.port, method, path, body, headers)

    request = raw

    def node(self) -> dict[str, Any]:
        """The agent's client node, as ``GET /v1/node/:id`` answers it."""
        nodes = self.raw("GET", "/v1/nodes", headers=self._mgmt()).json()
        return dict(self.raw("GET", f"/v1/node/{nodes[0]['ID']}", headers=self._mgmt()).json())

    def secret(self, role: str) -> str:
        return self.secrets.get(role, BOGUS_SECRET if role == "bogus" else "")

    def close(self) -> None:
        if self.proc.poll() is None:
            # SIGINT: a dev agent destroys its allocations (the raw_exec processes) on the way out.
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)  # anything the agent left behind
        except ProcessLookupError:
            pass
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


class OursServer:
    """nomadjobs over HTTP, on a wall clock, with the reference agent's node."""

    name = "nomadjobs"

    def __init__(self, node: dict[str, Any], acl: bool = False, seed: int = 0) -> None:
        # Imported here: the harness's generation and comparison need none of it.
        from nomadjobs import fsm, structs
        from nomadjobs.cluster import Cluster
        from nomadjobs.codec import from_wire
        from nomadjobs.nodeclass import computed_class
        from nomadjobs.query import WriteOptions
        from shim.testserver import NomadServer

        self.cluster = Cluster([], seed=seed, clock="wall", acl=acl)
        self.server = NomadServer(self.cluster)
        self.port = self.server.port
        core = self.cluster.core
        mirrored = from_wire({k: v for k, v in node.items() if not k.endswith("Index")}, structs.Node)
        mirrored = structs.evolve(mirrored, ID=core.new_id(), SecretID=core.new_id(),
                                  HTTPAddr=f"{LOOPBACK}:{self.port}", Status=structs.NODE_STATUS_READY,
                                  StatusUpdatedAt=core.now_ns() // 10**9)
        mirrored = structs.evolve(mirrored, ComputedClass=computed_class(mirrored))
        with core.lock:
            core.apply(fsm.NodeRegister(mirrored))
            core.unblock()
            core.process_evals()
        self.secrets: dict[str, str] = {}
        if acl:
            token = self.cluster.bootstrap_token
            assert token is not None
            self.secrets["management"] = token.SecretID
            w = WriteOptions(token=token.SecretID)
            for name, rules in POLICIES.items():  # as the agent's are made: through the endpoints
                self.cluster.acl.upsert_policy(structs.ACLPolicy(Name=name, Description="", Rules=rules), w)
                tok, _ = self.cluster.acl.upsert_token(
                    structs.ACLToken(Name=name, Type=structs.ACL_CLIENT_TOKEN, Policies=[name]), w)
                self.secrets[name] = tok.SecretID

    def request(self, method: str, path: str, body: Optional[bytes] = None,
                headers: Optional[dict[str, str]] = None) -> Answer:
        return request(LOOPBACK, self.port, method, path, body, headers)

    def secret(self, role: str) -> str:
        return self.secrets.get(role, BOGUS_SECRET if role == "bogus" else "")

    def close(self) -> None:
        self.server.stop()


class RecordedSide:
    """A real agent's answers played back from a transcript (no binary needed): the
    runner asks in the recorded order and gets the recorded answers."""

    name = "nomad (recorded)"

    def __init__(self, exchanges: list[dict[str, Any]], go_field_paths: bool = False) -> None:
        self.exchanges = list(exchanges)
        self.position = 0
        self.go_field_paths = go_field_paths

    def request(self, method: str, path: str, body: Optional[bytes] = None,
                headers: Optional[dict[str, str]] = None) -> Answer:
        if self.position >= len(self.exchanges):
            raise LookupError(f"the transcript has no answer for {method} {path}")
        exchange = self.exchanges[self.position]
        self.position += 1
        return Answer.from_dict(exchange["answer"])

    def secret(self, role: str) -> str:
        return f"<{role}>"

    def close(self) -> None:
        pass
