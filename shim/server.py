"""``nomadjobs-server``: serve the in-memory Nomad over HTTP.

The cluster is built inside the server's (single) worker process; the options below
reach it as ``NOMADJOBS_*`` environment variables read by :mod:`shim.wsgi`.
"""

from __future__ import annotations

import argparse
import gc
import importlib.metadata
import logging
import os
import socket
import sys
import uuid
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

import attrs

from nomadjobs.golang.time import parse_duration
from nomadjobs.limits import Limits

DEFAULT_BIND = "127.0.0.1:4646"
# Blocking queries each hold a thread for up to 5 minutes, and Nomad sets no cap on them.
# A parked thread costs no CPU and about 40-90 KB of memory, and both servers start
# threads only as requests need them (bench/long_polls.py: 10,000 parked, a plain GET
# answered in 3 ms); past this many, requests queue.
DEFAULT_THREADS = 16384
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


class ConfigError(ValueError):
    """An option's value the server cannot use."""


@attrs.frozen
class Option:
    """One server option: a flag and the ``NOMADJOBS_*`` variable that sets it too."""

    flag: str
    env: str
    default: Optional[str]
    help: str
    choices: tuple[str, ...] = ()
    kind: str = "str"  # str | int | bool | duration (Go's syntax, e.g. 4h; resolved to ns)
    minimum: int = 1
    metavar: Optional[str] = None

    @property
    def dest(self) -> str:
        return self.flag.lstrip("-").replace("-", "_")


