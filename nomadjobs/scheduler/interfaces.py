"""What the schedulers need from the rest of the server (``scheduler/scheduler.go``).

The state store implements :class:`StateReader`; the cluster (or a dry-run harness)
implements :class:`Planner`.
"""

from __future__ import annotations

from typing import Any, Optional, Protocol

from ..structs import Allocation, Deployment, Evaluation, Job, Node, Plan, PlanResult
from ..state.mvcc import VersionedGroup


class StateReader(Protocol):
    """A consistent snapshot; every method returns frozen models."""

    def job_by_id(self, namespace: str, job_id: str) -> Optional[Job]: ...

    def allocs_by_job(self, namespace: str, job_id: str, all_incarnations: bool) -> list[Allocation]: ...

    def allocs_by_node(self, node_id: str) -> list[Allocation]: ...

    def node_allocs_token(self, node_id: str) -> Optional[VersionedGroup]:
        """The node's allocations (key -> allocation, unordered), as an object that
        stays the same exactly as long as they are unchanged; None when there are none."""

    def alloc_by_id(self, alloc_id: str) -> Optional[Allocation]: ...

    def nodes_token(self) -> Optional[object]:
        """The same object exactly as long as the nodes are unchanged (None: unknown)."""

    @property
    def memo(self) -> dict[Any, Any]:
        """A dict shared across snapshots for data derived under such tokens."""

    def nodes(self) -> list[Node]: ...

    def node_by_id(self, node_id: str) -> Optional[Node]: ...

    def latest_deployment_by_job(self, namespace: str, job_id: str) -> Optional[Deployment]: ...

    def deployment_by_id(self, deployment_id: str) -> Optional[Deployment]: ...

    def eval_by_id(self, eval_id: str) -> Optional[Evaluation]: ...

    def latest_index(self) -> int: ...


class Planner(Protocol):
    def submit_plan(self, plan: Plan) -> tuple[PlanResult, Optional[StateReader]]: ...

    def update_eval(self, ev: Evaluation) -> None: ...

    def create_eval(self, ev: Evaluation) -> None: ...

    def reblock_eval(self, ev: Evaluation) -> None: ...


class Scheduler(Protocol):
    def process(self, ev: Evaluation) -> None: ...
