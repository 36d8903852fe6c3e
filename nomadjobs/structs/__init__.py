"""Plain-data models of Nomad v0.7.1's structs (no I/O, no rules)."""

from .job import *  # noqa: F401,F403
from .job import Duration, evolve, frozen  # noqa: F401
from .cluster import *  # noqa: F401,F403
from .plan import *  # noqa: F401,F403
from .requests import *  # noqa: F401,F403
