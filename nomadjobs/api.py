"""Helpers for using nomadjobs from a test suite: jobs from JSON, and a real HTTP
server on a loopback port in a background thread.

``NomadServer`` serves the same app ``nomadjobs-server`` does (``shim.create_app``) plus
the ``/_nomadjobs/`` test-control endpoints, from a :class:`~nomadjobs.cluster.Cluster`
that the test keeps in its hands (``server.cluster``).
"""

from __future__ import annotations

import socketserver
import threading
from typing import Any, Mapping, Optional
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from . import structs as s
from .cluster import Cluster
from .codec import from_wire

__all__ = ["LOOPBACK", "NomadServer", "job_from_dict"]

LOOPBACK = "127.0.0.1"


def job_from_dict(data: Mapping[str, Any]) -> s.Job:
    """A :class:`~nomadjobs.structs.Job` from Nomad's API JSON: the job object itself,
    or a register body ``{"Job": {...}}`` (what python-nomad and ``nomad run -output``
    produce). Keys match case-insensitively and durations are nanoseconds, as in
    Nomad's HTTP API. Raises :class:`~nomadjobs.codec.DecodeError` on wrong types."""
    body = data["Job"] if isinstance(data.get("Job"), Mapping) else data
    return from_wire(dict(body), s.Job)


class _ThreadingServer(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True  # a blocking query must not keep the test process alive
    block_on_close = False  # ...nor make stop() wait up to its 5 minutes
    allow_reuse_address = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (stdlib name)
        pass  # one line per request on stderr would drown test output


class NomadServer:
    """Nomad's HTTP API for ``cluster`` on ``host:port`` (port 0: a free one), served
    by a thread per request. Use as a context manager or call :meth:`stop`."""

    def __init__(self, cluster: Optional[Cluster] = None, host: str = LOOPBACK, port: int = 0) -> None:
        from shim import create_app  # imported here: the library itself needs no HTTP stack

        from .admin_http import add_admin_routes

        self.cluster: Cluster = cluster if cluster is not None else Cluster(clock="wall")
        app = create_app(self.cluster)
        add_admin_routes(app, self.cluster)
        self.app = app
        self._httpd = make_server(host, port, app, server_class=_ThreadingServer, handler_class=_QuietHandler)
        self.host: str = host
        self.port: int = self._httpd.server_port
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"nomadjobs-http-{self.port}", daemon=True)
        self._thread.start()

    @property
    def address(self) -> str:
        """``http://127.0.0.1:PORT``: what ``NOMAD_ADDR`` and ``nomad.Nomad(address=...)`` take."""
        return f"http://{self.host}:{self.port}"

    url = address

    @property
    def token(self) -> Optional[str]:
        """The management token's SecretID when ACLs are on, else None."""
        token = self.cluster.bootstrap_token
        return token.SecretID if token is not None else None

    def stop(self) -> None:
        """Stop serving and close the cluster (idempotent)."""
        if self._thread.is_alive():
            self._httpd.shutdown()
            self._thread.join()
        self._httpd.server_close()
        self.cluster.close()

    def __enter__(self) -> "NomadServer":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"NomadServer({self.address})"
