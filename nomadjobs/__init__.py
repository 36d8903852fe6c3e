"""nomadjobs: an embeddable, in-memory Nomad v0.7.1 Jobs control plane.

The stable public surface (documented in docs/library.md)::

    from nomadjobs import Cluster
    cluster = Cluster(seed=1)              # virtual clock, default simulated fleet
    cluster.register({"ID": "web", ...})   # or cluster.jobs.register_job(...): one method per endpoint
    cluster.advance(5)                     # move time; allocations progress
    data = cluster.dump()                  # the whole state as JSON-ready data

Everything listed in ``__all__`` keeps its name and meaning across minor versions.
"""

from . import structs
from .api import NomadServer, job_from_dict
from .cluster import Cluster
from .dump import DumpError
from .errors import NomadError
from .fleet import NodeSpec, default_fleet, golden_fleet
from .query import QueryMeta, QueryOptions, WriteOptions

__all__ = ["Cluster", "DumpError", "NomadError", "NomadServer", "NodeSpec", "QueryMeta", "QueryOptions",
           "WriteOptions", "default_fleet", "golden_fleet", "job_from_dict", "structs"]
__version__ = "0.1.0"
