"""Everything the servers write about jobs: summaries, evaluations, allocations,
deployments and nodes. Field order is Nomad's print order (nomad/structs/structs.go)."""

from __future__ import annotations

from typing import Optional

import attrs

from .job import Duration, Job, Resources, frozen
# For fields declared after a field named ``Resources``, which shadows the class there.
from .job import Resources as _Resources


# --- job summary -----------------------------------------------------------------

@frozen
class TaskGroupSummary:
    Queued: int = 0
    Complete: int = 0
    Failed: int = 0
    Running: int = 0
    Starting: int = 0
    Lost: int = 0


@frozen
class JobChildrenSummary:
    Pending: int = 0
    Running: int = 0
    Dead: int = 0


@frozen
class JobSummary:
    JobID: str = ""
    Namespace: str = ""
    Summary: dict[str, TaskGroupSummary] = attrs.Factory(dict)
    Children: Optional[JobChildrenSummary] = None
    CreateIndex: int = 0
    ModifyIndex: int = 0


@frozen
class JobListStub:
    ID: str = ""
    ParentID: str = ""
    Name: str = ""
    Type: str = ""
    Priority: int = 0
    Periodic: bool = False
    ParameterizedJob: bool = False
    Stop: bool = False
    Status: str = ""
    StatusDescription: str = ""
    JobSummary: Optional[JobSummary] = None
    CreateIndex: int = 0
    ModifyIndex: int = 0
    JobModifyIndex: int = 0
    SubmitTime: int = 0


# --- evaluations -----------------------------------------------------------------

@frozen
class AllocMetric:
    NodesEvaluated: int = 0
    NodesFiltered: int = 0
    NodesAvailable: Optional[dict[str, int]] = None
    ClassFiltered: Optional[dict[str, int]] = None
    ConstraintFiltered: Optional[dict[str, int]] = None
    NodesExhausted: int = 0
    ClassExhausted: Optional[dict[str, int]] = None
    DimensionExhausted: Optional[dict[str, int]] = None
    QuotaExhausted: Optional[list[str]] = None
    Scores: Optional[dict[str, float]] = None
    AllocationTime: Duration = 0
    CoalescedFailures: int = 0


@frozen
class Evaluation:
    ID: str = ""
    Namespace: str = ""
    Priority: int = 0
    Type: str = ""
    TriggeredBy: str = ""
    JobID: str = ""
    JobModifyIndex: int = 0
    NodeID: str = ""
    NodeModifyIndex: int = 0
    DeploymentID: str = ""
    Status: str = ""
    StatusDescription: str = ""
    Wait: Duration = 0
    NextEval: str = ""
    PreviousEval: str = ""
    BlockedEval: str = ""
    FailedTGAllocs: Optional[dict[str, AllocMetric]] = None
    ClassEligibility: Optional[dict[str, bool]] = None
    QuotaLimitReached: str = ""
    EscapedComputedClass: bool = False
    AnnotatePlan: bool = False
    QueuedAllocations: Optional[dict[str, int]] = None
    LeaderACL: str = ""
    SnapshotIndex: int = 0
    CreateIndex: int = 0
    ModifyIndex: int = 0

    def terminal(self) -> bool:
        return self.Status in EVAL_TERMINAL


EVAL_STATUS_BLOCKED = "blocked"
EVAL_STATUS_PENDING = "pending"
EVAL_STATUS_COMPLETE = "complete"
EVAL_STATUS_FAILED = "failed"
EVAL_STATUS_CANCELLED = "canceled"
EVAL_TERMINAL = frozenset({EVAL_STATUS_COMPLETE, EVAL_STATUS_FAILED, EVAL_STATUS_CANCELLED})

TRIGGER_JOB_REGISTER = "job-register"
TRIGGER_JOB_DEREGISTER = "job-deregister"
TRIGGER_PERIODIC_JOB = "periodic-job"
TRIGGER_NODE_UPDATE = "node-update"
TRIGGER_ROLLING_UPDATE = "rolling-update"
TRIGGER_DEPLOYMENT_WATCHER = "deployment-watcher"
TRIGGER_MAX_PLANS = "max-plan-attempts"


# --- allocations -----------------------------------------------------------------

