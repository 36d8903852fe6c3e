"""shim/gunicorn.conf.py's gthread worker: the head goes out with the first body
chunk (same bytes as stock gunicorn), and the main thread's callbacks are woken by at
most one pending byte (every callback still runs, once, in order)."""

from __future__ import annotations

import io
import os
import runpy
import selectors
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("gunicorn")

from gunicorn import util  # noqa: E402
from gunicorn.config import Config  # noqa: E402
from gunicorn.http import wsgi as gwsgi  # noqa: E402
from gunicorn.http.parser import RequestParser  # noqa: E402

CONF = Path(__file__).resolve().parents[1] / "shim" / "gunicorn.conf.py"


@pytest.fixture(scope="module")
def conf() -> dict[str, Any]:
    before = sys.getswitchinterval()
    try:
        return runpy.run_path(str(CONF))
    finally:
        sys.setswitchinterval(before)


class RecordingSock:
    def __init__(self) -> None:
        self.sends: list[bytes] = []

    def sendall(self, data: bytes) -> None:
        self.sends.append(bytes(data))


class FakeSock:
    def __init__(self, data: bytes) -> None:
        self.buf = io.BytesIO(data)

    def recv(self, n: int) -> bytes:
        return self.buf.read(n)


def serve(resp_cls: type, raw: bytes, status: str, headers: list[tuple[str, str]],
          chunks: list[bytes]) -> RecordingSock:
    cfg = Config()
    req = next(RequestParser(cfg, FakeSock(raw), ("127.0.0.1", 1)))
    sock = RecordingSock()
    resp = resp_cls(req, sock, cfg)
    resp.start_response(status, list(headers))
    for c in chunks:
        resp.write(c)
    resp.close()
    return sock


GET11 = b"GET /v1/job/x?index=5&wait=1s HTTP/1.1\r\nHost: h\r\n\r\n"
GET10 = b"GET /v1/jobs HTTP/1.0\r\nHost: h\r\n\r\n"
HEAD11 = b"HEAD /v1/jobs HTTP/1.1\r\nHost: h\r\n\r\n"
JSON = [("Content-Type", "application/json"), ("X-Nomad-Index", "7")]
CASES = {
    "one chunk": (GET11, "200 OK", JSON + [("Content-Length", "5")], [b"hello"]),
    "two chunks": (GET11, "200 OK", JSON + [("Content-Length", "10")], [b"hello", b"world"]),
    "chunked": (GET11, "200 OK", JSON, [b"hello", b"world"]),
    "http/1.0 no length": (GET10, "200 OK", JSON, [b"hello"]),
    "head": (HEAD11, "200 OK", JSON + [("Content-Length", "5")], [b"hello"]),
    "304": (GET11, "304 Not Modified", JSON, [b""]),
    "204 with bytes": (GET11, "204 No Content", JSON, [b"oops"]),
    "truncated": (GET11, "200 OK", JSON + [("Content-Length", "3")], [b"hello"]),
    "empty then data": (GET11, "200 OK", JSON + [("Content-Length", "5")], [b"", b"hello"]),
    "no body": (GET11, "404 Not Found", JSON + [("Content-Length", "0")], []),
    "hop-by-hop dropped": (GET11, "200 OK", JSON + [("Connection", "close"), ("Content-Length", "2")], [b"ok"]),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_one_send_response_writes_the_same_bytes(conf, monkeypatch, case):
    monkeypatch.setattr(util, "http_date", lambda timestamp=None: "Thu, 01 Jan 2026 00:00:00 GMT")
    raw, status, headers, chunks = CASES[case]
    stock = serve(gwsgi.Response, raw, status, headers, chunks)
    mine = serve(conf["OneSendResponse"], raw, status, headers, chunks)
    assert b"".join(mine.sends) == b"".join(stock.sends)
    assert len(mine.sends) <= len(stock.sends)


def test_one_send_response_sends_head_and_body_together(conf):
    raw, status, headers, chunks = CASES["one chunk"]
    sock = serve(conf["OneSendResponse"], raw, status, headers, chunks)
    assert len(sock.sends) == 1
    assert sock.sends[0].startswith(b"HTTP/1.1 200 OK\r\n") and sock.sends[0].endswith(b"\r\n\r\nhello")


def test_worker_class_is_the_subclass(conf):
    assert conf["_worker_fits"]()
    from gunicorn.workers.gthread import ThreadWorker
    assert issubclass(conf["worker_class"], ThreadWorker)


def drain(q: Any, sel: selectors.BaseSelector, timeout: float) -> int:
    """Run the main thread's side once; returns how many wake-ups were seen."""
    n = 0
    for key, _ in sel.select(timeout):
        key.data(key.fileobj)
        n += 1
    return n


def test_wake_once_queue_runs_every_callback_once_in_order(conf):
    q = conf["WakeOnceQueue"]()
    q.init()
    sel = selectors.DefaultSelector()
    sel.register(q.fileno(), selectors.EVENT_READ, q.run_callbacks)
    threads, per = 8, 2000
    seen: list[list[int]] = [[] for _ in range(threads)]
    start = threading.Barrier(threads + 1)

    def producer(k: int) -> None:
        start.wait()
        for i in range(per):
            q.defer(seen[k].append, i)
            if i % 97 == 0:
                time.sleep(0)

    ts = [threading.Thread(target=producer, args=(k,)) for k in range(threads)]
    for t in ts:
        t.start()
    start.wait()
    deadline = time.monotonic() + 30
    while sum(map(len, seen)) < threads * per and time.monotonic() < deadline:
        drain(q, sel, 0.5)  # a lost wake-up would leave callbacks queued: the loop would time out
    for t in ts:
        t.join()
    for k in range(threads):
        assert seen[k] == list(range(per))
    assert drain(q, sel, 0.05) <= 1  # at most one stale byte, and nothing runs twice
    assert sum(map(len, seen)) == threads * per
    sel.close()
    q.close()


def test_wake_once_queue_writes_one_byte_and_rearms_when_bounded(conf):
    q = conf["WakeOnceQueue"]()
    q.init()
    ran: list[int] = []
    for i in range(2500):
        q.defer(ran.append, i)
    assert os.read(q.fileno(), 4096) == b"\x00"  # one byte for 2,500 callbacks
    os.write(q._write_fd, b"\x00")  # put it back
    q.run_callbacks(None, max_callbacks=1000)
    assert ran == list(range(1000))
    assert os.read(q.fileno(), 4096) == b"\x00"  # re-armed: more is queued
    q.run_callbacks(None)  # the default bound
    assert ran == list(range(1000 + q.MAX_CALLBACKS))
    assert os.read(q.fileno(), 4096) == b"\x00"
    q.run_callbacks(None)
    assert ran == list(range(2500))
    with pytest.raises(BlockingIOError):  # all done: not re-armed
        os.read(q.fileno(), 4096)
    q.defer(ran.append, 2500)  # flag cleared by the last run: a new byte
    assert os.read(q.fileno(), 4096) == b"\x00"
    q.close()
