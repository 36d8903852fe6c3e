"""Nomad v0.7.1's schedulers: service and batch (generic) and system.

``new_scheduler(type, state, planner, rng=..., now_ns=..., new_id=...)`` returns an
object whose ``process(eval)`` reconciles the job with its allocations, submits
plans through the planner and finally records the evaluation's outcome with
``planner.update_eval`` (or ``reblock_eval`` for a still-blocked eval).

Everything random (node shuffling, dynamic ports) comes from the given ``rng`` and
every ID from ``new_id``, so the same inputs and seed give the same decisions.
"""

from __future__ import annotations

import random
from typing import Callable

from ..structs import JOB_TYPE_BATCH, JOB_TYPE_SERVICE, JOB_TYPE_SYSTEM
from .generic import GenericScheduler
from .harness import ScratchPlanner
from .interfaces import Planner, Scheduler, StateReader
from ..nodeclass import computed_class
from .system import SystemScheduler
from .util import tasks_updated

__all__ = [
    "GenericScheduler",
    "Planner",
    "Scheduler",
    "ScratchPlanner",
    "StateReader",
    "SystemScheduler",
    "computed_class",
    "new_scheduler",
    "tasks_updated",
]


def new_scheduler(sched_type: str, state: StateReader, planner: Planner, *, rng: random.Random,
                  now_ns: Callable[[], int], new_id: Callable[[], str]) -> Scheduler:
    if sched_type == JOB_TYPE_SERVICE:
        return GenericScheduler(state, planner, batch=False, rng=rng, now_ns=now_ns, new_id=new_id)
    if sched_type == JOB_TYPE_BATCH:
        return GenericScheduler(state, planner, batch=True, rng=rng, now_ns=now_ns, new_id=new_id)
    if sched_type == JOB_TYPE_SYSTEM:
        return SystemScheduler(state, planner, rng=rng, now_ns=now_ns, new_id=new_id)
    raise ValueError(f"unknown scheduler '{sched_type}'")
