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
from .core.raft import RaftSettings
from .errors import NomadError
from .fleet import NodeSpec, default_fleet, golden_fleet
from .query import QueryMeta, QueryOptions, WriteOptions

if TYPE_CHECKING:
    from .codec import job_from_dict
    from .dump import DumpError

__all__ = ["Cluster", "DumpError", "NomadError", "NomadServer", "NodeSpec", "QueryMeta", "QueryOptions",
           "RaftSettings", "WriteOptions", "default_fleet", "golden_fleet", "job_from_dict", "structs"]
__version__ = "0.1.0"

# Loaded on first use. NomadServer is HTTP, so it lives in the shim; this alias only
# keeps ``from nomadjobs import NomadServer`` working (the library never imports it).
_LAZY = {"NomadServer": "shim.testserver", "job_from_dict": "nomadjobs.codec", "DumpError": "nomadjobs.dump"}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'nomadjobs' has no attribute {name!r}")
    import importlib
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
