"""Test helpers for code that drives ``nomadjobs``: hypothesis strategies for
valid and near-valid Nomad jobs (needs ``hypothesis`` installed)."""

from .strategies import (
    DRIVERS,
    JOB_TYPES,
    batch_jobs,
    invalid_jobs,
    job_ids,
    jobs,
    parameterized_jobs,
    periodic_jobs,
    service_jobs,
    system_jobs,
)

__all__ = [
    "DRIVERS",
    "JOB_TYPES",
    "batch_jobs",
    "invalid_jobs",
    "job_ids",
    "jobs",
    "parameterized_jobs",
    "periodic_jobs",
    "service_jobs",
    "system_jobs",
]
