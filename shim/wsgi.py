"""The WSGI entry point for servers that import their app by name.

``shim.wsgi:app`` is built (once, on first access, inside the serving worker) from
``NOMADJOBS_*`` environment variables, which is how ``nomadjobs-server`` hands its
options to the worker processes gunicorn and granian start. The variables are the
server's options (``shim.server.OPTIONS``; the table is in docs/configuration.md),
read and checked the same way.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from typing import Any, Mapping, Optional

import attrs

from nomadjobs.cluster import Cluster
from nomadjobs.core.raft import RaftSettings
from nomadjobs.fleet import fleet_by_name
from nomadjobs.golang.time import parse_duration
from nomadjobs.lifecycle import GCConfig
from nomadjobs.errors import NomadError
from nomadjobs.jobspec import JobspecError, parse_dir
from nomadjobs.limits import Limits
from nomadjobs.recovery import DataDirError

from .server import ConfigError, resolve

__all__ = ["ConfigError", "cluster_from_env", "get_app"]

PARENT_POLL_S = 1.0


def cluster_from_env(env: Optional[Mapping[str, str]] = None) -> Cluster:
    """A Cluster configured by ``NOMADJOBS_*`` (all unset: wall clock, default fleet),
    every variable read and checked as ``nomadjobs-server`` reads its options."""
    env = os.environ if env is None else env
    settings = resolve(None, env)
    try:
        fleet = fleet_by_name(settings["fleet"], settings["nodes"])
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    # This process answers for every simulated client agent too (/v1/client/...):
    # the nodes say so, so `nomad logs` and `nomad fs` come here.
    fleet = [attrs.evolve(spec, http_addr=f"{settings['host']}:{settings['port']}") for spec in fleet]
    seed, clock, acl = settings["seed"], settings["clock"], settings["acl"]
    token = settings["secret"] if env.get("NOMADJOBS_ACL_TOKEN") or env.get("NOMADJOBS_ACL_TOKEN_FILE") else ""
    limits = Limits(max_job_allocations=settings["max_job_allocations"],
                    max_body_bytes=settings["max_body_bytes"], max_json_depth=settings["max_json_depth"])
    # The serving process holds one long-lived state: keep the collector off it (gcpolicy).
    # It keeps no history either: the HTTP API never reads a past commit (blocking queries
    # compare table indexes), and each retained commit keeps the rows and index nodes it
    # replaced alive, about a seventh of a register's CPU at the library's default of 256.
    gc = GCConfig(eval_threshold_ns=parse_duration(settings["eval_gc_threshold"]),
                  job_threshold_ns=parse_duration(settings["job_gc_threshold"]),
                  deployment_threshold_ns=parse_duration(settings["deployment_gc_threshold"]),
                  node_threshold_ns=parse_duration(settings["node_gc_threshold"]))
    raft = None
    if settings["raft_bind"]:
        raft = RaftSettings(bind=settings["raft_bind"], peers=tuple(settings["peer_list"]),
                            http_addr=settings["advertise"], password=settings["raft_password"],
                            snapshot_threshold=settings["raft_snapshot_threshold"])
    try:
        cluster = Cluster(fleet, seed=seed, clock=clock, acl=acl, acl_token=token or None, freeze_gc=True,
                          history=1, limits=limits, acl_bootstrap=bool(token) or settings["acl_bootstrap"], gc=gc,
                          data_dir=settings["data_dir"], fsync=settings["fsync"], raft=raft)
    except DataDirError as exc:
        raise ConfigError(str(exc)) from None
    bootstrap = cluster.bootstrap_token  # when bootstrapped at start
    if settings["jobs"]:
        jobs = settings["jobs"]
        if raft is not None:  # registered by the group's first leader
            cluster.first_start_hooks.append(lambda: register_job_files(cluster, jobs))
        else:
            register_job_files(cluster, jobs)
    if raft is not None:
        print(f"nomadjobs: Raft server {raft.bind} of a group of {len(raft.peers) + 1}, state in "
              f"{settings['data_dir']}", file=sys.stderr, flush=True)
    elif cluster.restored:
        print(f"nomadjobs: restored the state at index {cluster.core.index} from {settings['data_dir']}",
              file=sys.stderr, flush=True)
    elif bootstrap is not None and not token:
        # Nobody chose the secret, so this process is the only one who knows it.
        print(f"nomadjobs: ACL bootstrap token SecretID: {bootstrap.SecretID}",
              file=sys.stderr, flush=True)
    return cluster


def register_job_files(cluster: Cluster, directory: str) -> None:
    """``--jobs DIR``: each job file, by name, registered as ``nomad run`` would (with
    the bootstrap token when ACLs are on). A job the server refuses stops the start."""
    token = cluster.bootstrap_token.SecretID if cluster.bootstrap_token is not None else ""
    try:
        for name, job in parse_dir(directory):
            try:
                cluster.register(job, token)
            except NomadError as exc:
                raise ConfigError(f"--jobs: {name}: {exc.message}") from None
    except JobspecError as exc:
        raise ConfigError(f"--jobs: {exc}") from None


_lock = threading.Lock()
_app: Any = None


def get_app() -> Any:
    """The process's app, built on first use."""
    global _app
    with _lock:
        if _app is None:
            from .app import create_app
            _app = create_app(cluster_from_env())
            _exit_with_launcher()
        return _app


def __getattr__(name: str) -> Any:
    # ``shim.wsgi:app`` without building a cluster on mere import.
    if name == "app":
        return get_app()
    raise AttributeError(name)


def _exit_with_launcher() -> None:
    """End this worker when the process that started it dies: a launcher killed with
    SIGKILL cannot stop its worker, which would go on serving its cluster as an orphan
    and share the port with the next server started there."""
    launcher = os.getppid()
    if launcher <= 1:
        return  # started directly (or by init): nothing to follow

    def watch() -> None:
        while True:
            time.sleep(PARENT_POLL_S)
            if os.getppid() != launcher:
                print(f"nomadjobs: launcher (pid {launcher}) is gone; stopping this worker",
                      file=sys.stderr, flush=True)
                os._exit(1)

    threading.Thread(target=watch, name="nomadjobs-launcher-watch", daemon=True).start()
