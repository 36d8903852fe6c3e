"""Shared fixtures (kept small: several test modules use them)."""

from __future__ import annotations

import copy
from types import SimpleNamespace
from typing import Any

import pytest

# Request bodies as Nomad's own clients send them (the golden recording's jobs).
_SERVICE = {
    "ID": "example", "Name": "example", "Type": "service", "Priority": 50, "Datacenters": ["dc1"],
    "TaskGroups": [{
        "Name": "cache", "Count": 1,
        "Tasks": [{
            "Name": "redis", "Driver": "docker", "Config": {"image": "redis:3.2", "port_map": [{"db": 6379}]},
            "Resources": {"CPU": 500, "MemoryMB": 256,
                          "Networks": [{"MBits": 10, "DynamicPorts": [{"Label": "db", "Value": 0}]}]},
        }],
        "RestartPolicy": {"Interval": 300000000000, "Attempts": 10, "Delay": 25000000000, "Mode": "delay"},
        "EphemeralDisk": {"SizeMB": 300},
    }],
    "Update": {"MaxParallel": 1, "MinHealthyTime": 10000000000, "HealthyDeadline": 180000000000,
               "AutoRevert": False, "Canary": 0},
}
_PARAM_BATCH = {
    "ID": "param-batch", "Name": "param-batch", "Type": "batch", "Datacenters": ["dc1"],
    "ParameterizedJob": {"Payload": "optional", "MetaRequired": ["who"], "MetaOptional": ["note"]},
    "TaskGroups": [{"Name": "work", "Count": 1, "Tasks": [{
        "Name": "echo", "Driver": "raw_exec", "Config": {"command": "/bin/echo", "args": ["dispatched"]},
        "DispatchPayload": {"File": "input.txt"}, "Resources": {"CPU": 100, "MemoryMB": 32}}]}],
}
_PERIODIC_BATCH = {
    "ID": "periodic-batch", "Name": "periodic-batch", "Type": "batch", "Datacenters": ["dc1"],
    "Periodic": {"Enabled": True, "SpecType": "cron", "Spec": "0 0 1 1 *", "ProhibitOverlap": True,
                 "TimeZone": "UTC"},
    "TaskGroups": [{"Name": "tick", "Count": 1, "Tasks": [{
        "Name": "echo", "Driver": "raw_exec", "Config": {"command": "/bin/echo", "args": ["tick"]},
        "Resources": {"CPU": 100, "MemoryMB": 32}}]}],
}


def _job(template: dict, job_id: str | None, **changes: Any) -> dict:
    job = copy.deepcopy(template)
    if job_id is not None:
        job["ID"] = job["Name"] = job_id
    job.update(changes)
    return job


@pytest.fixture
def jobspec() -> SimpleNamespace:
    """Builders of API job dicts: ``jobspec.service("web", Priority=60)``."""
    return SimpleNamespace(
        service=lambda job_id=None, **kw: _job(_SERVICE, job_id, **kw),
        param_batch=lambda job_id=None, **kw: _job(_PARAM_BATCH, job_id, **kw),
        periodic_batch=lambda job_id=None, **kw: _job(_PERIODIC_BATCH, job_id, **kw),
    )
