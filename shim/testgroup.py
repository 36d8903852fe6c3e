"""A Raft group of ``nomadjobs-server`` processes on loopback, for tests that break it.

:class:`RaftGroup` starts three (or five) real servers, each in a process group of its
own, with a data dir, an HTTP port and a Raft port, all free ports on 127.0.0.1. It can
stop, kill (SIGKILL), isolate (drop all Raft traffic, through the admin endpoint) and
restart any of them, find the leader, and wait until the survivors agree. The
``nomad_raft_group`` fixture of the pytest plugin gives one per test.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Optional, Sequence

__all__ = ["RaftGroup", "GroupServer", "free_port"]

LOOPBACK = "127.0.0.1"


def free_port() -> int:
    """A TCP port free on loopback right now."""
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


class GroupServer:
    """One server of the group: its addresses, data dir and process."""

    def __init__(self, number: int, http_port: int, raft_port: int, data_dir: Path, log_path: Path) -> None:
        self.number = number
        self.http_port = http_port
        self.raft = f"{LOOPBACK}:{raft_port}"
        self.data_dir = data_dir
        self.log_path = log_path
        self.process: Optional[subprocess.Popen[bytes]] = None
        #: The management token the harness's own calls carry (with ACLs on).
        self.token: Optional[str] = None

    @property
    def address(self) -> str:
        return f"http://{LOOPBACK}:{self.http_port}"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def request(self, method: str, path: str, body: Any = None, timeout: float = 10.0,
                token: Optional[str] = None) -> tuple[int, Any]:
        """(status, decoded JSON or text) of one request to this server."""
        data = json.dumps(body).encode() if body is not None else None
        headers = {"X-Nomad-Token": token} if token else {}
        req = urllib.request.Request(self.address + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as answer:
                status, raw = answer.status, answer.read()
        except urllib.error.HTTPError as exc:
            status, raw = exc.code, exc.read()
        try:
            return status, json.loads(raw)
        except ValueError:
            return status, raw.decode(errors="replace")

    def answers(self) -> bool:
        """Whether its HTTP server is up: any answer of ``/v1/agent/health`` (a 500
        while there is no leader) counts."""
        try:
            self.request("GET", "/v1/agent/health", timeout=2.0)
        except OSError:
            return False
        return True

    def raft_status(self) -> Optional[dict[str, Any]]:
        try:
            status, body = self.request("GET", "/_nomadjobs/raft", timeout=2.0, token=self.token)
        except OSError:
            return None
        return body if status == 200 and isinstance(body, dict) else None

    def dump(self) -> dict[str, Any]:
        status, body = self.request("GET", "/_nomadjobs/state", timeout=30.0, token=self.token)
        if status != 200:
            raise RuntimeError(f"server {self.number}: dump answered {status}: {body}")
        return dict(body)

    def __repr__(self) -> str:
        return f"GroupServer({self.number}, {self.address}, raft {self.raft})"


class RaftGroup:
    """``size`` servers of one Raft group (see the module docstring). Use as a context
    manager or call :meth:`close`; every process is killed at the end."""

    def __init__(self, directory: str | os.PathLike[str], size: int = 3, server: str = "granian",
                 args: Sequence[str] = (), start: bool = True) -> None:
        root = Path(directory)
        root.mkdir(parents=True, exist_ok=True)
        self.server = server
        self.args = list(args)
        self.servers = [GroupServer(number, free_port(), free_port(), root / f"server{number}",
                                    root / f"server{number}.log") for number in range(1, size + 1)]
        # With ACLs bootstrapped from a given token, the harness's own calls carry it.
        if "--acl-token" in self.args:
            for member in self.servers:
                member.token = self.args[self.args.index("--acl-token") + 1]
        if start:
            for number in range(len(self.servers)):
                self.start(number)

    # --- processes -------------------------------------------------------------------------------
    def command(self, member: GroupServer) -> list[str]:
        peers = ",".join(other.raft for other in self.servers)
        return [sys.executable, "-m", "shim.server", "--bind", f"{LOOPBACK}:{member.http_port}",
                "--server", self.server, "--data-dir", str(member.data_dir), "--raft-bind", member.raft,
                "--peers", peers, *self.args]

    def start(self, number: int) -> GroupServer:
        """Start server ``number`` (0-based) on its data dir; returns once it answers HTTP."""
        member = self.servers[number]
        if member.running:
            raise RuntimeError(f"{member} is running")
        log = open(member.log_path, "ab")
        try:
            member.process = subprocess.Popen(self.command(member), stdout=log, stderr=log,
                                              start_new_session=True, cwd=str(Path(__file__).parent.parent))
        finally:
            log.close()
        deadline = time.monotonic() + 30
        while not member.answers():
            if member.process.poll() is not None:
                raise RuntimeError(f"{member} exited with {member.process.returncode}: "
                                   f"{member.log_path.read_text(errors='replace')[-2000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{member} did not answer within 30 s")
            time.sleep(0.05)
        return member

    restart = start

    def kill(self, number: int) -> None:
        """SIGKILL server ``number``'s processes (launcher and worker) at once."""
        self._signal(number, signal.SIGKILL)

    def stop(self, number: int) -> None:
        """Stop server ``number`` gracefully (SIGTERM), waiting for it to exit."""
        self._signal(number, signal.SIGTERM)

    def _signal(self, number: int, signum: int) -> None:
        member = self.servers[number]
        process = member.process
        if process is None or process.poll() is not None:
            return
        try:
            os.killpg(process.pid, signum)
        except ProcessLookupError:
            pass
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        # A SIGKILL reached the worker too (same process group); a SIGTERM makes the
        # launcher stop its worker before it exits.

    def isolate(self, number: int, isolated: bool = True) -> None:
        """Drop (or stop dropping) all of server ``number``'s Raft traffic."""
        member = self.servers[number]
        status, body = member.request("PUT", f"/_nomadjobs/raft/isolate?on={str(isolated).lower()}",
                                      token=member.token)
        if status != 200:
            raise RuntimeError(f"isolate answered {status}: {body}")

    # --- what the group says ---------------------------------------------------------------------
    def running(self) -> list[GroupServer]:
        return [member for member in self.servers if member.running]

    def leader(self, timeout: float = 15.0, among: Optional[Sequence[int]] = None) -> GroupServer:
        """The server that leads and takes writes, once the ones asked (default: all
        running and not isolated) agree on it."""
        deadline = time.monotonic() + timeout
        while True:
            members = [self.servers[n] for n in among] if among is not None else self.running()
            statuses = {member.number: member.raft_status() for member in members}
            live = {n: st for n, st in statuses.items() if st is not None and not st["Isolated"]}
            serving = [n for n, st in live.items() if st["Serving"] and st["State"] == "Leader"]
            if len(serving) == 1:
                leader = self.servers[serving[0] - 1]
                if all(st["Leader"] == leader.raft for st in live.values()):
                    return leader
            if time.monotonic() > deadline:
                raise TimeoutError(f"no agreed leader within {timeout} s: {statuses}")
            time.sleep(0.05)

    def wait_converged(self, timeout: float = 30.0, among: Optional[Sequence[int]] = None) -> int:
        """Wait until the servers asked (default: all running) have applied the same
        index and no write is pending on the leader; returns that index."""
        deadline = time.monotonic() + timeout
        last: dict[int, Any] = {}
        while True:
            members = [self.servers[n] for n in among] if among is not None else self.running()
            statuses = {member.number: member.raft_status() for member in members}
            indexes = {st["Index"] for st in statuses.values() if st is not None}
            applied = {st["AppliedIndex"] for st in statuses.values() if st is not None}
            if None not in statuses.values() and len(indexes) == 1 and applied == indexes:
                # Twice in a row, a heartbeat apart: nothing was still on its way.
                if last == {n: st["Index"] for n, st in statuses.items() if st is not None}:
                    return int(indexes.pop())
                last = {n: st["Index"] for n, st in statuses.items() if st is not None}
            else:
                last = {}
            if time.monotonic() > deadline:
                raise TimeoutError(f"servers did not converge within {timeout} s: {statuses}")
            time.sleep(0.3)

    def close(self) -> None:
        for number in range(len(self.servers)):
            self.kill(number)

    def __enter__(self) -> "RaftGroup":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
