"""The durable server: a data dir holds the whole cluster across restarts and crashes
(nomadjobs/core/durable.py, nomadjobs/recovery.py)."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, precondition, rule

from nomadjobs import Cluster, NodeSpec, NomadError
from nomadjobs import fsm
from nomadjobs import structs as s
from nomadjobs.core import durable
from nomadjobs.core.durable import DataDirError
from nomadjobs.query import WriteOptions
from nomadjobs.testing import jobs

NS = "default"


def _job(job_id: str, kind: str = "service", count: int = 1, **extra: Any) -> dict[str, Any]:
    job = {"ID": job_id, "Type": kind, "Datacenters": ["dc1"], "TaskGroups": [{
        "Name": "g", "Count": count, "Tasks": [{"Name": "t", "Driver": "exec", "Config": {"command": "/bin/sh"},
                                               "Resources": {"CPU": 100, "MemoryMB": 32}}]}]}
    job.update(extra)
    return job


def _same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def _alike(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Two clusters' dumps, but for how long each placement took to compute (a
    measured time, ``AllocationTime`` in placement metrics, as in Nomad)."""
    def timeless(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: 0 if k == "AllocationTime" else timeless(v) for k, v in value.items()}
        if isinstance(value, list):
            return [timeless(v) for v in value]
        return value
    return _same(timeless(a), timeless(b))


def _busy(cluster: Cluster) -> None:
    """A bit of everything a restore must bring back."""
    rolling = {"MaxParallel": 1, "HealthCheck": "task_states", "MinHealthyTime": 10_000_000_000,
               "HealthyDeadline": 300_000_000_000}
    cluster.register(_job("web", count=3, Update=rolling))
    cluster.register(_job("batch", "batch"))
    cluster.register(_job("cron", "batch", Periodic={"Enabled": True, "SpecType": "cron", "Spec": "*/5 * * * *"}))
    cluster.register(_job("param", "batch", ParameterizedJob={"Payload": "optional"}))
    cluster.jobs.dispatch_job("param", s.JobDispatchRequest(JobID="param", Payload=b"hi"), WriteOptions())
    # ACL tables too (written as the endpoint would, with ACLs off here).
    cluster.apply(fsm.ACLPolicyUpsert([s.ACLPolicy(Name="ro", Rules='namespace "default" { policy = "read" }')]))
    cluster.advance(30)
    update = _job("web", count=3, Update=rolling)
    update["TaskGroups"][0]["Tasks"][0]["Env"] = {"V": "2"}
    cluster.register(update)  # a deployment in flight
    cluster.advance(0.5)
    cluster.register(_job("huge", count=150))  # more than fits: blocked


def test_restart_restores_the_whole_cluster_and_carries_on_alike(tmp_path: Path) -> None:
    """After a restart the dump is the dump from before it (every table, the index, the
    ID generator, the time table, virtual time), and the cluster goes on as one that
    never stopped: the same next writes, IDs and times."""
    restarted = Cluster(seed=5, data_dir=tmp_path)
    twin = Cluster(seed=5)
    for cluster in (restarted, twin):
        _busy(cluster)
    before = restarted.dump()
    assert _alike(before, twin.dump())
    restarted.close()
    restarted = Cluster(seed=5, data_dir=tmp_path)
    assert restarted.restored
    assert _same(restarted.dump(), before)
    state = restarted.snapshot()
    assert any(e.Status == s.EVAL_STATUS_BLOCKED for e in state.evals())
    assert any(d.Status == s.DEPLOYMENT_STATUS_RUNNING for d in state.deployments())
    # What a new leader resumes: the deployment watcher, the dispatcher, the clients.
    twin.core.clock.cancel_all()  # the restarted one lost its timers in flight and restarted them
    twin.lifecycle.restart()
    twin.lifecycle.resume(twin.snapshot())
    twin.core.restore_broker()
    for cluster in (restarted, twin):
        cluster.register(_job("after", "batch"))
        cluster.advance(600)  # two periodic launches, the deployment finishes
    assert _alike(restarted.dump(), twin.dump())
    assert len([j for j in restarted.snapshot().jobs() if j.ParentID == "cron"]) >= 2
    restarted.close()
    twin.close()


