"""Lifecycles on the clock: simulated clients, the deployment watcher, the periodic
dispatcher, node side effects and fault injection.

:class:`Lifecycle` wires them to the server core: each registers a listener that sees
every applied FSM command and only schedules timers (or enqueues evaluations); the
timers do the writing, under the core's lock, and the core runs the scheduler after
each. After a restore, :meth:`Lifecycle.restart` and :meth:`Lifecycle.resume` do what
Nomad's new leader does (``establishLeadership``).
"""

from __future__ import annotations

from typing import Iterable, Optional

from .. import structs as s
from ..core.protocol import Core
from ..state.store import StateReader
from .clients import ClientTiming, SimulatedClients
from .deployments import DEFAULT_EVAL_BATCH_NS, DeploymentWatcher
from .faults import Faults
from .gc import GarbageCollector, GCConfig
from .nodes import NodeWatcher
from .periodic import PeriodicDispatcher

__all__ = ["Lifecycle", "ClientTiming", "GCConfig"]


class Lifecycle:
    """Everything that moves on the cluster's clock."""

    def __init__(self, core: Core, simulate_clients: bool = True, timing: Optional[ClientTiming] = None,
                 deployment_eval_batch_ns: int = DEFAULT_EVAL_BATCH_NS, gc: GCConfig = GCConfig()) -> None:
        self.core = core
        self.gc_config = gc
        self.simulate_clients = simulate_clients
        self.timing = timing
        self.deployment_eval_batch_ns = deployment_eval_batch_ns
        self._build()

    def _build(self) -> None:
        core = self.core
        self.clients: Optional[SimulatedClients] = (SimulatedClients(core, self.timing)
                                                    if self.simulate_clients else None)
        self.deployments = DeploymentWatcher(core, self.deployment_eval_batch_ns)
        self.periodic = PeriodicDispatcher(core)
        self.nodes = NodeWatcher(core)
        self.faults = Faults(core, self.clients, self.nodes, self.deployments)
        self.gc = GarbageCollector(core, self.gc_config, self.nodes)
        for part in (self.nodes, self.clients, self.deployments, self.periodic):
            if part is not None:
                core.listeners.append(part.on_apply)

    def restart(self) -> None:
        """Forget everything in flight and start afresh (after a restore or reset): new
        clients, watchers and dispatcher with the same settings. A listener someone
        else added stays, after the new parts, as in a freshly built cluster."""
        # Settings changed on the parts since construction carry over.
        if self.clients is not None:
            self.timing = self.clients.timing
        self.deployment_eval_batch_ns = self.deployments.eval_batch_ns
        self.gc.stop()
        own = [part.on_apply for part in (self.nodes, self.clients, self.deployments, self.periodic)
               if part is not None]
        others = [fn for fn in self.core.listeners if fn not in own]
        self.core.listeners.clear()
        self._build()
        self.core.listeners.extend(others)

    def resume(self, state: StateReader) -> None:
        """What a new leader restarts from the state: the periodic dispatcher tracks its
        jobs again, and the clients start allocations they had not started. Nothing is
        written here."""
        self.gc.start()  # its tickers count from now, as on a new leader
        for job in state.jobs():
            self.periodic.add(job)
        if self.clients is not None:
            self.clients.resume(state)

    # --- periodic -----------------------------------------------------------------------
    def next_periodic_launch(self, job: s.Job, after_ns: int) -> Optional[int]:
        """Next launch of a periodic job strictly after ``after_ns`` (unix ns), or None."""
        return self.periodic.next_launch(job, after_ns)

    # --- deployments -----------------------------------------------------------------------
    def fail_deployment(self, deployment_id: str) -> s.DeploymentUpdateResponse:
        return self.deployments.fail(deployment_id)

    def pause_deployment(self, deployment_id: str, pause: bool) -> s.DeploymentUpdateResponse:
        return self.deployments.pause(deployment_id, pause)

    def promote_deployment(self, deployment_id: str, groups: Optional[Iterable[str]] = None,
                           all: bool = False) -> s.DeploymentUpdateResponse:  # noqa: A002
        return self.deployments.promote(deployment_id, groups, all)

    def set_alloc_health(self, deployment_id: str, healthy_ids: Iterable[str] = (),
                         unhealthy_ids: Iterable[str] = ()) -> s.DeploymentUpdateResponse:
        return self.deployments.set_alloc_health(deployment_id, healthy_ids, unhealthy_ids)

    # --- faults --------------------------------------------------------------------------
    def fail_task(self, alloc_id: str, task: Optional[str] = None, exit_code: int = 1, message: str = "",
                  driver_error: Optional[str] = None) -> None:
        self.faults.fail_task(alloc_id, task, exit_code, message, driver_error)

    def evaluate_node(self, node_id: str) -> list[str]:
        """The node's jobs (and every system job) evaluated now; their eval IDs."""
        return self.nodes.evaluate_now(node_id)

    def kill_node(self, node_id: str) -> list[str]:
        return self.faults.kill_node(node_id)

    def restore_node(self, node_id: str) -> list[str]:
        return self.faults.restore_node(node_id)

    def drain_node(self, node_id: str, enable: bool = True) -> list[str]:
        return self.faults.drain_node(node_id, enable)

    def make_unhealthy(self, alloc_id: str) -> None:
        self.faults.make_unhealthy(alloc_id)

    def stall_deployment(self, deployment_id: str) -> None:
        self.faults.stall_deployment(deployment_id)
