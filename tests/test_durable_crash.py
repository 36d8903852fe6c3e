"""kill -9 of a durable nomadjobs-server under concurrent writers: every write it
acknowledged is there after a restart. ``NOMADJOBS_CRASH_CYCLES`` sets the number of
kill/restart cycles per server (3 by default; issue 19's target is 20)."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Optional

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
LOOPBACK = "127.0.0.1"
WRITERS = 8
CYCLES = int(os.environ.get("NOMADJOBS_CRASH_CYCLES", "3"))


def _free_port() -> int:
    import socket
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


def _start(kind: str, port: int, data_dir: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NOMADJOBS_", "GRANIAN_"))}
    proc = subprocess.Popen([str(BIN / "nomadjobs-server"), "--server", kind, "--bind", f"{LOOPBACK}:{port}",
                             "--data-dir", str(data_dir)], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {proc.stderr.read().decode() if proc.stderr else ''}")
        try:
            if _request(port, "GET", "/v1/status/leader")[0] == 200:
                return proc
        except OSError:
            time.sleep(0.1)
    _kill(proc)
    raise RuntimeError("server did not start")


def _kill(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(10)


def _request(port: int, method: str, path: str, body: Optional[dict] = None) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection(LOOPBACK, port, timeout=10)
    try:
        conn.request(method, path, body=json.dumps(body) if body is not None else None)
        answer = conn.getresponse()
        return answer.status, answer.read()
    finally:
        conn.close()


def _job(job_id: str) -> dict:
    return {"Job": {"ID": job_id, "Type": "batch", "Datacenters": ["dc1"], "TaskGroups": [{
        "Name": "g", "Tasks": [{"Name": "t", "Driver": "exec", "Config": {"command": "/bin/sh"},
                                "Resources": {"CPU": 100, "MemoryMB": 16}}]}]}}


def _write_until_killed(port: int, prefix: str, acked: list[tuple[str, int]], stop: threading.Event) -> None:
    n = 0
    while not stop.is_set():
        job_id = f"{prefix}-{n}"
        n += 1
        try:
            status, body = _request(port, "PUT", "/v1/jobs", _job(job_id))
        except OSError:
            return  # the server is gone: this write was never acknowledged
        if status == 200:
            acked.append((job_id, json.loads(body)["JobModifyIndex"]))


@pytest.mark.parametrize("kind", ["granian", "gunicorn"])
def test_no_acknowledged_write_is_lost_to_kill_9(kind: str, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    port = _free_port()
    acked: list[tuple[str, int]] = []
    for cycle in range(CYCLES):
        proc = _start(kind, port, data_dir)
        stop = threading.Event()
        mine: list[list[tuple[str, int]]] = [[] for _ in range(WRITERS)]
        threads = [threading.Thread(target=_write_until_killed, args=(port, f"c{cycle}w{i}", mine[i], stop))
                   for i in range(WRITERS)]
        for t in threads:
            t.start()
        time.sleep(1.0 + 0.3 * (cycle % 3))
        _kill(proc)  # in the middle of the writes
        stop.set()
        for t in threads:
            t.join(20)
        this_cycle = [a for writer in mine for a in writer]
        assert this_cycle, "no write was acknowledged before the kill"
        acked.extend(this_cycle)
    proc = _start(kind, port, data_dir)
    try:
        status, body = _request(port, "GET", "/v1/jobs")
        assert status == 200
        present = {j["ID"]: j["JobModifyIndex"] for j in json.loads(body)}
        lost = [job_id for job_id, _ in acked if job_id not in present]
        assert not lost, f"{len(lost)} of {len(acked)} acknowledged writes lost, e.g. {lost[:5]}"
        assert all(present[job_id] == index for job_id, index in acked)
        print(f"{kind}: {len(acked):,} acknowledged writes over {CYCLES} kill -9 cycles, none lost")
    finally:
        _kill(proc)


def test_a_second_server_on_the_same_data_dir_is_refused(tmp_path: Path) -> None:
    first = _start("granian", _free_port(), tmp_path)
    try:
        second = subprocess.run([str(BIN / "nomadjobs-server"), "--bind", f"{LOOPBACK}:{_free_port()}",
                                 "--data-dir", str(tmp_path)], cwd=ROOT, capture_output=True, text=True,
                                timeout=60)
        assert second.returncode == 1
        assert second.stderr.strip().startswith(
            f"nomadjobs-server: data dir {tmp_path} is in use by another nomadjobs server (pid ")
    finally:
        _kill(first)