def test_a_data_dir_is_used_by_one_server_at_a_time(tmp_path: Path) -> None:
    first = Cluster(data_dir=tmp_path)
    with pytest.raises(DataDirError, match=r"is in use by another nomadjobs server \(pid \d+\)"):
        Cluster(data_dir=tmp_path)
    first.close()
    Cluster(data_dir=tmp_path).close()  # the lock went with the first


def test_a_foreign_or_newer_data_dir_is_refused(tmp_path: Path) -> None:
    Cluster(data_dir=tmp_path / "a").close()
    db = sqlite3.connect(tmp_path / "a" / durable.DB_FILE)
    db.execute("UPDATE meta SET value = '2' WHERE key = 'format_version'")
    db.commit()
    db.close()
    with pytest.raises(DataDirError, match="written in format version 2 by a newer nomadjobs; "
                                           "this one reads version 1"):
        Cluster(data_dir=tmp_path / "a")
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / durable.DB_FILE).write_text("not a database")
    with pytest.raises(DataDirError, match="holds no readable state"):
        Cluster(data_dir=tmp_path / "b")
    Cluster(data_dir=tmp_path / "c").close()
    with pytest.raises(DataDirError, match=r"belongs to another cluster: region 'global' \(asked for 'eu'\)"):
        Cluster(data_dir=tmp_path / "c", region="eu")
    # Nothing was changed by the refusals.
    Cluster(data_dir=tmp_path / "c").close()


def _copy_while_running(src: Path, dst: Path) -> None:
    """What a crash leaves: the files as they are, the WAL not checkpointed."""
    dst.mkdir()
    for name in (durable.DB_FILE, durable.DB_FILE + "-wal"):
        if (src / name).exists():
            shutil.copyfile(src / name, dst / name)