_LIMITS = Limits()
OPTIONS = (
    Option("--bind", "NOMADJOBS_BIND", DEFAULT_BIND, "address to listen on", metavar="HOST:PORT"),
    Option("--server", "NOMADJOBS_SERVER", "granian", "HTTP server", choices=("granian", "gunicorn")),
    Option("--fleet", "NOMADJOBS_FLEET", "default",
           "simulated client nodes (default: 3 nodes with docker, exec, raw_exec, java)",
           choices=("default", "golden", "large")),
    Option("--nodes", "NOMADJOBS_NODES", None, "fleet size (default and large fleets)", kind="int", metavar="N"),
    Option("--seed", "NOMADJOBS_SEED", "0", "seed for IDs and scheduling", kind="int", minimum=0, metavar="N"),
    Option("--clock", "NOMADJOBS_CLOCK", "wall",
           "wall: allocations progress in real time; virtual: time stands still", choices=("wall", "virtual")),
    Option("--acl", "NOMADJOBS_ACL", "0",
           "enable ACLs, not yet bootstrapped (`nomad acl bootstrap` makes the first token)", kind="bool"),
    Option("--acl-bootstrap", "NOMADJOBS_ACL_BOOTSTRAP", "0",
           "enable ACLs and bootstrap them at start; the token's SecretID is printed alone on stdout",
           kind="bool"),
    Option("--acl-token-file", "NOMADJOBS_ACL_TOKEN_FILE", None,
           "read the bootstrap token's SecretID from this file (implies --acl-bootstrap)", metavar="PATH"),
    Option("--acl-token", "NOMADJOBS_ACL_TOKEN", None,
           "the bootstrap token's SecretID (implies --acl-bootstrap; prefer the variable or a file: "
           "a flag shows in ps)", metavar="SECRET"),
    Option("--threads", "NOMADJOBS_THREADS", str(DEFAULT_THREADS),
           "request threads, i.e. requests in flight incl. long polls", kind="int", metavar="N"),
    Option("--log-level", "NOMADJOBS_LOG_LEVEL", "info", "log level (logs go to stderr)",
           choices=("debug", "info", "warning", "error")),
    Option("--access-log", "NOMADJOBS_ACCESS_LOG", "0", "log every request on stderr", kind="bool"),
    Option("--max-job-allocations", "NOMADJOBS_MAX_JOB_ALLOCATIONS", str(_LIMITS.max_job_allocations),
           "allocations one job may ask for (the sum of its counts)", kind="int", metavar="N"),
    Option("--max-body-bytes", "NOMADJOBS_MAX_BODY_BYTES", str(_LIMITS.max_body_bytes),
           "bytes in one request body", kind="int", metavar="N"),
    Option("--max-json-depth", "NOMADJOBS_MAX_JSON_DEPTH", str(_LIMITS.max_json_depth),
           "nesting of JSON arrays and objects in one request body", kind="int", metavar="N"),
    Option("--data-dir", "NOMADJOBS_DATA_DIR", None,
           "keep the state in this directory (SQLite) across restarts and crashes; without it the "
           "state lives in memory only", metavar="DIR"),
    Option("--fsync", "NOMADJOBS_FSYNC", "0",
           "with --data-dir: sync every commit to the disk, so an acknowledged write also survives a "
           "crash of the machine (slower)", kind="bool"),
    Option("--raft-bind", "NOMADJOBS_RAFT_BIND", None,
           "make this server one of a Raft group: its Raft address (needs --data-dir; loopback unless "
           "--raft-password is set)", metavar="HOST:PORT"),
    Option("--peers", "NOMADJOBS_PEERS", None,
           "with --raft-bind: the other servers' Raft addresses, comma-separated", metavar="HOST:PORT,..."),
    Option("--advertise", "NOMADJOBS_ADVERTISE", None,
           "with --raft-bind: the HTTP address the other servers forward requests to (default: --bind)",
           metavar="HOST:PORT"),
    Option("--raft-password", "NOMADJOBS_RAFT_PASSWORD", None,
           "with --raft-bind: a secret shared by the group, which encrypts and authenticates its Raft traffic "
           "(prefer the variable: a flag shows in ps)", metavar="SECRET"),
    Option("--raft-snapshot-threshold", "NOMADJOBS_RAFT_SNAPSHOT_THRESHOLD", "8192",
           "with --raft-bind: Raft log entries between snapshots", kind="int", minimum=2, metavar="N"),
    Option("--jobs", "NOMADJOBS_JOBS", None,
           "register every job file (*.nomad, *.hcl) of this directory at start, by name, as "
           "`nomad run` would", metavar="DIR"),
    Option("--eval-gc-threshold", "NOMADJOBS_EVAL_GC_THRESHOLD", "1h",
           "age at which finished evaluations are collected (Nomad's eval_gc_threshold)", kind="duration",
           metavar="DURATION"),
    Option("--job-gc-threshold", "NOMADJOBS_JOB_GC_THRESHOLD", "4h",
           "age at which finished jobs are collected (Nomad's job_gc_threshold)", kind="duration",
           metavar="DURATION"),
    Option("--deployment-gc-threshold", "NOMADJOBS_DEPLOYMENT_GC_THRESHOLD", "1h",
           "age at which finished deployments are collected (Nomad's deployment_gc_threshold)",
           kind="duration", metavar="DURATION"),
    Option("--node-gc-threshold", "NOMADJOBS_NODE_GC_THRESHOLD", "24h",
           "age at which down nodes are collected (Nomad's node_gc_threshold)", kind="duration",
           metavar="DURATION"),
)
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def version_text() -> str:
    try:
        mine = importlib.metadata.version("nomadjobs")
    except importlib.metadata.PackageNotFoundError:
        mine = "unknown"
    return f"nomadjobs-server {mine} (Nomad v0.7.1 HTTP API)"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="nomadjobs-server", description="An in-memory Nomad v0.7.1 over HTTP.",
        epilog="Every option can also be set by the NOMADJOBS_* variable shown after it; the flag wins.")
    p.add_argument("--version", action="version", version=version_text())
    for o in OPTIONS:
        shown = f" (default {o.default})" if o.default not in (None, "0") or o.kind == "int" else ""
        text = f"{o.help}{shown if o.default is not None else ''}; {o.env}"
        if o.kind == "bool":
            p.add_argument(o.flag, dest=o.dest, action="store_const", const="1", default=None, help=text)
        else:
            p.add_argument(o.flag, dest=o.dest, default=None, metavar=o.metavar or o.dest.upper(),
                           help=text + (f" ({'|'.join(o.choices)})" if o.choices else ""))
    return p


class Settings(dict[str, Any]):
    """Resolved options, by ``dest``."""


def resolve(args: Optional[argparse.Namespace], env: Mapping[str, str]) -> Settings:
    """Each option from its flag, else its variable, else its default; checked, with
    the flag or variable named in the error."""
    out = Settings()
    for o in OPTIONS:
        given = getattr(args, o.dest) if args is not None else None
        source = o.flag if given is not None else o.env
        text = given if given is not None else env.get(o.env, o.default)
        if text is None:
            out[o.dest] = None
            continue
        if o.kind == "bool":
            if text.lower() not in _TRUE | _FALSE:
                raise ConfigError(f"{source}: expected 1/true/yes/on or 0/false/no/off, got {text!r}")
            out[o.dest] = text.lower() in _TRUE
        elif o.kind == "int":
            try:
                value = int(text, 10)
            except ValueError:
                raise ConfigError(f"{source}: expected an integer, got {text!r}") from None
            if value < o.minimum:
                raise ConfigError(f"{source} must be at least {o.minimum}, got {value}")
            out[o.dest] = value
        elif o.kind == "duration":
            try:
                ns = parse_duration(text)
            except ValueError as exc:
                raise ConfigError(f"{source}: {exc}") from None
            if ns <= 0:
                raise ConfigError(f"{source} must be positive, got {text!r}")
            out[o.dest] = text
        else:
            if o.choices and text not in o.choices:
                raise ConfigError(f"{source}: expected one of {', '.join(o.choices)}, got {text!r}")
            out[o.dest] = text
    try:
        out["host"], out["port"] = parse_bind(out["bind"])
    except argparse.ArgumentTypeError as exc:
        raise ConfigError(f"--bind: {exc}") from None
    secret = out["acl_token"]
    if out["acl_token_file"]:
        try:
            secret = Path(out["acl_token_file"]).read_text().strip()
        except OSError as exc:
            raise ConfigError(f"--acl-token-file: {exc.strerror}: {out['acl_token_file']}") from None
        if not secret:
            raise ConfigError(f"--acl-token-file: {out['acl_token_file']} is empty")
    bootstrap = secret is not None or out["acl_bootstrap"]
    if bootstrap or out["acl"]:
        out["acl"] = True
    # The bootstrap token's secret: given, or random (not from the cluster's seed).
    out["secret"] = (secret or str(uuid.uuid4())) if bootstrap else None
    _resolve_raft(out, bootstrap and secret is None)
    return out


