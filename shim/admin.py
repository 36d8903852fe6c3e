"""Test-control endpoints under ``/_nomadjobs/``, beside Nomad's ``/v1/`` API.

Nomad has no such paths; they exist so a test that talks to the server over HTTP can
do what a library user does with the :class:`~nomadjobs.cluster.Cluster` object:

==========================================  ===============================================
``GET /_nomadjobs/state``                   the whole state as JSON (``cluster.dump()``)
``PUT /_nomadjobs/state``                   replace the state with a dump (``cluster.load``)
``PUT /_nomadjobs/reset``                   back to a fresh cluster (``cluster.reset()``)
``PUT /_nomadjobs/advance?seconds=N``       move a virtual clock (``cluster.advance(N)``)
``PUT /_nomadjobs/run-until-quiet``         ``cluster.run_until_quiet()`` (virtual clock)
``GET /_nomadjobs/raft``                    a replicated server's Raft state
``PUT /_nomadjobs/raft/isolate?on=BOOL``    drop (or stop dropping) its Raft traffic
``PUT /_nomadjobs/raft/stop``               stop the server gracefully, after answering
``PUT /_nomadjobs/raft/kill``               kill the server (SIGKILL), after answering
==========================================  ===============================================

POST is accepted wherever PUT is. Answers are JSON; errors are plain text with a 4xx
status, like Nomad's. With ACLs on, every call needs the bootstrap (management)
token in ``X-Nomad-Token``: these endpoints can rewrite everything.
"""

from __future__ import annotations

import json
import math
import os
import signal
import threading
from typing import Any, Iterator

import falcon

from nomadjobs.acl import resolve as resolve_acl
from nomadjobs.clock import VirtualClock
from nomadjobs.cluster import Cluster
from nomadjobs.core.raft import Replica
from nomadjobs.dump import DumpError
from nomadjobs.errors import NomadError

__all__ = ["ADMIN_PREFIX", "add_admin_routes"]

ADMIN_PREFIX = "/_nomadjobs"
_PLAIN = "text/plain; charset=utf-8"
_JSON = "application/json"
_ANSWER_GRACE_S = 0.2


class _AdminError(Exception):
    def __init__(self, status: int, text: str) -> None:
        super().__init__(text)
        self.status = status
        self.text = text