def test_a_torn_tail_is_dropped_and_the_rest_restored(tmp_path: Path) -> None:
    """A crash in the middle of a commit leaves part of it in the WAL: SQLite's frame
    checksums drop it when the directory is next opened, so a restore gives the state
    at the last whole commit, never a mix."""
    live = tmp_path / "live"
    cluster = Cluster(seed=2, data_dir=live, history=10_000)
    for i in range(30):
        cluster.register(_job(f"j{i}", "batch"))
        cluster.sync()
    crashed = tmp_path / "crashed"
    _copy_while_running(live, crashed)
    wal = crashed / (durable.DB_FILE + "-wal")
    size = wal.stat().st_size
    seen = []
    for cut in (size - 1, size - 3000, size // 2, size // 3, 4096 + 24 + 100):
        torn = tmp_path / f"torn-{cut}"
        shutil.copytree(crashed, torn)
        with open(torn / wal.name, "r+b") as f:
            f.truncate(cut)
        restored = Cluster(seed=2, data_dir=torn)
        index = restored.index
        assert 0 < index < cluster.index
        then = cluster.snapshot_at(index)
        assert then is not None
        assert sorted(j.ID for j in restored.snapshot().jobs()) == sorted(j.ID for j in then.jobs())
        assert {e.ID: e.Status for e in restored.snapshot().evals()} == {e.ID: e.Status for e in then.evals()}
        seen.append(index)
        restored.close()
    assert seen == sorted(seen, reverse=True) and len(set(seen)) > 1
    cluster.close()


def test_snapshots_bound_the_log(tmp_path: Path) -> None:
    cluster = Cluster(seed=3, data_dir=tmp_path, snapshot_threshold=40)
    for i in range(60):
        cluster.register(_job(f"j{i}", "batch"))
    cluster.sync()  # the writer has seen that a snapshot is due...
    cluster.advance(5)  # ...and the next write takes it
    cluster.sync()
    cluster.core.durable.wait_for_snapshot(timeout=30)
    db = sqlite3.connect(tmp_path / durable.DB_FILE)
    snapshot_index = json.loads(db.execute("SELECT value FROM meta WHERE key = 'snapshot_index'").fetchone()[0])
    logged = [row[0] for row in db.execute("SELECT last FROM log ORDER BY last")]  # one row per commit
    db.close()
    assert snapshot_index > 40
    assert all(index > snapshot_index for index in logged)  # what the snapshot holds left the log
    before = cluster.dump()
    cluster.close()
    restored = Cluster(seed=3, data_dir=tmp_path)
    assert _same(restored.dump(), before)
    restored.close()


def test_reset_and_load_replace_what_is_on_disk(tmp_path: Path) -> None:
    cluster = Cluster(seed=4, data_dir=tmp_path)
    cluster.register(_job("a"))
    saved = cluster.dump()
    cluster.register(_job("b"))
    cluster.reset()
    cluster.register(_job("c", "batch"))
    after_reset = cluster.dump()
    cluster.close()
    cluster = Cluster(seed=4, data_dir=tmp_path)
    assert _same(cluster.dump(), after_reset)
    assert sorted(j.ID for j in cluster.snapshot().jobs()) == ["c"]
    cluster.load(saved)
    cluster.close()
    cluster = Cluster(seed=4, data_dir=tmp_path)
    assert sorted(j.ID for j in cluster.snapshot().jobs()) == ["a"]
    assert cluster.index == saved["index"]
    cluster.close()


def test_a_log_that_cannot_be_written_fails_the_write_loudly(tmp_path: Path, monkeypatch) -> None:
    cluster = Cluster(seed=1, data_dir=tmp_path)
    cluster.sync()

    def broken(self: Any) -> Any:
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(durable.DataDir, "transaction", broken)
    cluster.register(_job("x"))  # applied in memory...
    with pytest.raises(NomadError) as caught:
        cluster.sync()  # ...but never acknowledged
    assert (caught.value.code, caught.value.message) == (500, "the durable log failed: disk I/O error")
    monkeypatch.undo()
    cluster.core.clock.close()


def test_acl_state_survives_and_the_bootstrap_token_with_it(tmp_path: Path) -> None:
    cluster = Cluster(seed=6, acl=True, data_dir=tmp_path)
    token = cluster.bootstrap_token
    assert token is not None
    cluster.close()
    cluster = Cluster(seed=6, acl=True, data_dir=tmp_path)
    assert cluster.bootstrap_token is not None and cluster.bootstrap_token.SecretID == token.SecretID
    with pytest.raises(NomadError, match="ACL bootstrap already done"):
        cluster.acl.bootstrap()
    cluster.close()


# --- restart equivalence, by hypothesis ------------------------------------------------------

KINDS = ("service", "batch", "system", "periodic", "parameterized")
JOB_IDS = ("alpha", "beta", "gamma")


class RestartMachine(RuleBasedStateMachine):
    """Random work on a durable cluster, restarted now and then and always at the end:
    each restart must give back the dump taken just before it."""

    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(tempfile.mkdtemp(prefix="nomadjobs-restart-"))
        self.cluster = Cluster(seed=9, data_dir=self.dir, snapshot_threshold=25)
        self.kinds: dict[str, str] = {}

    def _restart(self) -> None:
        before = self.cluster.dump()
        self.cluster.close()
        self.cluster = Cluster(seed=9, data_dir=self.dir, snapshot_threshold=25)
        assert self.cluster.restored
        after = self.cluster.dump()
        assert _same(after, before), [k for k in before["tables"] if before["tables"][k] != after["tables"][k]]

    @rule(data=st.data(), job_id=st.sampled_from(JOB_IDS), kind=st.sampled_from(KINDS))
    def register(self, data: st.DataObject, job_id: str, kind: str) -> None:
        if self.kinds.get(job_id, kind) != kind:
            return
        job = data.draw(jobs("batch" if kind in ("periodic", "parameterized") else kind, job_id=job_id,
                             periodic=kind == "periodic", parameterized=kind == "parameterized", max_count=2))
        self.cluster.jobs.register_job(s.JobRegisterRequest(Job=job), WriteOptions())
        self.kinds[job_id] = kind

    @precondition(lambda self: self.kinds)
    @rule(data=st.data(), purge=st.booleans())
    def deregister(self, data: st.DataObject, purge: bool) -> None:
        job_id = data.draw(st.sampled_from(sorted(self.kinds)))
        try:
            self.cluster.jobs.deregister_job(job_id, purge, WriteOptions())
        except NomadError:
            pass
        if purge:
            self.kinds.pop(job_id, None)

    @precondition(lambda self: "parameterized" in self.kinds.values())
    @rule()
    def dispatch(self) -> None:
        job_id = next(j for j, k in sorted(self.kinds.items()) if k == "parameterized")
        try:
            self.cluster.jobs.dispatch_job(job_id, s.JobDispatchRequest(JobID=job_id), WriteOptions())
        except NomadError:
            pass  # its required payload or meta, or it was stopped

    @rule(seconds=st.sampled_from([0.1, 1, 10, 60, 600, 4000]))
    def advance(self, seconds: float) -> None:
        self.cluster.advance(seconds)

    @rule(data=st.data())
    def fail_task(self, data: st.DataObject) -> None:
        live = sorted(a.ID for a in self.cluster.snapshot().allocs() if a.ClientStatus == s.ALLOC_CLIENT_RUNNING)
        if live:
            self.cluster.fail_task(data.draw(st.sampled_from(live)))

    @rule(data=st.data())
    def kill_or_restore_node(self, data: st.DataObject) -> None:
        nodes = sorted(self.cluster.snapshot().nodes(), key=lambda n: n.ID)
        if not nodes:
            return  # the collector took every down node
        node = data.draw(st.sampled_from(nodes))
        if node.Status == s.NODE_STATUS_READY:
            self.cluster.kill_node(node.ID)
        else:
            self.cluster.restore_node(node.ID)

    @rule()
    def add_node(self) -> None:
        count = len(self.cluster.snapshot().nodes())
        if count < 6:
            self.cluster.add_node(NodeSpec(name=f"extra-{count}", ip=f"10.0.2.{count}"))

    @rule()
    def collect_garbage(self) -> None:
        self.cluster.services.system_gc()

    @rule()
    def restart(self) -> None:
        self._restart()

    def teardown(self) -> None:
        try:
            self._restart()
        finally:
            self.cluster.close()
            shutil.rmtree(self.dir, ignore_errors=True)


TestRestartEquivalence = RestartMachine.TestCase
TestRestartEquivalence.settings = settings(
    max_examples=int(os.environ.get("NOMADJOBS_RESTART_EXAMPLES", "25")), stateful_step_count=20, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much])


def test_the_bootstrap_reset_file_allows_one_more_bootstrap(tmp_path: Path) -> None:
    """Nomad's ``acl-bootstrap-reset`` in the data dir, holding the index the refusal
    names (v0.7.1 nomad/acl_endpoint.go, fileBootstrapResetIndex)."""
    cluster = Cluster(seed=7, acl=True, data_dir=tmp_path)
    with pytest.raises(NomadError) as refused:
        cluster.acl.bootstrap()
    done = int(refused.value.message.rsplit(": ", 1)[1].rstrip(")"))
    (tmp_path / "acl-bootstrap-reset").write_text(f"{done + 1}\n")
    with pytest.raises(NomadError, match=rf"^Invalid bootstrap reset index \(specified {done + 1}, reset index: "
                                         rf"{done}\)$"):
        cluster.acl.bootstrap()
    (tmp_path / "acl-bootstrap-reset").write_text(f"{done}\n")
    token, index = cluster.acl.bootstrap()
    assert token.Type == "management" and index > done
    with pytest.raises(NomadError, match=rf"specified {done}, reset index: {index}"):
        cluster.acl.bootstrap()  # the file names the old bootstrap now
    cluster.close()
