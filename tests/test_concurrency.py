"""Many threads on one Cluster: writers, compare-and-swap updaters, snapshot readers,
blocking queries and the clock, all at once. Writes are serialized by the cluster
lock; reads take snapshots. Afterwards nothing is lost, commit indexes are unique and
ordered, and every read saw one consistent state."""

from __future__ import annotations

import threading
import time
from typing import Any, Callable

import pytest

from nomadjobs import Cluster, NomadError, QueryOptions
from nomadjobs import codec
from nomadjobs import structs as s
from nomadjobs.state.store import JOBS

NS = "default"
WRITERS = 4
JOBS_PER_WRITER = 3
UPDATES = 4
CAS_THREADS = 3
CAS_ATTEMPTS = 8
JOIN_TIMEOUT_S = 60.0


def make_job(job_id: str, rev: int, count: int = 1) -> s.Job:
    return codec.from_wire({
        "ID": job_id, "Type": "service", "Datacenters": ["dc1"], "Meta": {"rev": str(rev)},
        "TaskGroups": [{"Name": "g", "Count": count, "Tasks": [{
            "Name": "t", "Driver": "raw_exec", "Config": {"command": "/bin/sleep", "args": ["600"]},
            "Resources": {"CPU": 100, "MemoryMB": 16}}]}],
    }, s.Job)


class Harness:
    def __init__(self) -> None:
        self.cluster = Cluster(seed=5)
        self.errors: list[BaseException] = []
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.commits: list[int] = []  # JobModifyIndex of every spec-changing register
        self.cas_wins = 0
        self.reads = 0
        self.wakeups = 0

    def spawn(self, target: Callable[..., None], *args: Any) -> threading.Thread:
        def run() -> None:
            try:
                target(*args)
            except BaseException as exc:  # surfaced in the main thread
                self.errors.append(exc)
                self.stop.set()
        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        return thread

    # --- workers -----------------------------------------------------------------------------
    def writer(self, w: int) -> None:
        mine: list[int] = []
        for rev in range(UPDATES + 1):
            for k in range(JOBS_PER_WRITER):
                resp = self.cluster.jobs.register_job(s.JobRegisterRequest(Job=make_job(f"w{w}-j{k}", rev)))
                assert resp.EvalCreateIndex > resp.JobModifyIndex
                mine.append(resp.JobModifyIndex)
        assert mine == sorted(mine) and len(set(mine)) == len(mine), "one writer's commits went backwards"
        with self.lock:
            self.commits.extend(mine)

    def cas_updater(self, t: int) -> None:
        """Read the shared job, then update it only if nobody else did (EnforceIndex)."""
        wins = 0
        for attempt in range(CAS_ATTEMPTS):
            job, _ = self.cluster.jobs.get_job("shared", QueryOptions())
            req = s.JobRegisterRequest(Job=make_job("shared", 1 + 1000 * t + attempt), EnforceIndex=True,
                                       JobModifyIndex=job.JobModifyIndex)
            try:
                resp = self.cluster.jobs.register_job(req)
            except NomadError as exc:
                assert "conflicting job modify index" in exc.message, exc.message
                continue
            wins += 1
            with self.lock:
                self.commits.append(resp.JobModifyIndex)
        with self.lock:
            self.cas_wins += wins

    def reader(self) -> None:
        while not self.stop.is_set():
            snap = self.cluster.snapshot()
            latest = snap.latest_index()
            jobs = list(snap.jobs())
            for job in jobs:
                summary = snap.job_summary(NS, job.ID)
                assert summary is not None and summary.CreateIndex == job.CreateIndex, job.ID
                assert job.ModifyIndex <= snap.table_index(JOBS) <= latest
                assert job.Version in [v.Version for v in snap.job_versions(NS, job.ID)]
            for alloc in snap.allocs():
                assert alloc.ModifyIndex <= latest
            stubs, meta = self.cluster.jobs.list_jobs(QueryOptions())
            # One list is one snapshot: every stub carries its own job's summary.
            for stub in stubs:
                assert stub.JobSummary is not None and stub.JobSummary.CreateIndex == stub.CreateIndex
                assert stub.ModifyIndex <= meta.index
            assert meta.index >= snap.table_index(JOBS)  # reads never go back in time
            with self.lock:
                self.reads += 1

    def blocker(self) -> None:
        index = 0
        while not self.stop.is_set():
            try:
                job, meta = self.cluster.jobs.get_job("shared", QueryOptions(min_index=index, wait_s=0.2))
            except NomadError as exc:
                assert exc.code == 404
                time.sleep(0.01)
                continue
            assert meta.index >= index
            if meta.index > index:
                assert job.ModifyIndex == meta.index
                if index:
                    with self.lock:
                        self.wakeups += 1
            index = meta.index

    def ticker(self) -> None:
        while not self.stop.is_set():
            self.cluster.advance(0.05)
            time.sleep(0.002)


