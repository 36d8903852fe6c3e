"""The finite-state machine: the only writer of the state store.

Every change to the cluster is a small, serializable command (an attrs class) that
:meth:`FSM.apply` turns into one write transaction at the next global index, like a
Raft log entry applied by Nomad's ``nomad/fsm.go``. Durability (a command log plus
snapshots) or replication would attach here without touching anything above.

As in Nomad, a command the state store refuses still consumes its index (the log
entry was committed); the refused command leaves no other trace.
"""

from __future__ import annotations

import threading
from typing import Any, Callable, Optional, cast

import attrs

from . import structs as s
from .state.mvcc import Database
from .state.store import StateError, StateWriter
from .structs import frozen


# --- commands ----------------------------------------------------------------------------

@frozen
class JobRegister:
    job: s.Job
    launch_time_ns: int = 0  # for periodic parents: the insertion time recorded as a launch


@frozen
class JobDeregister:
    namespace: str
    job_id: str
    purge: bool = False


@frozen
class ReconcileJobSummaries:
    """The new leader's summary reconciliation (v0.7.1 nomad/leader.go,
    ``establishLeadership`` -> ``reconcileJobSummaries``; fsm.go
    ``applyReconcileSummaries``). ``queued`` adds what a dry run of each job would
    still place (fsm.go ``reconcileQueuedAllocations``), decided before the command."""

    queued: Optional[dict[tuple[str, str], dict[str, int]]] = None


@frozen
class EvalUpdate:
    evals: list[s.Evaluation]


@frozen
class EvalDelete:
    evals: list[str]
    allocs: list[str] = attrs.Factory(list)


@frozen
class ApplyPlanResults:
    eval_id: str
    job: Optional[s.Job]
    allocs: list[s.Allocation]
    deployment: Optional[s.Deployment] = None
    deployment_updates: list[s.DeploymentStatusUpdate] = attrs.Factory(list)


@frozen
class AllocClientUpdate:
    allocs: list[s.Allocation]


@frozen
class DeploymentStatusChange:
    update: s.DeploymentStatusUpdate
    job: Optional[s.Job] = None
    eval: Optional[s.Evaluation] = None


@frozen
class DeploymentPromotion:
    deployment_id: str
    groups: Optional[list[str]] = None
    all: bool = False
    eval: Optional[s.Evaluation] = None


@frozen
class DeploymentAllocHealth:
    deployment_id: str
    healthy: list[str] = attrs.Factory(list)
    unhealthy: list[str] = attrs.Factory(list)
    now_ns: int = 0
    update: Optional[s.DeploymentStatusUpdate] = None
    job: Optional[s.Job] = None
    eval: Optional[s.Evaluation] = None


@frozen
class JobStability:
    namespace: str
    job_id: str
    version: int
    stable: bool


@frozen
class NodeRegister:
    node: s.Node


@frozen
class NodeStatusUpdate:
    node_id: str
    status: str
    now_s: int = 0


@frozen
class NodeDrainUpdate:
    node_id: str
    drain: bool


@frozen
class NodeDeregister:
    node_id: str


@frozen
class PeriodicLaunchUpsert:
    launch: s.PeriodicLaunch


@frozen
class ACLPolicyUpsert:
    policies: list[s.ACLPolicy]


@frozen
class ACLPolicyDelete:
    names: list[str]


@frozen
class ACLTokenUpsert:
    tokens: list[s.ACLToken]


@frozen
class ACLTokenDelete:
    accessor_ids: list[str]


@frozen
class DeploymentDelete:
    deployments: list[str]


@frozen
class ACLTokenBootstrap:
    token: s.ACLToken
    reset_index: int = 0


@frozen
class ApplyResult:
    index: int
    error: Optional[str] = None
    value: Any = None


# --- handlers ----------------------------------------------------------------------------

def _job_register(w: StateWriter, c: JobRegister) -> Any:
    job = w.upsert_job(c.job)
    # A stored job is canonical: its namespace and ID are set.
    namespace, job_id = cast(str, job.Namespace), cast(str, job.ID)
    if job.Periodic is not None and job.Periodic.Enabled and not job.Stop and not job.is_parameterized():
        if w.periodic_launch(namespace, job_id) is None:
            w.upsert_periodic_launch(s.PeriodicLaunch(ID=job_id, Namespace=namespace, Launch=c.launch_time_ns))
    if job.ParentID:
        parent = w.job_by_id(namespace, job.ParentID)
        if parent is not None and parent.is_periodic() and not parent.is_parameterized():
            w.upsert_periodic_launch(s.PeriodicLaunch(ID=cast(str, parent.ID), Namespace=namespace,
                                                      Launch=c.launch_time_ns))
    return job


