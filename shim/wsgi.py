"""The WSGI entry point for servers that import their app by name.

``shim.wsgi:app`` is built (once, on first access, inside the serving worker) from
``NOMADJOBS_*`` environment variables, which is how ``nomadjobs-server`` hands its
options to the worker processes gunicorn and granian start:

=======================  ==========================================  =========
variable                 meaning                                     default
=======================  ==========================================  =========
``NOMADJOBS_FLEET``      simulated nodes: default, golden, large     default
``NOMADJOBS_NODES``      fleet size (default and large fleets)       fleet's
``NOMADJOBS_SEED``       seed for IDs and scheduling                 0
``NOMADJOBS_CLOCK``      wall or virtual                             wall
``NOMADJOBS_ACL``        1 to enable ACLs                            0
``NOMADJOBS_ACL_TOKEN``  SecretID of the bootstrap management token  generated
=======================  ==========================================  =========
"""

from __future__ import annotations

import os
import sys
import threading
from typing import Any, Mapping, Optional

from nomadjobs.cluster import Cluster
from nomadjobs.fleet import fleet_by_name

ENV_PREFIX = "NOMADJOBS_"
_TRUE = {"1", "true", "yes", "on"}


class ConfigError(ValueError):
    pass


def cluster_from_env(env: Optional[Mapping[str, str]] = None) -> Cluster:
    """A Cluster configured by ``NOMADJOBS_*`` (all unset: wall clock, default fleet)."""
    env = os.environ if env is None else env
    fleet_name = env.get("NOMADJOBS_FLEET", "default") or "default"
    nodes_text = env.get("NOMADJOBS_NODES", "")
    try:
        nodes = int(nodes_text) if nodes_text else None
        seed = int(env.get("NOMADJOBS_SEED", "0") or "0")
    except ValueError as exc:
        raise ConfigError(f"NOMADJOBS_NODES/NOMADJOBS_SEED must be integers: {exc}") from None
    if nodes is not None and nodes < 1:
        raise ConfigError("NOMADJOBS_NODES must be at least 1")
    try:
        fleet = fleet_by_name(fleet_name, nodes)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    clock = env.get("NOMADJOBS_CLOCK", "wall") or "wall"
    if clock not in ("wall", "virtual"):
        raise ConfigError(f"NOMADJOBS_CLOCK must be wall or virtual, not {clock!r}")
    acl = env.get("NOMADJOBS_ACL", "").lower() in _TRUE
    token = env.get("NOMADJOBS_ACL_TOKEN", "")
    # The serving process holds one long-lived state: keep the collector off it (gcpolicy).
    # It keeps no history either: the HTTP API never reads a past commit (blocking queries
    # compare table indexes), and each retained commit keeps the rows and index nodes it
    # replaced alive, about a seventh of a register's CPU at the library's default of 256.
    cluster = Cluster(fleet, seed=seed, clock=clock, acl=acl, acl_token=token or None, freeze_gc=True,
                      history=1)
    bootstrap = cluster.bootstrap_token  # there is one exactly when ACLs are on
    if bootstrap is not None and not token:
        # Nobody chose the secret, so this process is the only one who knows it.
        print(f"nomadjobs: ACL bootstrap token SecretID: {bootstrap.SecretID}",
              file=sys.stderr, flush=True)
    return cluster


_lock = threading.Lock()
_app: Any = None


def get_app() -> Any:
    """The process's app, built on first use."""
    global _app
    with _lock:
        if _app is None:
            from .app import create_app
            _app = create_app(cluster_from_env())
        return _app


def __getattr__(name: str) -> Any:
    # ``shim.wsgi:app`` without building a cluster on mere import.
    if name == "app":
        return get_app()
    raise AttributeError(name)
