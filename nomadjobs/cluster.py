"""A whole simulated Nomad cluster in one object: the facade users call.

:class:`Cluster` builds the pieces and wires them together: the server core
(:class:`~nomadjobs.core.server.ServerCore`: state store, FSM, clock, eval broker,
scheduler worker, plan applier), the lifecycles on its clock (simulated clients,
deployment watcher, periodic dispatcher, faults) and the services with one method per
endpoint. It adds what a test wants on top: register from JSON, move time, inject
faults, dump, load and reset.
"""

from __future__ import annotations

import os
from typing import Any, Callable, Optional, Sequence

from . import fsm as cmds
from . import structs as s
from .clock import Clock, VirtualClock, WallClock
from .codec import job_from_dict
from .acl_service import ACLService
from .agent_service import AgentService
from .client_service import ClientService
from .core.protocol import Listener
from .core.durable import SNAPSHOT_THRESHOLD, DataDir, DurabilityError
from .core.raft import RaftSettings, Replica
from .core.server import ServerCore
from .dump import check_dump, dump_state, load_state
from .errors import NomadError
from .fleet import NodeSpec, build_node, node_specs
from .fsm import FSM, ApplyResult
from .jobs import JobsService
from .jobspec import parse as parse_jobspec
from .lifecycle import ClientTiming, GCConfig, Lifecycle
from .limits import DEFAULT_LIMITS, Limits
from .nodeclass import computed_class
from .query import WriteOptions
from .recovery import BOOTSTRAP_SECRET, open_data_dir
from .replication import start_replica
from .services import ClusterService
from .state.mvcc import Database
from .state.store import StateReader

__all__ = ["Cluster"]