class _Resource:
    """Shared plumbing: ACL check, error text, JSON out. Errors are answered here so
    the app's Nomad error handler never sees them."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster

    def _authorize(self, req: falcon.Request) -> None:
        if not self.cluster.acl_enabled:
            return
        token = self.cluster.bootstrap_token
        given = req.get_header("X-Nomad-Token") or ""
        if self.cluster.replica is not None:
            # Only the first leader minted the bootstrap token: any management token will do.
            try:
                if resolve_acl(self.cluster.snapshot(), True, given).management:
                    return
            except NomadError:
                pass
            raise _AdminError(403, "Permission denied")
        if token is None or given != token.SecretID:
            raise _AdminError(403, "Permission denied")

    def _run(self, req: falcon.Request, resp: falcon.Response, action: Any) -> None:
        try:
            self._authorize(req)
            body = action()
            if req.method != "GET":
                self.cluster.sync()  # with a data dir: answer once it is on disk
        except _AdminError as exc:
            resp.status = exc.status
            resp.content_type = _PLAIN
            resp.data = exc.text.encode()
            return
        except NomadError as exc:
            resp.status = exc.code
            resp.content_type = _PLAIN
            resp.data = exc.message.encode()
            return
        resp.status = 200
        resp.content_type = _JSON
        if isinstance(body, dict) and len(body.get("tables", ())) > 0:
            # A whole state can be large: encoded piece by piece as it is sent, so no
            # single call keeps the interpreter from the server's other threads (a
            # Raft heartbeat waiting seconds would cost the group its leader).
            resp.stream = _chunks(json.JSONEncoder().iterencode(body))
        else:
            resp.data = json.dumps(body).encode()

    def _status(self) -> dict[str, Any]:
        return {"Index": self.cluster.index, "NowNs": self.cluster.now_ns()}


def _chunks(pieces: Iterator[str], size: int = 1 << 16) -> Iterator[bytes]:
    buffer: list[str] = []
    held = 0
    for piece in pieces:
        buffer.append(piece)
        held += len(piece)
        if held >= size:
            yield "".join(buffer).encode()
            buffer, held = [], 0
    if buffer:
        yield "".join(buffer).encode()


def _read_json(req: falcon.Request) -> Any:
    raw = req.bounded_stream.read() if req.content_length else b""
    if not raw:
        raise _AdminError(400, "a JSON body is required")
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise _AdminError(400, f"invalid JSON: {exc}") from None


def _virtual(cluster: Cluster) -> None:
    if not isinstance(cluster.clock, VirtualClock):
        raise _AdminError(400, "the cluster runs on the wall clock; start it with --clock virtual")


class State(_Resource):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        self._run(req, resp, self.cluster.dump)

    def on_put(self, req: falcon.Request, resp: falcon.Response) -> None:
        def load() -> dict[str, Any]:
            data = _read_json(req)
            try:
                self.cluster.load(data)
            except (DumpError, ValueError, KeyError, TypeError) as exc:
                raise _AdminError(400, f"cannot load state: {exc}") from None
            return self._status()

        self._run(req, resp, load)

    on_post = on_put


class Reset(_Resource):
    def on_put(self, req: falcon.Request, resp: falcon.Response) -> None:
        def reset() -> dict[str, Any]:
            self.cluster.reset()
            return self._status()

        self._run(req, resp, reset)

    on_post = on_put


class Advance(_Resource):
    def on_put(self, req: falcon.Request, resp: falcon.Response) -> None:
        def advance() -> dict[str, Any]:
            _virtual(self.cluster)
            text = req.get_param("seconds") or ""
            try:
                seconds = float(text)
            except ValueError:
                raise _AdminError(400, f"seconds must be a number, got {text!r}") from None
            if not math.isfinite(seconds) or seconds < 0:
                raise _AdminError(400, "seconds must be a finite number >= 0")
            fired = self.cluster.advance(seconds)
            return {"Fired": fired, **self._status()}

        self._run(req, resp, advance)

    on_post = on_put


class RunUntilQuiet(_Resource):
    def on_put(self, req: falcon.Request, resp: falcon.Response) -> None:
        def run() -> dict[str, Any]:
            _virtual(self.cluster)
            return {"Fired": self.cluster.run_until_quiet(), **self._status()}

        self._run(req, resp, run)

    on_post = on_put


def _replica(cluster: Cluster) -> Replica:
    if cluster.replica is None:
        raise _AdminError(400, "this server is not replicated; start it with --raft-bind and --peers")
    return cluster.replica


def _after_answer(action: Any) -> None:
    """Run ``action`` once the answer had time to leave (a server that stops cannot answer)."""
    timer = threading.Timer(_ANSWER_GRACE_S, action)
    timer.daemon = True
    timer.start()


def _signal_server(signum: int) -> None:
    # The launcher (granian's or gunicorn's main process) owns the port: signal it, and
    # this worker too when the signal is a kill (a dying launcher leaves it behind).
    launcher = os.getppid()
    if launcher > 1:
        os.kill(launcher, signum)
    if signum == signal.SIGKILL or launcher <= 1:
        os.kill(os.getpid(), signum)


class Raft(_Resource):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        self._run(req, resp, lambda: _replica(self.cluster).status())


class RaftIsolate(_Resource):
    def on_put(self, req: falcon.Request, resp: falcon.Response) -> None:
        def isolate() -> dict[str, Any]:
            replica = _replica(self.cluster)
            text = (req.get_param("on") or "true").lower()
            if text not in ("true", "false", "1", "0"):
                raise _AdminError(400, f"on must be true or false, got {text!r}")
            replica.isolate(text in ("true", "1"))
            return replica.status()

        self._run(req, resp, isolate)

    on_post = on_put


class RaftStop(_Resource):
    signum = signal.SIGTERM

    def on_put(self, req: falcon.Request, resp: falcon.Response) -> None:
        def stop() -> dict[str, Any]:
            status = _replica(self.cluster).status()
            _after_answer(lambda: _signal_server(self.signum))
            return status

        self._run(req, resp, stop)

    on_post = on_put


class RaftKill(RaftStop):
    signum = signal.SIGKILL


def add_admin_routes(app: "falcon.App[Any, Any]", cluster: Cluster) -> "falcon.App[Any, Any]":
    """Serve the ``/_nomadjobs/`` endpoints from ``app`` for ``cluster``. Falcon routes
    win over the shim's catch-all sink, so Nomad's paths are untouched. Calling it
    twice on one app is harmless."""
    if getattr(app, "_nomadjobs_admin", False):
        return app
    app.add_route(f"{ADMIN_PREFIX}/state", State(cluster))
    app.add_route(f"{ADMIN_PREFIX}/reset", Reset(cluster))
    app.add_route(f"{ADMIN_PREFIX}/advance", Advance(cluster))
    app.add_route(f"{ADMIN_PREFIX}/run-until-quiet", RunUntilQuiet(cluster))
    app.add_route(f"{ADMIN_PREFIX}/raft", Raft(cluster))
    app.add_route(f"{ADMIN_PREFIX}/raft/isolate", RaftIsolate(cluster))
    app.add_route(f"{ADMIN_PREFIX}/raft/stop", RaftStop(cluster))
    app.add_route(f"{ADMIN_PREFIX}/raft/kill", RaftKill(cluster))
    setattr(app, "_nomadjobs_admin", True)
    return app
