"""Lifecycles on the clock: simulated clients, the deployment watcher, the periodic
dispatcher, node side effects and fault injection.

:class:`Lifecycle` wires them to the cluster: each registers a listener that sees every
applied FSM command and only schedules timers (or enqueues evaluations); the timers do
the writing, under the cluster lock, and the cluster runs the scheduler after each.
"""

from __future__ import annotations

from typing import Any, Iterable, Optional

from .. import structs as s
from .clients import ClientTiming, SimulatedClients
from .deployments import DEFAULT_EVAL_BATCH_NS, DeploymentWatcher
from .faults import Faults
from .nodes import NodeWatcher
from .periodic import PeriodicDispatcher

__all__ = ["Lifecycle", "ClientTiming"]


class Lifecycle:
    """Everything that moves on the cluster's clock."""

    def __init__(self, cluster: Any, simulate_clients: bool = True, timing: Optional[ClientTiming] = None,
                 deployment_eval_batch_ns: int = DEFAULT_EVAL_BATCH_NS) -> None:
        self.cluster = cluster
        self.simulate_clients = simulate_clients
        self.clients: Optional[SimulatedClients] = SimulatedClients(cluster, timing) if simulate_clients else None
        self.deployments = DeploymentWatcher(cluster, deployment_eval_batch_ns)
        self.periodic = PeriodicDispatcher(cluster)
        self.nodes = NodeWatcher(cluster)
        self.faults = Faults(cluster, self.clients, self.nodes, self.deployments)
        for part in (self.nodes, self.clients, self.deployments, self.periodic):
            if part is not None:
                cluster.listeners.append(part.on_apply)

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
