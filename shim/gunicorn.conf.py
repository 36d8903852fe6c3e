"""Gunicorn settings for nomadjobs: ONE process, many threads.

The whole cluster lives in the worker's memory, so a second worker would be a
second, unrelated cluster. Concurrency comes from threads (gthread); blocking queries
park a thread for up to 5 minutes, so there are many threads and the worker timeout is
longer than any wait.

    gunicorn -c shim/gunicorn.conf.py shim.wsgi:app
    NOMADJOBS_BIND=127.0.0.1:5646 gunicorn -c shim/gunicorn.conf.py      # shim.wsgi:app

Options for the cluster travel as NOMADJOBS_* environment variables (see shim/wsgi.py).
"""

import os
import sys
from typing import Any, Callable, Optional

from gunicorn.http import wsgi as _gwsgi
from gunicorn.workers import gthread as _gthread

from shim.server import SWITCH_INTERVAL_S, resolve

sys.setswitchinterval(SWITCH_INTERVAL_S)  # read in the arbiter: the worker forked from it inherits it

wsgi_app = "shim.wsgi:app"  # used when no app is named on the command line
# The same NOMADJOBS_* variables as nomadjobs-server's options, read the same way.
_settings = resolve(None, os.environ)
bind = [_settings["bind"]]

workers = 1  # the state is in-process: never more than one
worker_class: str | type = "gthread"  # replaced below by a subclass, when this gunicorn has what it needs
threads = _settings["threads"]  # one per request in flight (long polls included)
worker_connections = 2 * threads  # gthread refuses connections beyond this
backlog = 2048

# gthread heartbeats from its main loop, so a long poll in a thread never trips this;
# it only has to exceed Nomad's 5-minute blocking cap (plus jitter) with room to spare.
timeout = 600
graceful_timeout = int(os.environ.get("NOMADJOBS_GRACEFUL_TIMEOUT", "10"))  # then open long polls are cut
keepalive = 30  # Go's server keeps idle connections; clients (requests) reuse them

# Gunicorn >= 25.1 opens a control socket at a FIXED default path
# ($XDG_RUNTIME_DIR/gunicorn.ctl or ~/.gunicorn/gunicorn.ctl): two servers side by side
# would fight over it. nomadjobs needs no runtime control, so it is off.
control_socket_disable = True

preload_app = False  # build the cluster inside the worker, after the fork
accesslog = "/dev/stderr" if _settings["access_log"] else None  # gunicorn's "-" is stdout
errorlog = "-"  # stderr
loglevel = _settings["log_level"]
proc_name = "nomadjobs"


# ---- the gthread worker, with fewer thread hand-offs per answer ----------------------------
#
# One write can answer a thousand blocking queries at once, and then the cost of each
# answer is mostly the number of times its thread gives up the GIL (each time, the
# GIL goes to another of the woken threads, and this one queues to get it back). Stock
# gthread gives it up three times after the app returns, besides the final wait for
# the next job: the head and the body are sent separately, and the done-callback
# writes a wake-up byte to the main thread's pipe. The subclasses below send the head
# and the first body chunk together, and write the wake-up byte only when the main
# thread has none pending (it then runs every queued callback), which leaves one (the
# send) per answer. The bytes on the wire, keep-alive and the order of the main
# thread's callbacks are unchanged.


class OneSendResponse(_gwsgi.Response):  # type: ignore[misc]  # gunicorn ships no types: its classes are Any
    """An HTTP/1 response whose head goes out with its first body chunk: one
    ``sendall`` where stock gunicorn makes two. Anything unusual (chunked, no body,
    a chunk beyond Content-Length, headers already sent) takes gunicorn's path."""

    headers_sent: bool  # set by gunicorn's Response (untyped for mypy), and below

    def write(self, arg: object) -> None:
        if (self.headers_sent or self.chunked or self._omits_body or not isinstance(arg, bytes) or not arg
                or (self.response_length is not None and len(arg) > self.response_length - self.sent)):
            super().write(arg)  # returns None
            return
        tosend = self.default_headers()  # as send_headers() builds it
        tosend.extend(["%s: %s\r\n" % (k, v) for k, v in self.headers])
        head = ("%s\r\n" % "".join(tosend)).encode("latin-1")
        self.headers_sent = True
        self.sent += len(arg)
        self.sock.sendall(head + arg)


class WakeOnceQueue(_gthread.PollableMethodQueue):  # type: ignore[misc]  # gunicorn ships no types
    """gthread's queue of callbacks for the main thread, with at most one wake-up
    byte in the pipe: a worker thread writes one only if the main thread has none
    pending, and the main thread clears the flag before running the whole queue
    (bounded; it re-arms itself if more is left), so no callback is left waiting."""

    MAX_CALLBACKS = 1024  # per wake-up, so accept() and timeouts still get their turn

    def init(self) -> None:
        super().init()
        self._armed = False

    def _arm(self) -> None:
        self._armed = True
        try:
            os.write(self._write_fd, b"\x00")
        except OSError:  # no byte went in: let the next defer() try again
            self._armed = False

    def defer(self, callback: Callable[..., object], *args: Any) -> None:
        self._queue.put(_gthread.partial(callback, *args))  # queued BEFORE the flag is read
        if not self._armed:
            self._arm()

    def run_callbacks(self, _fileobj: object, max_callbacks: Optional[int] = None) -> None:
        try:
            os.read(self._read_fd, 4096)
        except OSError:
            pass
        self._armed = False  # cleared BEFORE the queue is read: a later defer() writes a byte
        get = self._queue.get_nowait
        for _ in range(max_callbacks or self.MAX_CALLBACKS):
            try:
                callback = get()
            except _gthread.queue.Empty:
                return
            callback()
        self._arm()  # more left: come back after the other events


class ThreadWorker(_gthread.ThreadWorker):  # type: ignore[misc]  # gunicorn ships no types
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.method_queue = WakeOnceQueue()

    def init_process(self) -> None:
        # wsgi.create() builds HTTP/1 responses from this module global (HTTP/2 ones
        # from their own class); set in the worker process only.
        _gwsgi.Response = OneSendResponse
        super().init_process()


def _worker_fits() -> bool:
    """Whether this gunicorn has the internals the subclasses rely on (else: stock gthread)."""
    import inspect
    resp = _gwsgi.Response
    return (all(hasattr(resp, a) for a in ("default_headers", "send_headers", "_response_omits_body"))
            and "response_class" in inspect.signature(_gwsgi.create).parameters
            and all(hasattr(_gthread.PollableMethodQueue, a) for a in ("defer", "run_callbacks", "init"))
            and hasattr(_gthread, "partial") and hasattr(_gthread, "queue"))


if _worker_fits():
    worker_class = ThreadWorker


def child_exit(server: Any, worker: Any) -> None:
    """A worker that dies while the server is serving took the cluster with it: stop,
    loudly, rather than respawn an empty cluster on the same port. With a data dir the
    state is on disk: gunicorn starts a new worker, which restores it."""
    if os.environ.get("NOMADJOBS_DATA_DIR"):
        server.log.warning("worker (pid %s) died; its replacement restores the cluster from %s", worker.pid,
                           os.environ["NOMADJOBS_DATA_DIR"])
        return
    if server.LISTENERS:  # stop() empties them first: exits during a shutdown are expected
        from gunicorn.errors import HaltServer
        raise HaltServer(f"worker (pid {worker.pid}) died and its in-memory cluster with it; stopping", 1)