_LOOPBACK = ("127.", "localhost", "::1")


def _resolve_raft(out: Settings, random_secret: bool) -> None:
    """The Raft options: consistent with each other and with the rest."""
    out["peer_list"] = []
    if out["raft_bind"] is None:
        for flag in ("peers", "advertise", "raft_password"):
            if out[flag] is not None:
                raise ConfigError(f"--{flag.replace('_', '-')} needs --raft-bind")
        return
    try:
        host, _ = parse_bind(out["raft_bind"])
        peers = [text.strip() for text in (out["peers"] or "").split(",") if text.strip()]
        for peer in peers:
            parse_bind(peer)
        if out["advertise"] is not None:
            parse_bind(out["advertise"])
    except argparse.ArgumentTypeError as exc:
        raise ConfigError(f"--raft-bind/--peers/--advertise: {exc}") from None
    if out["raft_bind"] in peers:
        peers.remove(out["raft_bind"])
    out["peer_list"] = peers
    if not out["data_dir"]:
        raise ConfigError("--raft-bind needs --data-dir (the Raft log and snapshots are kept there)")
    if not host.startswith(_LOOPBACK) and not out["raft_password"]:
        raise ConfigError(f"--raft-bind {out['raft_bind']} is not a loopback address: set --raft-password "
                          "(NOMADJOBS_RAFT_PASSWORD), the group's shared secret; the Raft port accepts "
                          "pickled commands")
    if out["fsync"]:
        raise ConfigError("--fsync is not available with --raft-bind (the Raft journal is written through "
                          "the page cache: a write survives a crash of the process, see docs/replication.md)")
    if out["clock"] != "wall":
        raise ConfigError("--raft-bind needs the wall clock (each server has its own; the leader's decides)")
    if random_secret:
        raise ConfigError("--acl-bootstrap with --raft-bind needs --acl-token or --acl-token-file: every "
                          "server of the group must know the token the first leader bootstraps")
    if out["advertise"] is None:
        if out["host"] in ("0.0.0.0", "::", ""):
            raise ConfigError(f"--bind {out['bind']} is no address the other servers can reach: set --advertise")
        out["advertise"] = out["bind"]


def server_env(settings: Settings) -> dict[str, str]:
    """What the worker process reads (shim.wsgi), every option resolved."""
    env = {o.env: str(settings[o.dest]) for o in OPTIONS
           if o.kind != "bool" and settings[o.dest] is not None and o.dest not in ("acl_token", "acl_token_file")}
    if settings["raft_bind"] is not None:
        env["NOMADJOBS_PEERS"] = ",".join(settings["peer_list"])
    env.update({o.env: "1" if settings[o.dest] else "0" for o in OPTIONS if o.kind == "bool"})
    env["NOMADJOBS_GRACEFUL_TIMEOUT"] = str(GRACEFUL_S)
    if settings["secret"] is not None:
        env["NOMADJOBS_ACL_TOKEN"] = settings["secret"]
    return env


