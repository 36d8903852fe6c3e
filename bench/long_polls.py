"""Parked blocking queries against a plain GET (issue 17, item 4).

Starts ``nomadjobs-server`` on a free loopback port, parks N blocking queries on it
(``/v1/job/none/summary?index=<far ahead>&wait=300s``, one raw socket each, so the
client side costs no threads), then measures, with all of them parked:

- the latency of a plain ``GET /v1/status/leader`` (20 requests, one after another);
- the server's CPU use while idle (utime + stime of its processes over a few seconds).

    python -m bench.long_polls --polls 10000 --threads 12000 [--server gunicorn]

Prints one JSON line. The figures depend on the machine; compare runs made side by
side.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
LOOPBACK = "127.0.0.1"
TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def tree_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) of ``pid`` and its children."""
    total = 0.0
    pids = [pid]
    try:
        pids += [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        pass
    for p in pids:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / TICKS
    return total


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--polls", type=int, default=10_000)
    p.add_argument("--threads", type=int, default=1024)
    p.add_argument("--server", choices=("granian", "gunicorn"), default="granian")
    p.add_argument("--idle", type=float, default=5.0, help="seconds of idle CPU measurement")
    p.add_argument("--settle", type=float, default=3.0, help="seconds for the server to take every poll in")
    a = p.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, a.polls + 1024)), hard))
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("NOMADJOBS_")}
    server = subprocess.Popen([str(BIN / "nomadjobs-server"), "--bind", f"{LOOPBACK}:{port}", "--server", a.server,
                               "--threads", str(a.threads), "--log-level", "warning"],
                              cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://{LOOPBACK}:{port}"
    socks: list[socket.socket] = []
    out: dict[str, Any] = {"polls": a.polls, "threads": a.threads, "server": a.server}
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                requests.get(url + "/v1/status/leader", timeout=1)
                break
            except requests.RequestException:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        requests.post(url + "/v1/job/x/evaluate", timeout=10)  # a non-zero index to block past
        index = int(requests.get(url + "/v1/evaluations", timeout=10).headers["X-Nomad-Index"]) + 10**9
        request = (f"GET /v1/job/none/summary?index={index}&wait=300s HTTP/1.1\r\n"
                   f"Host: {LOOPBACK}:{port}\r\n\r\n").encode()
        started = time.monotonic()
        for _ in range(a.polls):
            sock = socket.create_connection((LOOPBACK, port), timeout=30)
            sock.sendall(request)
            socks.append(sock)
        out["open_s"] = round(time.monotonic() - started, 2)
        time.sleep(a.settle)  # let the server pick every one of them up
        latencies = []
        for _ in range(20):
            t0 = time.perf_counter()
            r = requests.get(url + "/v1/status/leader", timeout=60)
            latencies.append(time.perf_counter() - t0)
            assert r.status_code == 200
        latencies.sort()
        out["leader_p50_ms"] = round(latencies[10] * 1e3, 1)
        out["leader_max_ms"] = round(latencies[-1] * 1e3, 1)
        cpu0 = tree_cpu_s(server.pid)
        time.sleep(a.idle)
        out["idle_cpu_pct"] = round(100 * (tree_cpu_s(server.pid) - cpu0) / a.idle, 1)
        rss = 0
        for pid in [server.pid] + [int(c) for c in
                                   Path(f"/proc/{server.pid}/task/{server.pid}/children").read_text().split()]:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    rss += int(line.split()[1])
        out["rss_mb"] = round(rss / 1024)
        # Still parked? A closed connection reads b"" at once; a parked one times out.
        probe = socks[len(socks) // 2]
        probe.settimeout(0.2)
        try:
            out["parked_still_open"] = probe.recv(1) != b""
        except socket.timeout:
            out["parked_still_open"] = True
    finally:
        for sock in socks:
            sock.close()
        server.terminate()
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
