"""nomadjobs: an embeddable, in-memory Nomad v0.7.1 Jobs control plane.

The stable public surface::

    from nomadjobs import Cluster, NomadError, QueryOptions, WriteOptions
    cluster = Cluster(seed=1)          # virtual clock, default simulated fleet
    cluster.jobs.register_job(...)     # one method per Jobs endpoint
    cluster.advance(5)                 # move time; allocations progress
"""

from .cluster import Cluster
from .errors import NomadError
from .fleet import NodeSpec, default_fleet, golden_fleet
from .query import QueryMeta, QueryOptions, WriteOptions

__all__ = ["Cluster", "NomadError", "NodeSpec", "QueryMeta", "QueryOptions", "WriteOptions",
           "default_fleet", "golden_fleet"]
__version__ = "0.1.0"