class Cluster:
    """An in-memory Nomad v0.7.1 cluster: servers, scheduler and simulated clients."""

    def __init__(self, fleet: Sequence[NodeSpec] | str | None = None, *, seed: int = 0,
                 clock: str | Clock = "virtual", acl: bool = False, acl_token: Optional[str] = None,
                 region: str = "global",
                 datacenter: str = "dc1", simulate_clients: bool = True,
                 history: int = 256, record_log: bool = False, freeze_gc: bool = False,
                 client_timing: Optional[ClientTiming] = None, limits: Limits = DEFAULT_LIMITS,
                 acl_bootstrap: bool = True, gc: GCConfig = GCConfig(),
                 data_dir: Optional[str | os.PathLike[str]] = None, fsync: bool = False,
                 snapshot_threshold: int = SNAPSHOT_THRESHOLD, raft: Optional[RaftSettings] = None) -> None:
        #: The server core the services and lifecycles run on.
        self.core = ServerCore(seed=seed, clock=clock, region=region, datacenter=datacenter, acl=acl,
                               history=history, record_log=record_log, freeze_gc=freeze_gc, limits=limits)
        self.lifecycle = Lifecycle(self.core, simulate_clients=simulate_clients, timing=client_timing, gc=gc)
        #: One method per Jobs API endpoint.
        self.jobs = JobsService(self.core, self.lifecycle)
        #: One method per endpoint around the Jobs API (evaluations, allocations, ...).
        self.services = ClusterService(self.core, self.jobs, self.lifecycle)
        #: One method per ACL endpoint (bootstrap, policies, tokens).
        self.acl = ACLService(self.core, self.jobs)
        #: The agent, operator and metrics endpoints.
        self.agent = AgentService(self.core, self.jobs)
        #: The client agent's allocation filesystem and logs.
        self.client = ClientService(self.core)
        self.bootstrap_token: Optional[s.ACLToken] = None
        # Kept so reset() can rebuild the cluster exactly as it was constructed.
        self.fleet_specs: list[NodeSpec] = node_specs(fleet)
        #: The data dir holding this cluster's state (None: in memory only).
        self.data_dir = data_dir
        self._acl_bootstrap = acl and acl_bootstrap
        self._acl_token = acl_token
        #: Run once the cluster is built afresh (not restored): on the first leader of
        #: a new Raft group, at once otherwise (``nomadjobs-server --jobs`` adds one).
        self.first_start_hooks: list[Callable[[], None]] = []
        #: This server's place in its Raft group (None: a single server).
        self.replica: Optional[Replica] = None
        self._raft_dir: Optional[DataDir] = None
        if raft is not None:
            if fsync or not isinstance(self.core.clock, WallClock):
                raise ValueError("a replicated server needs the wall clock and no fsync option")
            self.restored = False
            self.replica, self._raft_dir = start_replica(self, raft, data_dir, self._first_start)
            return
        #: Whether the state was restored from ``data_dir`` (not built afresh).
        restored = (open_data_dir(self.core, self.lifecycle, data_dir, fsync=fsync,
                                  snapshot_threshold=snapshot_threshold) if data_dir is not None else None)
        self.restored = restored is not None
        if restored is not None:
            # An existing state carries on: its nodes, its tokens, its index.
            self.bootstrap_token = restored if isinstance(restored, s.ACLToken) else None
            return
        self.core.establish_leadership()
        self._first_start()

    def _first_start(self) -> None:
        """What a new cluster does once it has a leader: its fleet joins, its ACLs are
        bootstrapped (if asked), the hooks run."""
        for spec in self.fleet_specs:
            self.add_node(spec)
        if self._acl_bootstrap:
            # The bootstrap management token; its secret can be fixed by the caller.
            self.bootstrap_token = self.acl.bootstrap(self._acl_token)[0]
            if self.core.durable is not None:  # a server restarted on the dir prints it again
                self.core.durable.put_meta(BOOTSTRAP_SECRET, self.bootstrap_token.SecretID)
        for hook in self.first_start_hooks:
            hook()

    # --- the core's parts, for tests and tools that look inside -------------------------
    @property
    def limits(self) -> Limits:
        return self.core.limits

    @property
    def clock(self) -> Clock:
        return self.core.clock

    @property
    def fsm(self) -> FSM:
        return self.core.fsm

    @property
    def db(self) -> Database:
        return self.core.db

    @property
    def listeners(self) -> list[Listener]:
        return self.core.listeners

    @property
    def seed(self) -> int:
        return self.core.seed

    @property
    def region(self) -> str:
        return self.core.region

    @property
    def datacenter(self) -> str:
        return self.core.datacenter

    @property
    def acl_enabled(self) -> bool:
        return self.core.acl_enabled

    @acl_enabled.setter
    def acl_enabled(self, enabled: bool) -> None:
        self.core.acl_enabled = enabled

    def new_id(self) -> str:
        """A UUID from the cluster's seeded generator: same seed, same IDs."""
        return self.core.new_id()

    def now_ns(self) -> int:
        return self.core.now_ns()

    # --- reads -------------------------------------------------------------------------
    def snapshot(self) -> StateReader:
        return self.core.snapshot()

    def snapshot_at(self, index: int) -> Optional[StateReader]:
        """The state as it was right after ``index`` was committed (time travel)."""
        return self.core.snapshot_at(index)

    @property
    def index(self) -> int:
        return self.core.index

    # --- writes --------------------------------------------------------------------------
    def apply(self, command: Any) -> ApplyResult:
        """Apply one FSM command (see :mod:`nomadjobs.fsm`) at the next index."""
        return self.core.apply(command)

    def process_evals(self) -> int:
        """Run the scheduler on every queued evaluation (see ServerCore.process_evals)."""
        return self.core.process_evals()

    def add_node(self, spec: NodeSpec) -> s.Node:
        """Register a simulated node (a client agent joining); blocked evaluations retry."""
        core = self.core
        node = build_node(spec, core.new_id(), core.new_id(), computed_class, core.now_ns() // 10**9)
        with core.lock:
            core.apply(cmds.NodeRegister(node))
            core.unblock()
            core.process_evals()
        registered = core.snapshot().node_by_id(node.ID)
        assert registered is not None  # just written under the lock
        return registered

    # --- driving the simulation ------------------------------------------------------------
    def advance(self, seconds: float) -> int:
        """Move a virtual clock forward, running whatever falls due."""
        clock = self.core.clock
        if not isinstance(clock, VirtualClock):
            raise TypeError("advance() needs a virtual clock")
        fired = clock.advance(seconds)
        self.core.process_evals()
        if self.core.durable is not None:
            self.core.durable.note_clock(clock.now_ns())
        return fired

    def run_until_quiet(self, limit_seconds: float = 3600.0) -> int:
        """Advance a virtual clock until no timer is due within ``limit_seconds``."""
        clock = self.core.clock
        if not isinstance(clock, VirtualClock):
            raise TypeError("run_until_quiet() needs a virtual clock")
        self.core.process_evals()
        fired = clock.run_until_idle(limit_seconds)
        if self.core.durable is not None:
            self.core.durable.note_clock(clock.now_ns())
        return fired

    def sync(self) -> None:
        """Return once every write so far is on disk (with a data dir; at once without).
        The HTTP server calls it before it answers a write; a log that cannot be
        written is a 500 then (the write is applied in memory but not acknowledged)."""
        try:
            self.core.sync()
        except DurabilityError as exc:
            raise NomadError(str(exc), 500) from exc

    def close(self) -> None:
        """Stop the clock and streams; with a data dir, commit what is queued and let
        the directory go."""
        self.client.close()  # open log streams end
        self.core.close()
        if self._raft_dir is not None:
            self._raft_dir.close()

    # --- test conveniences (see docs/library.md) -------------------------------------------
    def register(self, job: Any, token: str = "") -> s.JobRegisterResponse:
        """Register a job given as Nomad API JSON (a dict, as python-nomad sends it)
        or as a :class:`~nomadjobs.structs.Job`; same rules as ``PUT /v1/jobs``."""
        model = job if isinstance(job, s.Job) else job_from_dict(job)
        return self.jobs.register_job(s.JobRegisterRequest(Job=model), WriteOptions(token=token))

    def register_hcl(self, text: str, token: str = "") -> s.JobRegisterResponse:
        """Register a job file's job (HCL, as ``nomad run FILE`` sends it);
        :class:`~nomadjobs.jobspec.JobspecError` if the parser refuses the file."""
        return self.register(parse_jobspec(text), token)

    def reset(self) -> None:
        """Back to the state right after construction: the same fleet (node IDs
        included, from the re-seeded generator), virtual time back at its start and the
        same bootstrap SecretID, so a token a test already holds keeps working; every
        job, eval, alloc and deployment is gone."""
        self._single_server("reset")
        core = self.core
        secret = self.bootstrap_token.SecretID if self.bootstrap_token is not None else None
        with core.lock:
            core.restore({}, {}, 0)
            self.lifecycle.restart()
            core.rng.seed(core.seed)
            if isinstance(core.clock, VirtualClock):
                core.clock.set_now(core.start_ns)
            self.lifecycle.gc.start()
            self.bootstrap_token = None
            core.establish_leadership()
            for spec in self.fleet_specs:
                self.add_node(spec)
            if secret is not None:
                self.bootstrap_token = self.acl.bootstrap(self._bootstrap_secret(secret))[0]
            core.checkpoint()

    def _single_server(self, what: str) -> None:
        if self.replica is not None:
            # The state of a Raft group changes only through its log.
            raise NomadError(f"{what} is not available on a replicated server", 400)

    def _bootstrap_secret(self, secret: str) -> Optional[str]:
        """None when the seeded generator would mint ``secret`` itself (a cluster built
        with ``acl=True``): bootstrapping without a fixed secret then draws the same IDs
        as at construction. A secret chosen from outside (``--acl-token``) is kept."""
        rng = self.core.rng
        saved = rng.getstate()
        self.core.new_id()  # the AccessorID
        minted = self.core.new_id()
        rng.setstate(saved)
        return None if minted == secret else secret

    def dump(self) -> dict[str, Any]:
        """The whole state (every table and its index) as JSON-ready data."""
        return dump_state(self.core, self.bootstrap_token)

    def load(self, data: dict[str, Any]) -> None:
        """Replace this cluster's state with a :meth:`dump` (in place, so servers and
        clients holding this cluster see the loaded state)."""
        self._single_server("load")
        self.bootstrap_token = load_state(self.core, self.lifecycle, data)
        self.core.checkpoint()
        if self.core.durable is not None:
            token = self.bootstrap_token
            self.core.durable.put_meta(BOOTSTRAP_SECRET, token.SecretID if token is not None else None)

    @classmethod
    def from_dump(cls, data: dict[str, Any], *, clock: str | Clock = "virtual") -> "Cluster":
        """A new cluster holding a :meth:`dump`'s state (no fleet of its own)."""
        meta = check_dump(data).get("cluster") or {}
        cluster = cls([], seed=int(meta.get("seed", 0)), clock=clock, acl=False,
                      region=meta.get("region", "global"), datacenter=meta.get("datacenter", "dc1"))
        cluster.load(data)
        return cluster

    # Fault shortcuts: delegate to lifecycle.faults (see nomadjobs/lifecycle/faults.py).
    def fail_task(self, alloc_id: str, task: Optional[str] = None, exit_code: int = 1, message: str = "",
                  driver_error: Optional[str] = None) -> None:
        self.lifecycle.faults.fail_task(alloc_id, task, exit_code, message, driver_error)

    def kill_node(self, node_id: str) -> list[str]:
        return self.lifecycle.faults.kill_node(node_id)

    def restore_node(self, node_id: str) -> list[str]:
        return self.lifecycle.faults.restore_node(node_id)

    def drain_node(self, node_id: str, enable: bool = True) -> list[str]:
        return self.lifecycle.faults.drain_node(node_id, enable)

    def make_unhealthy(self, alloc_id: str) -> None:
        self.lifecycle.faults.make_unhealthy(alloc_id)

    def stall_deployment(self, deployment_id: str) -> None:
        self.lifecycle.faults.stall_deployment(deployment_id)

    def __enter__(self) -> "Cluster":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
