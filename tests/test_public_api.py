"""The stable top-level API: what is exported and what the Cluster shortcuts do (the
whole tree's type check is in test_architecture.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import nomadjobs
from nomadjobs import Cluster, NomadError, job_from_dict, structs
from nomadjobs.codec import DecodeError

ROOT = Path(__file__).resolve().parents[1]
JOB = {"ID": "web", "Datacenters": ["dc1"], "TaskGroups": [{"Name": "web", "Tasks": [{
    "Name": "server", "Driver": "exec", "Config": {"command": "/bin/sleep", "args": ["600"]},
    "Resources": {"CPU": 100, "MemoryMB": 64}}]}]}

# The names docs/library.md promises. Removing one is a breaking change.
PUBLIC = {"Cluster", "DumpError", "NomadError", "NomadServer", "NodeSpec", "QueryMeta", "QueryOptions",
          "RaftSettings", "WriteOptions", "default_fleet", "golden_fleet", "job_from_dict", "structs"}
CLUSTER_API = {"jobs", "register", "advance", "run_until_quiet", "snapshot", "snapshot_at", "index", "reset",
               "dump", "load", "from_dump", "fail_task", "kill_node", "restore_node", "drain_node",
               "make_unhealthy", "stall_deployment", "add_node", "close", "lifecycle", "bootstrap_token",
               "core", "services", "replica", "sync"}


def test_exports_are_exactly_the_documented_ones() -> None:
    assert set(nomadjobs.__all__) == PUBLIC
    for name in PUBLIC:
        assert getattr(nomadjobs, name) is not None
    library_doc = (ROOT / "docs" / "library.md").read_text()
    for name in PUBLIC - {"QueryMeta"}:
        assert f"`{name}" in library_doc, f"{name} is not documented in docs/library.md"


def test_cluster_surface() -> None:
    cluster = Cluster()
    missing = {name for name in CLUSTER_API if not hasattr(cluster, name)}
    assert not missing


def test_job_from_dict_accepts_a_job_or_a_register_body() -> None:
    bare = job_from_dict(JOB)
    wrapped = job_from_dict({"Job": JOB})
    assert isinstance(bare, structs.Job) and bare == wrapped and bare.ID == "web"
    assert job_from_dict({"id": "x"}).ID == "x"  # keys match case-insensitively, as in Nomad
    with pytest.raises(DecodeError, match="Go struct field Job.Priority"):
        job_from_dict({"ID": "x", "Priority": "high"})


def test_register_shortcut_applies_nomads_rules() -> None:
    cluster = Cluster()
    resp = cluster.register(JOB)
    assert resp.EvalID and resp.JobModifyIndex > 0
    assert cluster.register(job_from_dict(JOB)).JobModifyIndex == resp.JobModifyIndex  # unchanged spec
    with pytest.raises(NomadError, match="Missing job datacenters"):
        cluster.register({"ID": "bad", "TaskGroups": JOB["TaskGroups"]})
    locked = Cluster(acl=True)
    with pytest.raises(NomadError) as denied:
        locked.register(JOB)
    assert denied.value.code == 403
    assert locked.register(JOB, token=locked.bootstrap_token.SecretID).EvalID


@pytest.mark.parametrize("shortcut,args", [
    ("fail_task", ("alloc-1", "t", 2, "boom", None)),
    ("kill_node", ("node-1",)),
    ("restore_node", ("node-1",)),
    ("drain_node", ("node-1", False)),
    ("make_unhealthy", ("alloc-1",)),
    ("stall_deployment", ("dep-1",)),
])
def test_fault_shortcuts_delegate_to_lifecycle_faults(shortcut: str, args: tuple[Any, ...],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    cluster = Cluster()
    calls: list[tuple[Any, ...]] = []
    monkeypatch.setattr(cluster.lifecycle.faults, shortcut, lambda *a: calls.append(a) or ["ev"])
    result = getattr(cluster, shortcut)(*args)
    assert calls == [args]
    if shortcut.endswith("_node"):
        assert result == ["ev"]


def test_fault_shortcuts_work_end_to_end() -> None:
    cluster = Cluster(seed=1)
    cluster.register(JOB)
    cluster.advance(1)
    alloc = cluster.snapshot().allocs_by_job("default", "web")[0]
    assert cluster.kill_node(alloc.NodeID)
    assert cluster.snapshot().alloc_by_id(alloc.ID).ClientStatus == "lost"
    with pytest.raises(ValueError, match="not found"):
        cluster.drain_node("no-such-node")