def test_threads_share_one_cluster_consistently() -> None:
    h = Harness()
    first = h.cluster.jobs.register_job(s.JobRegisterRequest(Job=make_job("shared", 0)))
    h.commits.append(first.JobModifyIndex)
    background = [h.spawn(h.reader) for _ in range(3)] + [h.spawn(h.blocker) for _ in range(2)] \
        + [h.spawn(h.ticker)]
    workers = [h.spawn(h.writer, w) for w in range(WRITERS)] + [h.spawn(h.cas_updater, t)
                                                                 for t in range(CAS_THREADS)]
    deadline = time.monotonic() + JOIN_TIMEOUT_S
    for t in workers:
        t.join(max(0.0, deadline - time.monotonic()))
    time.sleep(0.3)  # let blockers see the last writes
    h.stop.set()
    for t in background:
        t.join(max(1.0, deadline - time.monotonic()))
    if h.errors:
        raise h.errors[0]
    assert not any(t.is_alive() for t in workers + background), "a thread hung"

    # Nothing lost: every job at the version its writes imply.
    state = h.cluster.snapshot()
    for w in range(WRITERS):
        for k in range(JOBS_PER_WRITER):
            job = state.job_by_id(NS, f"w{w}-j{k}")
            assert job is not None and job.Version == UPDATES and job.Meta == {"rev": str(UPDATES)}
    shared = state.job_by_id(NS, "shared")
    assert h.cas_wins >= 1
    assert shared.Version == h.cas_wins  # each CAS win is exactly one new version

    # Every spec change committed at its own index, all within the log.
    assert len(set(h.commits)) == len(h.commits)
    assert max(h.commits) <= h.cluster.index
    assert len(h.commits) == WRITERS * JOBS_PER_WRITER * (UPDATES + 1) + h.cas_wins + 1
    assert h.reads > 0 and h.wakeups > 0


def test_blocking_query_wakes_on_write_from_another_thread() -> None:
    cluster = Cluster(seed=6)
    cluster.jobs.register_job(s.JobRegisterRequest(Job=make_job("web", 0)))
    job, meta = cluster.jobs.get_job("web", QueryOptions())
    result: dict[str, Any] = {}

    def block() -> None:
        start = time.monotonic()
        result["job"], result["meta"] = cluster.jobs.get_job("web", QueryOptions(min_index=meta.index, wait_s=10))
        result["waited"] = time.monotonic() - start

    t = threading.Thread(target=block, daemon=True)
    t.start()
    time.sleep(0.1)
    resp = cluster.jobs.register_job(s.JobRegisterRequest(Job=make_job("web", 1)))
    t.join(5)
    assert not t.is_alive()
    assert result["meta"].index == resp.JobModifyIndex == result["job"].ModifyIndex
    assert result["waited"] < 5


def test_blocking_query_times_out_with_unchanged_index() -> None:
    cluster = Cluster(seed=6)
    cluster.jobs.register_job(s.JobRegisterRequest(Job=make_job("web", 0)))
    _, meta = cluster.jobs.get_job("web", QueryOptions())
    start = time.monotonic()
    _, again = cluster.jobs.get_job("web", QueryOptions(min_index=meta.index, wait_s=0.2))
    elapsed = time.monotonic() - start
    assert again.index == meta.index
    assert 0.19 <= elapsed < 2.0


@pytest.mark.parametrize("threads", [8])
def test_parallel_registers_of_one_new_job_create_it_once(threads: int) -> None:
    """EnforceIndex=0 is "create only": of many racing creators exactly one wins."""
    cluster = Cluster(seed=7)
    barrier = threading.Barrier(threads)
    outcomes: list[str] = []
    lock = threading.Lock()

    def create(i: int) -> None:
        barrier.wait()
        try:
            cluster.jobs.register_job(s.JobRegisterRequest(Job=make_job("solo", i), EnforceIndex=True,
                                                           JobModifyIndex=0))
            out = "won"
        except NomadError as exc:
            out = exc.message
        with lock:
            outcomes.append(out)

    ts = [threading.Thread(target=create, args=(i,), daemon=True) for i in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(10)
    assert outcomes.count("won") == 1
    assert all(o == "won" or o.endswith("job already exists") for o in outcomes), outcomes
    assert cluster.snapshot().job_by_id(NS, "solo").Version == 0
