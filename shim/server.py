"""``nomadjobs-server``: serve the in-memory Nomad over HTTP.

The cluster is built inside the server's (single) worker process; the options below
reach it as ``NOMADJOBS_*`` environment variables read by :mod:`shim.wsgi`.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import uuid
from pathlib import Path
from typing import Optional, Sequence

DEFAULT_BIND = "127.0.0.1:4646"
DEFAULT_THREADS = 1024  # blocking queries each hold a thread for up to 5 minutes
GRACEFUL_S = 10
# How long a thread may keep the GIL while others wait for it (Python's default is 5 ms).
# Every waiting thread wakes once per interval to check: when one write answers a
# thousand long polls, their threads would spend more on those wake-ups than on the
# answers. Requests release the GIL when they return or do I/O, so this only bounds
# how long a busy request can hold the others up.
SWITCH_INTERVAL_S = 0.05


def parse_bind(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[v6]:PORT`` too) -> (host, port)."""
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) < 65536:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host, int(port)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="nomadjobs-server",
                                description="An in-memory Nomad v0.7.1 Jobs API over HTTP.")
    p.add_argument("--bind", default=DEFAULT_BIND, type=str, metavar="HOST:PORT",
                   help=f"address to listen on (default {DEFAULT_BIND})")
    p.add_argument("--server", choices=("granian", "gunicorn"), default="granian",
                   help="HTTP server (default granian)")
    p.add_argument("--fleet", choices=("default", "golden", "large"), default="default",
                   help="simulated client nodes (default: 3 nodes with docker, exec, raw_exec, java)")
    p.add_argument("--nodes", type=int, default=None, metavar="N", help="fleet size (default and large fleets)")
    p.add_argument("--seed", type=int, default=0, help="seed for IDs and scheduling (default 0)")
    p.add_argument("--clock", choices=("wall", "virtual"), default="wall",
                   help="wall: allocations progress in real time; virtual: time stands still")
    p.add_argument("--acl", action="store_true",
                   help="enable ACLs; the bootstrap management token's SecretID is printed on stdout")
    p.add_argument("--acl-token", default=None, metavar="SECRET",
                   help="use SECRET as the bootstrap management token (implies --acl)")
    p.add_argument("--threads", type=int, default=DEFAULT_THREADS,
                   help=f"request threads, i.e. requests in flight incl. long polls (default {DEFAULT_THREADS})")
    p.add_argument("--log-level", default="info", choices=("debug", "info", "warning", "error"))
    return p


def server_env(args: argparse.Namespace, secret: Optional[str]) -> dict[str, str]:
    env = {
        "NOMADJOBS_BIND": args.bind,
        "NOMADJOBS_FLEET": args.fleet,
        "NOMADJOBS_SEED": str(args.seed),
        "NOMADJOBS_CLOCK": args.clock,
        "NOMADJOBS_THREADS": str(args.threads),
        "NOMADJOBS_LOG_LEVEL": args.log_level,
        "NOMADJOBS_GRACEFUL_TIMEOUT": str(GRACEFUL_S),
    }
    if args.nodes is not None:
        env["NOMADJOBS_NODES"] = str(args.nodes)
    if secret is not None:
        env["NOMADJOBS_ACL"] = "1"
        env["NOMADJOBS_ACL_TOKEN"] = secret
    return env


def check_config(env: dict[str, str]) -> None:
    """Fail in the parent, with a message, rather than in the worker."""
    from .wsgi import ConfigError
    from nomadjobs.fleet import fleet_by_name
    try:
        nodes = int(env["NOMADJOBS_NODES"]) if "NOMADJOBS_NODES" in env else None
        if nodes is not None and nodes < 1:
            raise ConfigError("--nodes must be at least 1")
        fleet_by_name(env["NOMADJOBS_FLEET"], nodes)
    except (ValueError, ConfigError) as exc:
        raise SystemExit(f"nomadjobs-server: {exc}") from None


def run_granian(host: str, port: int, threads: int, log_level: str) -> None:
    from granian import Granian
    from granian.constants import Interfaces
    from granian.log import LogLevels

    sys.setswitchinterval(SWITCH_INTERVAL_S)  # inherited by the forked worker
    server = Granian(
        "shim.wsgi:app",
        address=host,
        port=port,
        interface=Interfaces.WSGI,
        workers=1,  # the state is in-process: never more than one
        blocking_threads=threads,  # WSGI calls run here; a long poll holds one
        backpressure=threads,
        backlog=2048,
        workers_kill_timeout=GRACEFUL_S,  # cut open long polls on shutdown
        log_level=LogLevels(log_level),
        websockets=False,
    )
    server.serve()  # SIGINT/SIGTERM: graceful stop


def run_gunicorn() -> None:
    from gunicorn.app.wsgiapp import WSGIApplication

    conf = Path(__file__).with_name("gunicorn.conf.py")
    sys.argv = ["nomadjobs-server", "-c", str(conf), "shim.wsgi:app"]
    WSGIApplication("%(prog)s [OPTIONS] [APP_MODULE]").run()  # SIGTERM/SIGINT handled by the arbiter


def preload() -> None:
    """Import the app's modules in this process: the serving worker is forked from
    it and inherits them. Importing allocates a great deal and frees almost nothing,
    so the collector is paused meanwhile, and what it built is frozen (kept out of
    later collections)."""
    gc.disable()
    try:
        from . import app, wsgi  # noqa: F401
        gc.freeze()
    finally:
        gc.enable()


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = build_parser().parse_args(argv)
    try:
        host, port = parse_bind(args.bind)
    except argparse.ArgumentTypeError as exc:
        raise SystemExit(f"nomadjobs-server: --bind: {exc}") from None
    if args.threads < 1:
        raise SystemExit("nomadjobs-server: --threads must be at least 1")
    secret = None
    if args.acl or args.acl_token:
        secret = args.acl_token or str(uuid.uuid4())  # random, not from the cluster's seed
    env = server_env(args, secret)
    preload()
    check_config(env)
    os.environ.update(env)
    if secret is not None:
        print(secret, flush=True)  # the only line on stdout: scripts read it
    if args.server == "gunicorn":
        run_gunicorn()
    else:
        run_granian(host, port, args.threads, args.log_level)


if __name__ == "__main__":
    main()