def _job_deregister(w: StateWriter, c: JobDeregister) -> Any:
    if c.purge:
        w.delete_job(c.namespace, c.job_id)
        w.delete_periodic_launch(c.namespace, c.job_id)
        return None
    current = w.job_by_id(c.namespace, c.job_id)
    if current is None:
        raise StateError(f'job "{c.job_id}" in namespace "{c.namespace}" doesn\'t exist to be deregistered')
    return w.upsert_job(s.evolve(current, Stop=True))


def _deployment_status(w: StateWriter, c: DeploymentStatusChange) -> Any:
    w.update_deployment_status(c.update)
    if c.job is not None:
        w.upsert_job(c.job)
    if c.eval is not None:
        w.upsert_evals([c.eval])


def _deployment_promotion(w: StateWriter, c: DeploymentPromotion) -> Any:
    w.promote_deployment(c.deployment_id, c.groups, c.all)
    if c.eval is not None:
        w.upsert_evals([c.eval])


def _deployment_health(w: StateWriter, c: DeploymentAllocHealth) -> Any:
    w.set_alloc_health(c.deployment_id, c.healthy, c.unhealthy, c.now_ns)
    if c.update is not None:
        w.update_deployment_status(c.update)
    if c.job is not None:
        w.upsert_job(c.job)
    if c.eval is not None:
        w.upsert_evals([c.eval])


HANDLERS: dict[type, Callable[[StateWriter, Any], Any]] = {
    JobRegister: _job_register,
    JobDeregister: _job_deregister,
    ReconcileJobSummaries: lambda w, c: w.reconcile_job_summaries(c.queued),
    EvalUpdate: lambda w, c: w.upsert_evals(c.evals),
    EvalDelete: lambda w, c: w.delete_evals(c.evals, c.allocs),
    ApplyPlanResults: lambda w, c: w.apply_plan_results(c.eval_id, c.job, c.allocs, c.deployment,
                                                        c.deployment_updates),
    AllocClientUpdate: lambda w, c: w.update_allocs_from_client(c.allocs),
    DeploymentStatusChange: _deployment_status,
    DeploymentPromotion: _deployment_promotion,
    DeploymentAllocHealth: _deployment_health,
    JobStability: lambda w, c: w.update_job_stability(c.namespace, c.job_id, c.version, c.stable),
    NodeRegister: lambda w, c: w.upsert_node(c.node),
    NodeStatusUpdate: lambda w, c: w.update_node_status(c.node_id, c.status, c.now_s),
    NodeDrainUpdate: lambda w, c: w.update_node_drain(c.node_id, c.drain),
    NodeDeregister: lambda w, c: w.delete_node(c.node_id),
    PeriodicLaunchUpsert: lambda w, c: w.upsert_periodic_launch(c.launch),
    ACLPolicyUpsert: lambda w, c: w.upsert_acl_policies(c.policies),
    ACLPolicyDelete: lambda w, c: w.delete_acl_policies(c.names),
    ACLTokenUpsert: lambda w, c: w.upsert_acl_tokens(c.tokens),
    ACLTokenDelete: lambda w, c: w.delete_acl_tokens(c.accessor_ids),
    ACLTokenBootstrap: lambda w, c: w.bootstrap_acl_token(c.token, c.reset_index),
    DeploymentDelete: lambda w, c: w.delete_deployments(c.deployments),
}


class FSM:
    """Applies commands to the database, one at a time, each at the next index."""

    def __init__(self, db: Database, on_apply: Optional[Callable[[Any, ApplyResult], None]] = None) -> None:
        self.db = db
        self._lock = threading.RLock()
        self._on_apply = on_apply
        # The applied command log (index, command), kept for inspection and replay.
        self.log: list[tuple[int, Any]] = []
        self.keep_log = False

    def apply(self, command: Any) -> ApplyResult:
        return self._apply(command, True)

    def replay(self, command: Any) -> ApplyResult:
        """Apply a command from a durable log: the state changes as it did, and no
        hook runs (what the hooks keep is rebuilt from the state afterwards)."""
        return self._apply(command, False)

    def _apply(self, command: Any, notify: bool) -> ApplyResult:
        handler = HANDLERS[type(command)]
        with self._lock:
            try:
                with self.db.write_txn() as txn:
                    value = handler(StateWriter(txn), command)
                    index = txn.index
                result = ApplyResult(index=index, value=value)
            except StateError as exc:
                # The entry is committed even though the state refused it: burn the index.
                with self.db.write_txn() as txn:
                    index = txn.index
                result = ApplyResult(index=index, error=str(exc))
            if self.keep_log:
                self.log.append((result.index, command))
        if notify and self._on_apply is not None:
            self._on_apply(command, result)
        return result
