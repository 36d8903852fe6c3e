"""A small HTTP load generator, run as a SEPARATE process by ``bench/run.py``.

Used when ``wrk`` is not installed (``load``), to preload jobs (``preload``) and for
HTTP blocking queries (``blockwake``). Loopback only: every URL must point at
127.0.0.1. Every loop is bounded in time and count. Prints one JSON object.

    python -m bench.loadgen load --port P --path /v1/jobs --duration 5 --conns 16
    python -m bench.loadgen load --port P --method POST --prefix post-x --duration 5
    python -m bench.loadgen preload --port P --count 5000 --prefix load-
    python -m bench.loadgen blockwake --port P --waiters 1000 --pids 123,124
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import selectors
import socket
import sys
import threading
import time
from typing import Any, Optional

HOST = "127.0.0.1"


def job_body(job_id: str, meta: Optional[dict[str, str]] = None) -> bytes:
    """A small service job: one group, one docker task, 100 MHz / 10 MB."""
    job: dict[str, Any] = {
        "ID": job_id, "Name": job_id, "Type": "service", "Datacenters": ["dc1"],
        "TaskGroups": [{
            "Name": "web", "Count": 1,
            "Tasks": [{"Name": "app", "Driver": "docker", "Config": {"image": "nginx:1.13"},
                       "Resources": {"CPU": 100, "MemoryMB": 10}}],
            "EphemeralDisk": {"SizeMB": 150},
        }],
    }
    if meta:
        job["Meta"] = meta
    return json.dumps({"Job": job}, separators=(",", ":")).encode()


def _pct(sorted_vals: list[float], q: float) -> float:
    if not sorted_vals:
        return float("nan")
    i = min(len(sorted_vals) - 1, max(0, int(round(q * (len(sorted_vals) - 1)))))
    return sorted_vals[i]


def cmd_load(a: argparse.Namespace) -> dict[str, Any]:
    """``conns`` threads, one keep-alive connection each, for ``duration`` seconds."""
    stop_at = time.perf_counter() + a.duration
    lat: list[list[float]] = [[] for _ in range(a.conns)]
    errors = [0] * a.conns
    max_requests = a.max_requests

    def worker(k: int) -> None:
        conn = http.client.HTTPConnection(HOST, a.port, timeout=30)
        n = 0
        while time.perf_counter() < stop_at and n < max_requests:
            n += 1
            if a.method == "POST":
                body = job_body(f"{a.prefix}-{k}-{n}")
                headers = {"Content-Type": "application/json"}
            else:
                body, headers = None, {}
            t = time.perf_counter()
            try:
                conn.request(a.method, a.path, body=body, headers=headers)
                resp = conn.getresponse()
                resp.read()
                if resp.status != 200:
                    errors[k] += 1
            except (OSError, http.client.HTTPException):
                errors[k] += 1
                conn.close()
                conn = http.client.HTTPConnection(HOST, a.port, timeout=30)
                continue
            lat[k].append(time.perf_counter() - t)
        conn.close()

    t0 = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(k,), daemon=True) for k in range(a.conns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(a.duration + 60)
    elapsed = time.perf_counter() - t0
    all_lat = sorted(x for per in lat for x in per)
    return {"requests": len(all_lat), "rps": len(all_lat) / elapsed, "p50_ms": _pct(all_lat, 0.50) * 1e3,
            "p99_ms": _pct(all_lat, 0.99) * 1e3, "errors": sum(errors), "tool": "python"}


def cmd_preload(a: argparse.Namespace) -> dict[str, Any]:
    """POST ``count`` jobs named ``prefix`` + 5 digits, over 4 keep-alive connections."""
    nxt = iter(range(a.count))
    lock = threading.Lock()
    errors: list[str] = []

    def worker() -> None:
        conn = http.client.HTTPConnection(HOST, a.port, timeout=60)
        while True:
            with lock:
                i = next(nxt, None)
            if i is None:
                break
            conn.request("POST", "/v1/jobs", body=job_body(f"{a.prefix}{i:05d}"),
                         headers={"Content-Type": "application/json"})
            resp = conn.getresponse()
            data = resp.read()
            if resp.status != 200 and len(errors) < 5:
                errors.append(f"{resp.status} {data[:200]!r}")
        conn.close()

    t0 = time.perf_counter()
    threads = [threading.Thread(target=worker, daemon=True) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(600)
    elapsed = time.perf_counter() - t0
    return {"count": a.count, "seconds": elapsed, "rps": a.count / elapsed, "errors": errors}


def proc_tree_cpu_s(pids: list[int]) -> float:
    """utime + stime of ``pids`` and all their descendants (Linux /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    children: dict[int, list[int]] = {}
    stats: dict[int, tuple[int, int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                text = f.read()
        except OSError:
            continue
        rest = text[text.rindex(")") + 2:].split()
        ppid = int(rest[1])
        children.setdefault(ppid, []).append(int(name))
        stats[int(name)] = (int(rest[11]), int(rest[12]))
    total = 0
    todo = list(pids)
    seen: set[int] = set()
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen.add(p)
        u, s_ = stats.get(p, (0, 0))
        total += u + s_
        todo.extend(children.get(p, ()))
    return total / tick


class _Waiter:
    """One blocking GET on its own connection, read without blocking."""

    __slots__ = ("sock", "buf", "status", "woke")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = b""
        self.status = 0
        self.woke = 0.0

    def feed(self, data: bytes) -> bool:
        """Take what arrived; True once the whole answer is in (Content-Length)."""
        self.buf += data
        head, sep, body = self.buf.partition(b"\r\n\r\n")
        if not sep:
            return False
        lines = head.split(b"\r\n")
        length = next((int(v) for k, _, v in (ln.partition(b":") for ln in lines[1:])
                       if k.strip().lower() == b"content-length"), None)
        if length is None or len(body) < length:
            return False
        self.status = int(lines[0].split()[1])
        return True


def cmd_blockwake(a: argparse.Namespace) -> dict[str, Any]:
    """``waiters`` blocking GETs on one job; measure the server's CPU while they wait,
    then write the job and time every answer.

    One thread reads all the waiting connections through a selector and stamps
    each answer as soon as its last byte is in: a thread per connection would
    add this process's own wake-up storm (1,000 threads contending for the GIL)
    to what is measured. The write is sent from a second thread at ``t_write``."""
    job_id = f"{a.prefix}-bq"
    conn = http.client.HTTPConnection(HOST, a.port, timeout=60)
    conn.request("POST", "/v1/jobs", body=job_body(job_id), headers={"Content-Type": "application/json"})
    conn.getresponse().read()
    conn.request("GET", f"/v1/job/{job_id}")
    resp = conn.getresponse()
    resp.read()
    index = int(resp.getheader("X-Nomad-Index"))
    request = (f"GET /v1/job/{job_id}?index={index}&wait={a.wait_s}s HTTP/1.1\r\n"
               f"Host: {HOST}:{a.port}\r\n\r\n").encode()
    sel = selectors.DefaultSelector()
    waiters = []
    for _ in range(a.waiters):
        sock = socket.create_connection((HOST, a.port), timeout=30)
        sock.sendall(request)
        sock.setblocking(False)
        w = _Waiter(sock)
        waiters.append(w)
        sel.register(sock, selectors.EVENT_READ, w)
    time.sleep(a.settle)  # let the server park every request
    early = len(sel.select(0))
    pids = [int(p) for p in a.pids.split(",") if p]
    cpu0, t0 = proc_tree_cpu_s(pids), time.perf_counter()
    time.sleep(a.idle)
    cpu1, t1 = proc_tree_cpu_s(pids), time.perf_counter()
    written = [0.0]

    def write() -> None:
        conn.request("POST", "/v1/jobs", body=job_body(job_id, {"rev": "2"}),
                     headers={"Content-Type": "application/json"})
        conn.getresponse().read()
        written[0] = time.perf_counter()

    writer = threading.Thread(target=write, daemon=True)
    cpu_write = proc_tree_cpu_s(pids)
    t_write = time.perf_counter()
    writer.start()
    pending = len(waiters)
    deadline = t_write + a.wait_s + 30
    while pending and time.perf_counter() < deadline:
        for key, _ in sel.select(timeout=1.0):
            w = key.data
            try:
                data = w.sock.recv(65536)
            except OSError:
                data = b""
            if not data:
                w.status = -1
            elif not w.feed(data):
                continue
            w.woke = time.perf_counter()
            sel.unregister(w.sock)
            pending -= 1
    cpu2 = proc_tree_cpu_s(pids)
    writer.join(a.wait_s + 30)
    conn.close()
    for w in waiters:
        w.sock.close()
    sel.close()
    lat = sorted(w.woke - t_write for w in waiters if w.woke)
    ok = sum(1 for w in waiters if w.status == 200)
    return {"waiters": a.waiters, "ok": ok, "woke_early": early, "write_ms": (written[0] - t_write) * 1e3,
            "wake_p50_ms": _pct(lat, 0.5) * 1e3, "wake_max_ms": (lat[-1] if lat else float("nan")) * 1e3,
            "idle_cpu_pct": (cpu1 - cpu0) / (t1 - t0) * 100, "idle_s": t1 - t0,
            "wake_cpu_ms": (cpu2 - cpu_write) * 1e3}


def main(argv: Optional[list[str]] = None) -> None:
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    lp = sub.add_parser("load")
    lp.add_argument("--port", type=int, required=True)
    lp.add_argument("--path", default="/v1/jobs")
    lp.add_argument("--method", default="GET", choices=("GET", "POST"))
    lp.add_argument("--prefix", default="post")
    lp.add_argument("--duration", type=float, default=5.0)
    lp.add_argument("--conns", type=int, default=16)
    lp.add_argument("--max-requests", type=int, default=1_000_000)
    pp = sub.add_parser("preload")
    pp.add_argument("--port", type=int, required=True)
    pp.add_argument("--count", type=int, default=5000)
    pp.add_argument("--prefix", default="load-")
    bp = sub.add_parser("blockwake")
    bp.add_argument("--port", type=int, required=True)
    bp.add_argument("--waiters", type=int, default=1000)
    bp.add_argument("--prefix", default="block")
    bp.add_argument("--pids", default="")
    bp.add_argument("--wait-s", type=int, default=120)
    bp.add_argument("--settle", type=float, default=2.0)
    bp.add_argument("--idle", type=float, default=3.0)
    a = p.parse_args(argv)
    out = {"load": cmd_load, "preload": cmd_preload, "blockwake": cmd_blockwake}[a.cmd](a)
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