def check_bind(host: str, port: int) -> None:
    """Fail now if the address is taken. granian binds with SO_REUSEPORT, which would
    let a second server share a busy port and split its traffic with another cluster;
    a plain bind, as this one is, fails while any socket listens there."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT is not "in use"
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror}") from None


def check_config(env: Mapping[str, str]) -> Optional[dict[str, Any]]:
    """Build nothing, but fail here, with a message, on what the worker would refuse.
    Returns what an existing data dir says of itself (see recovery.check_data_dir)."""
    from nomadjobs.fleet import fleet_by_name
    nodes = int(env["NOMADJOBS_NODES"]) if "NOMADJOBS_NODES" in env else None
    try:
        fleet_by_name(env["NOMADJOBS_FLEET"], nodes)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    if env.get("NOMADJOBS_JOBS"):
        check_job_files(env["NOMADJOBS_JOBS"])
    if env.get("NOMADJOBS_DATA_DIR"):
        from nomadjobs.recovery import DataDirError, check_data_dir
        try:
            # in use, another format, another cluster, another kind of server
            return check_data_dir(env["NOMADJOBS_DATA_DIR"], raft=bool(env.get("NOMADJOBS_RAFT_BIND")))
        except DataDirError as exc:
            raise ConfigError(str(exc)) from None
    return None


def check_job_files(directory: str) -> None:
    """``--jobs``: every file parses and validates (as ``nomad validate`` would), or the
    start fails here, naming the file."""
    from nomadjobs import structs as s
    from nomadjobs.cluster import Cluster
    from nomadjobs.codec import job_from_dict
    from nomadjobs.jobspec import JobspecError, parse_dir
    try:
        files = parse_dir(directory)
    except JobspecError as exc:
        raise ConfigError(f"--jobs: {exc}") from None
    checker = Cluster([], simulate_clients=False)
    try:
        for name, job in files:
            answer = checker.jobs.validate_job(s.JobValidateRequest(Job=job_from_dict(job)))
            if answer.Error:
                raise ConfigError(f"--jobs: {name}: {answer.Error}")
    finally:
        checker.close()


def keep_bootstrap_token(settings: Settings, env: dict[str, str], found: Optional[dict[str, Any]]) -> None:
    """A restored cluster keeps the token it was bootstrapped with: print that one (a
    secret chosen now must be the same)."""
    stored = (found or {}).get("bootstrap_secret")
    if stored is None or settings["secret"] is None:
        return
    chosen = settings["acl_token"] is not None or settings["acl_token_file"] is not None
    if chosen and settings["secret"] != stored:
        raise ConfigError(f"{settings['data_dir']} was bootstrapped with another ACL token; "
                          "drop --acl-token/--acl-token-file to use it")
    settings["secret"] = env["NOMADJOBS_ACL_TOKEN"] = stored


class ThreadCountWarningFilter(logging.Filter):
    """Drops granian's warning about many Python threads: the thread count is chosen
    on purpose (a parked blocking query holds one), so the warning at every start only
    teaches operators to skim the log."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Configuration allows spawning up to")


def granian_logging(level: str) -> dict[str, Any]:
    """granian's logging, on stderr (it logs to stdout, whose only line is the token),
    with the app's own loggers beside its."""
    handlers: dict[str, dict[str, Any]] = {
        name: {"formatter": name, "class": "logging.StreamHandler", "stream": "ext://sys.stderr"}
        for name in ("generic", "access")}
    handlers["generic"]["filters"] = ["threads"]
    return {
        "filters": {"threads": {"()": "shim.server.ThreadCountWarningFilter"}},
        "handlers": {"console": handlers["generic"], "access": handlers["access"]},
        "loggers": {
            "_granian": {"handlers": ["console"], "level": level.upper(), "propagate": False},
            "granian.access": {"handlers": ["access"], "level": "INFO", "propagate": False},
            "nomadjobs": {"handlers": ["console"], "level": level.upper(), "propagate": False},
        },
    }


def run_granian(host: str, port: int, threads: int, log_level: str, access_log: bool = False,
                durable: bool = False) -> None:
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
        log_dictconfig=granian_logging(log_level),
        log_access=access_log,
        websockets=False,
        # A new worker restores a durable cluster; an in-memory one would start empty.
        respawn_failed_workers=durable,
    )
    try:
        server.serve()  # SIGINT/SIGTERM: graceful stop
    except SystemExit as exc:
        # granian stops with status 1 when its worker dies (it does not respawn it:
        # a new worker would serve an empty cluster on the same port).
        if exc.code not in (0, None):
            print("nomadjobs-server: the worker died and its in-memory cluster with it; stopped",
                  file=sys.stderr, flush=True)
        raise


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
        settings = resolve(args, os.environ)
        env = server_env(settings)
        keep_bootstrap_token(settings, env, check_config(env))
        check_bind(settings["host"], settings["port"])
        if settings["raft_bind"]:  # PySyncObj would retry a taken port for ever
            check_bind(*parse_bind(settings["raft_bind"]))
    except ConfigError as exc:
        raise SystemExit(f"nomadjobs-server: {exc}") from None
    preload()
    os.environ.update(env)
    if settings["secret"] is not None:
        print(settings["secret"], flush=True)  # the only line on stdout: scripts read it
    if settings["server"] == "gunicorn":
        run_gunicorn()
    else:
        run_granian(settings["host"], settings["port"], settings["threads"], settings["log_level"],
                    settings["access_log"], durable=settings["data_dir"] is not None)


if __name__ == "__main__":
    main()