@frozen
class TaskEvent:
    Type: str = ""
    Time: int = 0
    Message: str = ""
    DisplayMessage: str = ""
    Details: Optional[dict[str, str]] = None
    FailsTask: bool = False
    RestartReason: str = ""
    SetupError: str = ""
    DriverError: str = ""
    ExitCode: int = 0
    Signal: int = 0
    KillTimeout: Duration = 0
    KillError: str = ""
    KillReason: str = ""
    StartDelay: int = 0
    DownloadError: str = ""
    ValidationError: str = ""
    DiskLimit: int = 0
    FailedSibling: str = ""
    VaultError: str = ""
    TaskSignalReason: str = ""
    TaskSignal: str = ""
    DriverMessage: str = ""
    GenericSource: str = ""


ZERO_TIME = "0001-01-01T00:00:00Z"


@frozen
class TaskState:
    State: str = ""
    Failed: bool = False
    Restarts: int = 0
    LastRestart: str = ZERO_TIME
    StartedAt: str = ZERO_TIME
    FinishedAt: str = ZERO_TIME
    Events: Optional[list[TaskEvent]] = None


@frozen
class AllocDeploymentStatus:
    Healthy: Optional[bool] = None
    ModifyIndex: int = 0


@frozen
class Allocation:
    ID: str = ""
    Namespace: str = ""
    EvalID: str = ""
    Name: str = ""
    NodeID: str = ""
    JobID: str = ""
    Job: Optional[Job] = None
    TaskGroup: str = ""
    Resources: Optional[Resources] = None
    SharedResources: Optional[_Resources] = None
    TaskResources: Optional[dict[str, _Resources]] = None
    Metrics: Optional[AllocMetric] = None
    DesiredStatus: str = ""
    DesiredDescription: str = ""
    ClientStatus: str = ""
    ClientDescription: str = ""
    TaskStates: Optional[dict[str, TaskState]] = None
    PreviousAllocation: str = ""
    DeploymentID: str = ""
    DeploymentStatus: Optional[AllocDeploymentStatus] = None
    CreateIndex: int = 0
    ModifyIndex: int = 0
    AllocModifyIndex: int = 0
    CreateTime: int = 0
    ModifyTime: int = 0

    def terminal(self) -> bool:
        """Terminal on the server (desired) or the client side."""
        return (self.DesiredStatus in (ALLOC_DESIRED_STOP, ALLOC_DESIRED_EVICT)
                or self.ClientStatus in ALLOC_CLIENT_TERMINAL)

    def index(self) -> int:
        """The number in ``<job>.<group>[<n>]``."""
        start = self.Name.rfind("[")
        return int(self.Name[start + 1:-1]) if start >= 0 else -1


@frozen
class AllocListStub:
    ID: str = ""
    EvalID: str = ""
    Name: str = ""
    NodeID: str = ""
    JobID: str = ""
    JobVersion: int = 0
    TaskGroup: str = ""
    DesiredStatus: str = ""
    DesiredDescription: str = ""
    ClientStatus: str = ""
    ClientDescription: str = ""
    TaskStates: Optional[dict[str, TaskState]] = None
    DeploymentStatus: Optional[AllocDeploymentStatus] = None
    CreateIndex: int = 0
    ModifyIndex: int = 0
    CreateTime: int = 0
    ModifyTime: int = 0


ALLOC_DESIRED_RUN = "run"
ALLOC_DESIRED_STOP = "stop"
ALLOC_DESIRED_EVICT = "evict"
ALLOC_CLIENT_PENDING = "pending"
ALLOC_CLIENT_RUNNING = "running"
ALLOC_CLIENT_COMPLETE = "complete"
ALLOC_CLIENT_FAILED = "failed"
ALLOC_CLIENT_LOST = "lost"
ALLOC_CLIENT_TERMINAL = frozenset({ALLOC_CLIENT_COMPLETE, ALLOC_CLIENT_FAILED, ALLOC_CLIENT_LOST})


# --- deployments -----------------------------------------------------------------

@frozen
class DeploymentState:
    AutoRevert: bool = False
    Promoted: bool = False
    PlacedCanaries: Optional[list[str]] = None
    DesiredCanaries: int = 0
    DesiredTotal: int = 0
    PlacedAllocs: int = 0
    HealthyAllocs: int = 0
    UnhealthyAllocs: int = 0


@frozen
class Deployment:
    ID: str = ""
    Namespace: str = ""
    JobID: str = ""
    JobVersion: int = 0
    JobModifyIndex: int = 0
    JobCreateIndex: int = 0
    TaskGroups: dict[str, DeploymentState] = attrs.Factory(dict)
    Status: str = ""
    StatusDescription: str = ""
    CreateIndex: int = 0
    ModifyIndex: int = 0

    def active(self) -> bool:
        return self.Status in (DEPLOYMENT_STATUS_RUNNING, DEPLOYMENT_STATUS_PAUSED)


