"""A real HTTP server on a loopback port in a background thread, for test suites.

``NomadServer`` serves the same app ``nomadjobs-server`` does (:func:`shim.create_app`,
with the ``/_nomadjobs/`` test-control endpoints) from a
:class:`~nomadjobs.cluster.Cluster` that the test keeps in its hands
(``server.cluster``). ``from nomadjobs import NomadServer`` finds it here too.
"""

from __future__ import annotations

import contextlib
import os
import socketserver
import threading
from typing import Any, Iterator, Optional
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import attrs

from nomadjobs.cluster import Cluster
from nomadjobs.fleet import default_fleet

from .app import create_app

__all__ = ["LOOPBACK", "NomadServer"]

LOOPBACK = "127.0.0.1"


class _ThreadingServer(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True  # a blocking query must not keep the test process alive
    block_on_close = False  # ...nor make stop() wait up to its 5 minutes
    allow_reuse_address = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (stdlib name)
        pass  # one line per request on stderr would drown test output


def _not_ready(environ: Any, start_response: Any) -> list[bytes]:  # pragma: no cover - never served
    start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
    return [b"starting"]


class NomadServer:
    """Nomad's HTTP API for ``cluster`` on ``host:port`` (port 0: a free one), served
    by a thread per request. Use as a context manager or call :meth:`stop`."""

    def __init__(self, cluster: Optional[Cluster] = None, host: str = LOOPBACK, port: int = 0) -> None:
        self._httpd = make_server(host, port, _not_ready, server_class=_ThreadingServer,
                                  handler_class=_QuietHandler)
        self.host: str = host
        self.port: int = self._httpd.server_port
        if cluster is None:
            # Its nodes advertise this server, so the CLI's client requests
            # (`nomad logs`, `nomad fs`, `alloc-status -stats`) reach it.
            fleet = [attrs.evolve(spec, http_addr=f"{host}:{self.port}") for spec in default_fleet()]
            cluster = Cluster(fleet, clock="wall")
        self.cluster: Cluster = cluster
        self.app = app = create_app(self.cluster)
        self._httpd.set_app(app)
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

    @contextlib.contextmanager
    def environment(self) -> Iterator["NomadServer"]:
        """``NOMAD_ADDR`` (and ``NOMAD_TOKEN`` when ACLs are on, unset otherwise) pointing
        at this server while the block runs, as the ``nomad`` CLI and python-nomad read
        them; the variables are put back as they were afterwards."""
        names = ("NOMAD_ADDR", "NOMAD_TOKEN")
        saved = {name: os.environ.get(name) for name in names}
        os.environ["NOMAD_ADDR"] = self.address
        if self.token is not None:
            os.environ["NOMAD_TOKEN"] = self.token
        else:
            os.environ.pop("NOMAD_TOKEN", None)
        try:
            yield self
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value

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
