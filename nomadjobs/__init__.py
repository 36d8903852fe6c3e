"""nomadjobs: an embeddable, in-memory Nomad v0.7.1 Jobs control plane.

The stable public surface (documented in docs/library.md)::

    from nomadjobs import Cluster
    cluster = Cluster(seed=1)              # virtual clock, default simulated fleet
    cluster.register({"ID": "web", ...})   # or cluster.jobs.register_job(...): one method per endpoint
    cluster.advance(5)                     # move time; allocations progress
    data = cluster.dump()                  # the whole state as JSON-ready data

Everything listed in ``__all__`` keeps its name and meaning across minor versions.
"""

from typing import TYPE_CHECKING, Any

from . import structs
from .cluster import Cluster
from .errors import NomadError
from .fleet import NodeSpec, default_fleet, golden_fleet
from .query import QueryMeta, QueryOptions, WriteOptions

if TYPE_CHECKING:
    from .api import NomadServer, job_from_dict
    from .dump import DumpError

__all__ = ["Cluster", "DumpError", "NomadError", "NomadServer", "NodeSpec", "QueryMeta", "QueryOptions",
           "WriteOptions", "default_fleet", "golden_fleet", "job_from_dict", "structs"]
__version__ = "0.1.0"

# Loaded on first use: the HTTP server helpers (wsgiref, socketserver) and the dump
# format are not needed to create a cluster, and every server start would pay for them.
_LAZY = {"NomadServer": "api", "job_from_dict": "api", "DumpError": "dump"}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'nomadjobs' has no attribute {name!r}")
    import importlib
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value
