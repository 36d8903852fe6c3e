"""Request and response bodies of the Jobs endpoints, in Nomad's print order.

Where the documentation page and a real v0.7.1 agent disagree, these follow the
agent (``/versions`` is an object with ``Versions``; ``/stable`` answers ``{"Index"}``).
"""

from __future__ import annotations

from typing import Optional

from .cluster import AllocMetric, Evaluation
from .job import Job, frozen
from .plan import JobDiff, PlanAnnotations

ZERO_TIME = "0001-01-01T00:00:00Z"


@frozen
class JobRegisterRequest:
    Job: Optional[Job] = None
    EnforceIndex: bool = False
    JobModifyIndex: int = 0
    PolicyOverride: bool = False
    Region: str = ""
    Namespace: str = ""
    SecretID: str = ""


@frozen
class JobRegisterResponse:
    EvalID: str = ""
    EvalCreateIndex: int = 0
    JobModifyIndex: int = 0
    Warnings: str = ""
    Index: int = 0
    LastContact: int = 0
    KnownLeader: bool = False


@frozen
class JobDeregisterResponse:
    EvalID: str = ""
    EvalCreateIndex: int = 0
    JobModifyIndex: int = 0
    Index: int = 0
    LastContact: int = 0
    KnownLeader: bool = False


@frozen
class JobPlanRequest:
    Job: Optional[Job] = None
    Diff: bool = False
    PolicyOverride: bool = False
    Region: str = ""
    Namespace: str = ""
    SecretID: str = ""


@frozen
class JobPlanResponse:
    Annotations: Optional[PlanAnnotations] = None
    FailedTGAllocs: Optional[dict[str, AllocMetric]] = None
    JobModifyIndex: int = 0
    CreatedEvals: Optional[list[Evaluation]] = None
    Diff: Optional[JobDiff] = None
    NextPeriodicLaunch: str = ZERO_TIME
    Warnings: str = ""
    Index: int = 0


@frozen
class JobsParseRequest:
    """PUT /v1/jobs/parse (from later Nomad versions than 0.7.1)."""
    JobHCL: str = ""
    Canonicalize: bool = False


@frozen
class JobDispatchRequest:
    JobID: str = ""
    Payload: Optional[bytes] = None
    Meta: Optional[dict[str, str]] = None
    Region: str = ""
    Namespace: str = ""
    AuthToken: str = ""


@frozen
class JobDispatchResponse:
    DispatchedJobID: str = ""
    EvalID: str = ""
    EvalCreateIndex: int = 0
    JobCreateIndex: int = 0
    Index: int = 0


@frozen
class JobRevertRequest:
    JobID: str = ""
    JobVersion: int = 0
    EnforcePriorVersion: Optional[int] = None
    Region: str = ""
    Namespace: str = ""
    AuthToken: str = ""


@frozen
class JobStabilityRequest:
    JobID: str = ""
    JobVersion: int = 0
    Stable: bool = False
    Region: str = ""
    Namespace: str = ""
    AuthToken: str = ""


@frozen
class JobStabilityResponse:
    Index: int = 0


@frozen
class PeriodicForceResponse:
    EvalID: str = ""
    EvalCreateIndex: int = 0
    Index: int = 0


@frozen
class JobVersionsResponse:
    Versions: Optional[list[Job]] = None
    Diffs: Optional[list[JobDiff]] = None
    Index: int = 0
    LastContact: int = 0
    KnownLeader: bool = False


@frozen
class JobValidateRequest:
    Job: Optional[Job] = None
    Region: str = ""
    Namespace: str = ""
    SecretID: str = ""


@frozen
class JobValidateResponse:
    DriverConfigValidated: bool = False
    ValidationErrors: Optional[list[str]] = None
    Error: str = ""
    Warnings: str = ""



# --- deployments (nomad/structs/structs.go: Deployment*Request, DeploymentUpdateResponse) ----

@frozen
class DeploymentPauseRequest:
    DeploymentID: str = ""
    Pause: bool = False
    Region: str = ""
    Namespace: str = ""
    AuthToken: str = ""


@frozen
class DeploymentPromoteRequest:
    DeploymentID: str = ""
    All: bool = False
    Groups: Optional[list[str]] = None
    Region: str = ""
    Namespace: str = ""
    AuthToken: str = ""


@frozen
class DeploymentAllocHealthRequest:
    DeploymentID: str = ""
    HealthyAllocationIDs: Optional[list[str]] = None
    UnhealthyAllocationIDs: Optional[list[str]] = None
    Region: str = ""
    Namespace: str = ""
    AuthToken: str = ""


@frozen
class DeploymentUpdateResponse:
    EvalID: str = ""
    EvalCreateIndex: int = 0
    DeploymentModifyIndex: int = 0
    RevertedJobVersion: Optional[int] = None
    Index: int = 0


# --- search (nomad/structs/structs.go: SearchRequest, SearchResponse) -----------------------

@frozen
class SearchRequest:
    Prefix: str = ""
    Context: str = ""
    Region: str = ""
    Namespace: str = ""
    AuthToken: str = ""


@frozen
class SearchResponse:
    Matches: Optional[dict[str, Optional[list[str]]]] = None
    Truncations: Optional[dict[str, bool]] = None
    Index: int = 0
    LastContact: int = 0
    KnownLeader: bool = False
