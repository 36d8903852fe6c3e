"""Faults on demand, for tests of code that drives Nomad: failing tasks, dying and
returning nodes, draining, unhealthy deployment allocations, stalled deployments.

Each fault commits through the FSM like the real event would (client alloc updates,
node status/drain updates) and then lets the scheduler run on what it queued.
"""

from __future__ import annotations

from typing import Optional

from .. import fsm as cmds
from .. import structs as s
from ..core.protocol import Core
from .clients import SimulatedClients
from .deployments import DeploymentWatcher
from .nodes import NodeWatcher


class Faults:
    def __init__(self, core: Core, clients: Optional[SimulatedClients], nodes: NodeWatcher,
                 deployments: DeploymentWatcher) -> None:
        self.core = core
        self.clients = clients
        self.nodes = nodes
        self.deployments = deployments
        self.stalled: set[str] = set()

    def _settle(self) -> None:
        self.core.process_evals()

    def _node(self, node_id: str) -> s.Node:
        node = self.core.snapshot().node_by_id(node_id)
        if node is None:
            raise ValueError(f'node "{node_id}" not found')
        return node

    def fail_task(self, alloc_id: str, task: Optional[str] = None, exit_code: int = 1, message: str = "",
                  driver_error: Optional[str] = None) -> None:
        """The task's process exits with ``exit_code`` (or its driver fails with
        ``driver_error``); the group's restart policy decides what follows."""
        if self.clients is None:
            raise ValueError("clients are not simulated")
        with self.core.lock:
            self.clients.fail_task(alloc_id, task, exit_code, message, driver_error)
            self._settle()

    def kill_node(self, node_id: str) -> list[str]:
        """The node stops heartbeating and is marked ``down``; its allocations are
        lost (the ``node-update`` evals' scheduler passes replace them). Returns the
        IDs of the node evaluations."""
        with self.core.lock:
            self._node(node_id)
            self.core.apply(cmds.NodeStatusUpdate(node_id, s.NODE_STATUS_DOWN, self.core.now_ns() // 10**9))
            created = self.nodes.flush(node_id)
            self._settle()
        return created

    def restore_node(self, node_id: str) -> list[str]:
        """The node heartbeats again: ``ready``, node evals, blocked evals unblocked."""
        with self.core.lock:
            self._node(node_id)
            self.core.apply(cmds.NodeStatusUpdate(node_id, s.NODE_STATUS_READY, self.core.now_ns() // 10**9))
            created = self.nodes.flush(node_id)
            self._settle()
        return created

    def drain_node(self, node_id: str, enable: bool = True) -> list[str]:
        """Set or clear the drain flag; the scheduler migrates allocations away."""
        with self.core.lock:
            self._node(node_id)
            self.core.apply(cmds.NodeDrainUpdate(node_id, enable))
            created = self.nodes.flush(node_id)
            self._settle()
        return created

    def make_unhealthy(self, alloc_id: str) -> None:
        """The client reports the alloc unhealthy for its deployment now (as when a
        health check fails); the deployment watcher then fails the deployment."""
        with self.core.lock:
            alloc = self.core.snapshot().alloc_by_id(alloc_id)
            if alloc is None:
                raise ValueError(f'alloc "{alloc_id}" not found')
            if not alloc.DeploymentID:
                raise ValueError(f'alloc "{alloc_id}" is not part of a deployment')
            reported = self.clients is not None and self.clients.force_unhealthy(alloc_id)
            if not reported:
                if alloc.DeploymentStatus is not None and alloc.DeploymentStatus.Healthy is not None:
                    raise ValueError(f'alloc "{alloc_id}" health is already decided')
                # No simulated runner (clients off): report as the client would.
                update = s.evolve(alloc, DeploymentStatus=s.AllocDeploymentStatus(Healthy=False),
                                      ModifyTime=self.core.now_ns())
                self.core.apply(cmds.AllocClientUpdate([update]))
            self._settle()

    def stall_deployment(self, deployment_id: str) -> None:
        """Allocations of the deployment never become healthy (health checks keep
        failing to pass) until the HealthyDeadline makes them unhealthy."""
        with self.core.lock:
            if self.core.snapshot().deployment_by_id(deployment_id) is None:
                raise ValueError(f'deployment "{deployment_id}" not found')
            self.stalled.add(deployment_id)
            if self.clients is not None:
                self.clients.stalled.add(deployment_id)
                for runner in self.clients.runners.values():
                    if runner.deployment_id == deployment_id and runner.health_timer is not None:
                        runner.health_timer.cancel()
                        runner.health_timer = None