DEPLOYMENT_STATUS_RUNNING = "running"
DEPLOYMENT_STATUS_PAUSED = "paused"
DEPLOYMENT_STATUS_FAILED = "failed"
DEPLOYMENT_STATUS_SUCCESSFUL = "successful"
DEPLOYMENT_STATUS_CANCELLED = "cancelled"

DEPLOYMENT_DESC_RUNNING = "Deployment is running"
DEPLOYMENT_DESC_RUNNING_NEEDS_PROMOTION = "Deployment is running but requires promotion"
DEPLOYMENT_DESC_PAUSED = "Deployment is paused"
DEPLOYMENT_DESC_SUCCESSFUL = "Deployment completed successfully"
DEPLOYMENT_DESC_STOPPED_JOB = "Cancelled because job is stopped"
DEPLOYMENT_DESC_NEWER_JOB = "Cancelled due to newer version of job"
DEPLOYMENT_DESC_FAILED_ALLOCATIONS = "Failed due to unhealthy allocations"
DEPLOYMENT_DESC_FAILED_BY_USER = "Deployment marked as failed"


# --- nodes -----------------------------------------------------------------------

@frozen
class Node:
    ID: str = ""
    SecretID: str = ""
    Datacenter: str = ""
    Name: str = ""
    HTTPAddr: str = ""
    TLSEnabled: bool = False
    Attributes: Optional[dict[str, str]] = None
    Resources: Optional[Resources] = None
    Reserved: Optional[_Resources] = None
    Links: Optional[dict[str, str]] = None
    Meta: Optional[dict[str, str]] = None
    NodeClass: str = ""
    ComputedClass: str = ""
    Drain: bool = False
    Status: str = ""
    StatusDescription: str = ""
    StatusUpdatedAt: int = 0
    CreateIndex: int = 0
    ModifyIndex: int = 0

    def ready(self) -> bool:
        return self.Status == NODE_STATUS_READY and not self.Drain


@frozen
class NodeListStub:
    ID: str = ""
    Datacenter: str = ""
    Name: str = ""
    NodeClass: str = ""
    Version: str = ""
    Drain: bool = False
    Status: str = ""
    StatusDescription: str = ""
    CreateIndex: int = 0
    ModifyIndex: int = 0


NODE_STATUS_INIT = "initializing"
NODE_STATUS_READY = "ready"
NODE_STATUS_DOWN = "down"


@frozen
class PeriodicLaunch:
    """When a periodic parent last launched (the first row is its insertion time)."""
    ID: str = ""
    Namespace: str = ""
    Launch: int = 0
    CreateIndex: int = 0
    ModifyIndex: int = 0


# --- ACLs ------------------------------------------------------------------------------

@frozen
class ACLPolicy:
    Name: str = ""
    Description: str = ""
    Rules: str = ""
    # BLAKE2b-256 of name, description and rules; base64 on the wire.
    Hash: Optional[bytes] = None
    CreateIndex: int = 0
    ModifyIndex: int = 0


@frozen
class ACLToken:
    AccessorID: str = ""
    SecretID: str = ""
    Name: str = ""
    Type: str = ""
    Policies: Optional[list[str]] = None
    Global: bool = False
    # BLAKE2b-256 of name, type, policies and scope; base64 on the wire.
    Hash: Optional[bytes] = None
    CreateTime: str = ZERO_TIME
    CreateIndex: int = 0
    ModifyIndex: int = 0

    def is_management(self) -> bool:
        return self.Type == ACL_MANAGEMENT_TOKEN


@frozen
class ACLPolicyListStub:
    Name: str = ""
    Description: str = ""
    Hash: Optional[bytes] = None
    CreateIndex: int = 0
    ModifyIndex: int = 0


@frozen
class ACLTokenListStub:
    AccessorID: str = ""
    Name: str = ""
    Type: str = ""
    Policies: Optional[list[str]] = None
    Global: bool = False
    Hash: Optional[bytes] = None
    CreateTime: str = ZERO_TIME
    CreateIndex: int = 0
    ModifyIndex: int = 0


ACL_CLIENT_TOKEN = "client"
ACL_MANAGEMENT_TOKEN = "management"
