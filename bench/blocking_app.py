"""The wake-up ceiling: a trivial Falcon WSGI app with blocking queries and nothing else.

``bench.loadgen blockwake`` drives it exactly as it drives ``nomadjobs-server``: a
``GET /v1/job/<id>?index=N`` parks until a ``POST /v1/jobs`` moves the index past N,
then every parked request gets the same 1 KB JSON. Served under the shipped server
configurations (``bench/serve_trivial.py --app blocking``), it shows how long that
server stack needs to answer 1,000 woken requests when the application costs
nothing, beside the figure for nomadjobs in the same run.
"""

from __future__ import annotations

import threading
from typing import Optional

import falcon
import orjson

from .trivial_app import BODY

WAIT_CAP_S = 300.0  # Nomad's cap on a blocking query's wait


def parse_wait(text: Optional[str]) -> float:
    """``120s`` / ``500ms`` / ``2m`` -> seconds (capped); absent or unreadable -> the cap."""
    if not text:
        return WAIT_CAP_S
    for suffix, scale in (("ms", 1e-3), ("s", 1.0), ("m", 60.0)):
        if text.endswith(suffix):
            try:
                return min(float(text[: -len(suffix)]) * scale, WAIT_CAP_S)
            except ValueError:
                return WAIT_CAP_S
    return WAIT_CAP_S


class Watch:
    """One index and the requests waiting for it to move (one event per request)."""

    def __init__(self) -> None:
        self.index = 1
        self._lock = threading.Lock()
        self._waiters: list[threading.Event] = []

    def wait_past(self, index: int, timeout: float) -> int:
        ev = threading.Event()
        with self._lock:
            if self.index > index:
                return self.index
            self._waiters.append(ev)  # registered under the lock: no write slips between
        ev.wait(timeout)
        return self.index

    def bump(self) -> int:
        with self._lock:
            self.index += 1
            fire, self._waiters = self._waiters, []
        for ev in fire:  # after the lock, as the store wakes its waiters
            ev.set()
        return self.index


class Job:
    def __init__(self, watch: Watch) -> None:
        self.watch = watch

    def on_get(self, req: falcon.Request, resp: falcon.Response, job_id: str) -> None:
        index = req.get_param_as_int("index")
        current = (self.watch.wait_past(index, parse_wait(req.get_param("wait"))) if index is not None
                   else self.watch.index)
        resp.content_type = "application/json"
        resp.set_header("X-Nomad-Index", str(current))
        resp.data = BODY


class Jobs:
    def __init__(self, watch: Watch) -> None:
        self.watch = watch

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.content_type = "application/json"
        resp.set_header("X-Nomad-Index", str(self.watch.index))
        resp.data = b"[]"

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        req.bounded_stream.read()
        index = self.watch.bump()
        resp.content_type = "application/json"
        resp.data = orjson.dumps({"EvalID": "", "EvalCreateIndex": index, "JobModifyIndex": index,
                                  "Index": index})


def create_app() -> falcon.App:
    watch = Watch()
    app = falcon.App()
    app.add_route("/v1/jobs", Jobs(watch))
    app.add_route("/v1/job/{job_id}", Job(watch))
    return app


app = create_app()
