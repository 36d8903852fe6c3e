"""Plan annotations and job diffs. Nomad prints the diff structs with their keys in
alphabetical order (they carry JSON tags upstream), so these classes declare their
attributes alphabetically."""

from __future__ import annotations

from typing import Optional

from .cluster import Allocation, Deployment
from .job import Job, frozen

DIFF_ADDED = "Added"
DIFF_DELETED = "Deleted"
DIFF_EDITED = "Edited"
DIFF_NONE = "None"


@frozen
class FieldDiff:
    Annotations: Optional[list[str]] = None
    Name: str = ""
    New: str = ""
    Old: str = ""
    Type: str = DIFF_NONE


@frozen
class ObjectDiff:
    Fields: Optional[list[FieldDiff]] = None
    Name: str = ""
    Objects: Optional[list["ObjectDiff"]] = None
    Type: str = DIFF_NONE


@frozen
class TaskDiff:
    Annotations: Optional[list[str]] = None
    Fields: Optional[list[FieldDiff]] = None
    Name: str = ""
    Objects: Optional[list[ObjectDiff]] = None
    Type: str = DIFF_NONE


@frozen
class TaskGroupDiff:
    Fields: Optional[list[FieldDiff]] = None
    Name: str = ""
    Objects: Optional[list[ObjectDiff]] = None
    Tasks: Optional[list[TaskDiff]] = None
    Type: str = DIFF_NONE
    Updates: Optional[dict[str, int]] = None


@frozen
class JobDiff:
    Fields: Optional[list[FieldDiff]] = None
    ID: str = ""
    Objects: Optional[list[ObjectDiff]] = None
    TaskGroups: Optional[list[TaskGroupDiff]] = None
    Type: str = DIFF_NONE


@frozen
class DesiredUpdates:
    Ignore: int = 0
    Place: int = 0
    Migrate: int = 0
    Stop: int = 0
    InPlaceUpdate: int = 0
    DestructiveUpdate: int = 0
    Canary: int = 0


@frozen
class PlanAnnotations:
    DesiredTGUpdates: Optional[dict[str, DesiredUpdates]] = None


# --- scheduler plans (server-internal; printed only inside other objects) ----------------


@frozen
class DeploymentStatusUpdate:
    DeploymentID: str = ""
    Status: str = ""
    StatusDescription: str = ""


@frozen
class Plan:
    """What a scheduler asks the plan applier to commit for one evaluation."""
    EvalID: str = ""
    Priority: int = 0
    AllAtOnce: bool = False
    Job: Optional[Job] = None
    # Allocations to stop or evict (desired status changed), keyed by node ID.
    NodeUpdate: Optional[dict[str, list[Allocation]]] = None
    # New allocations and in-place updates, keyed by node ID.
    NodeAllocation: Optional[dict[str, list[Allocation]]] = None
    Annotations: Optional[PlanAnnotations] = None
    # A deployment to create or update, and status changes of other deployments.
    Deployment: Optional[Deployment] = None
    DeploymentUpdates: Optional[list[DeploymentStatusUpdate]] = None

    def is_noop(self) -> bool:
        return (not self.NodeUpdate and not self.NodeAllocation
                and self.Deployment is None and not self.DeploymentUpdates)


@frozen
class PlanResult:
    NodeUpdate: Optional[dict[str, list[Allocation]]] = None
    NodeAllocation: Optional[dict[str, list[Allocation]]] = None
    Deployment: Optional[Deployment] = None
    DeploymentUpdates: Optional[list[DeploymentStatusUpdate]] = None
    # Non-zero when part of the plan was refused and the scheduler must refresh its state.
    RefreshIndex: int = 0
    AllocIndex: int = 0
