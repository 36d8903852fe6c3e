"""The job specification: Job and everything nested inside it.

Attribute names are Nomad's wire names (PascalCase with Go's acronyms: ``ID``,
``MemoryMB``), and attributes are declared in the order Nomad prints them, so the
codec needs no renaming table. Durations are integer nanoseconds (``Duration``).

Fields that the Go ``api`` package models as pointers default to ``None`` here:
"absent" must stay distinguishable from "zero" until the API-layer defaults
(:mod:`nomadjobs.canonicalize`) have run. A canonicalized job has no ``None`` in
those places. Fields marked ``input_only`` are accepted on input (the api package
has them) but are not part of the server struct, so they are never printed.
"""

from __future__ import annotations

from typing import Any, Callable, Optional, TypeVar

import attrs

# Every model is a frozen, slotted attrs class (attrs' defaults: slots=True,
# cache_hash=False): stored objects are shared by snapshots and never mutated.
# Imported by this name so that mypy's attrs plugin sees the models as attrs classes.
from attrs import frozen as frozen

Duration = int  # nanoseconds, as Go's time.Duration

INPUT_ONLY = {"input_only": True}

_T = TypeVar("_T")
_EVOLVERS: dict[type, Callable[[Any, dict[str, Any]], Any]] = {}


def evolve(inst: _T, **changes: Any) -> _T:
    """``attrs.evolve`` for the models: a copy with ``changes`` applied. Models are
    plain data (no converters or validators), so a per-class generated function sets
    the slots directly, about three times faster; the stores evolve objects on every
    write."""
    fn: Optional[Callable[[_T, dict[str, Any]], _T]] = _EVOLVERS.get(type(inst))
    if fn is None:
        fn = _EVOLVERS[type(inst)] = _make_evolver(type(inst))
    return fn(inst, changes)


def _make_evolver(cls: type) -> Callable[[Any, dict[str, Any]], Any]:
    fields = attrs.fields(cls)
    if any(f.converter is not None or f.validator is not None or not f.init or f.alias != f.name
           for f in fields):
        return lambda inst, changes: attrs.evolve(inst, **changes)
    names = frozenset(f.name for f in fields)
    env: dict[str, Any] = {"_new": object.__new__, "_cls": cls, "_names": names}
    lines = ["def evolve(inst, ch):",
             "    if not ch.keys() <= _names:",
             "        raise TypeError(f'{_cls.__name__}: unknown fields {sorted(ch.keys() - _names)}')",
             "    new = _new(_cls)"]
    for i, f in enumerate(fields):
        env[f"_set{i}"] = cls.__dict__[f.name].__set__  # the slot itself: frozen is a __setattr__ rule
        lines.append(f"    _set{i}(new, ch[{f.name!r}] if {f.name!r} in ch else inst.{f.name})")
    lines.append("    return new")
    exec("\n".join(lines), env)
    evolver: Callable[[Any, dict[str, Any]], Any] = env["evolve"]
    return evolver


@frozen
class Constraint:
    LTarget: str = ""
    RTarget: str = ""
    Operand: str = ""


@frozen
class Port:
    Label: str = ""
    Value: int = 0


@frozen
class NetworkResource:
    Device: str = ""
    CIDR: str = ""
    IP: str = ""
    MBits: Optional[int] = None
    ReservedPorts: Optional[list[Port]] = None
    DynamicPorts: Optional[list[Port]] = None


@frozen
class Resources:
    CPU: Optional[int] = None
    MemoryMB: Optional[int] = None
    DiskMB: Optional[int] = None
    IOPS: Optional[int] = None
    Networks: Optional[list[NetworkResource]] = None


@frozen
class UpdateStrategy:
    Stagger: Optional[Duration] = None
    MaxParallel: Optional[int] = None
    HealthCheck: Optional[str] = None
    MinHealthyTime: Optional[Duration] = None
    HealthyDeadline: Optional[Duration] = None
    AutoRevert: Optional[bool] = None
    Canary: Optional[int] = None


@frozen
class RestartPolicy:
    Attempts: Optional[int] = None
    Interval: Optional[Duration] = None
    Delay: Optional[Duration] = None
    Mode: Optional[str] = None


@frozen
class EphemeralDisk:
    Sticky: Optional[bool] = None
    SizeMB: Optional[int] = None
    Migrate: Optional[bool] = None


@frozen
class LogConfig:
    MaxFiles: Optional[int] = None
    MaxFileSizeMB: Optional[int] = None


@frozen
class CheckRestart:
    Limit: int = 0
    Grace: Optional[Duration] = None
    IgnoreWarnings: bool = False


@frozen
class ServiceCheck:
    Name: str = ""
    Type: str = ""
    Command: str = ""
    Args: Optional[list[str]] = None
    Path: str = ""
    Protocol: str = ""
    PortLabel: str = ""
    AddressMode: str = ""
    Interval: Duration = 0
    Timeout: Duration = 0
    InitialStatus: str = ""
    TLSSkipVerify: bool = False
    Method: str = ""
    Header: Optional[dict[str, Optional[list[str]]]] = None  # Go keeps nil values
    CheckRestart: Optional[CheckRestart] = None
    Id: str = attrs.field(default="", metadata=INPUT_ONLY)


@frozen
class Service:
    Name: str = ""
    PortLabel: str = ""
    AddressMode: str = ""
    Tags: Optional[list[str]] = None
    Checks: Optional[list[ServiceCheck]] = None
    Id: str = attrs.field(default="", metadata=INPUT_ONLY)
    CheckRestart: Optional[CheckRestart] = attrs.field(default=None, metadata=INPUT_ONLY)


@frozen
class Template:
    SourcePath: Optional[str] = None
    DestPath: Optional[str] = None
    EmbeddedTmpl: Optional[str] = None
    ChangeMode: Optional[str] = None
    ChangeSignal: Optional[str] = None
    Splay: Optional[Duration] = None
    Perms: Optional[str] = None
    LeftDelim: Optional[str] = None
    RightDelim: Optional[str] = None
    Envvars: Optional[bool] = None
    VaultGrace: Optional[Duration] = None


@frozen
class TaskArtifact:
    GetterSource: Optional[str] = None
    GetterOptions: Optional[dict[str, str]] = None
    GetterMode: Optional[str] = None
    RelativeDest: Optional[str] = None


@frozen
class Vault:
    Policies: Optional[list[str]] = None
    Env: Optional[bool] = None
    ChangeMode: Optional[str] = None
    ChangeSignal: Optional[str] = None


@frozen
class DispatchPayloadConfig:
    File: str = ""


@frozen
class PeriodicConfig:
    Enabled: Optional[bool] = None
    Spec: Optional[str] = None
    SpecType: Optional[str] = None
    ProhibitOverlap: Optional[bool] = None
    TimeZone: Optional[str] = None


@frozen
class ParameterizedJobConfig:
    Payload: str = ""
    MetaRequired: Optional[list[str]] = None
    MetaOptional: Optional[list[str]] = None


@frozen
class Task:
    Name: str = ""
    Driver: str = ""
    User: str = ""
    Config: Optional[dict[str, Any]] = None
    Env: Optional[dict[str, str]] = None
    Services: Optional[list[Service]] = None
    Vault: Optional[Vault] = None
    Templates: Optional[list[Template]] = None
    Constraints: Optional[list[Constraint]] = None
    Resources: Optional[Resources] = None
    DispatchPayload: Optional[DispatchPayloadConfig] = None
    Meta: Optional[dict[str, str]] = None
    KillTimeout: Optional[Duration] = None
    LogConfig: Optional[LogConfig] = None
    Artifacts: Optional[list[TaskArtifact]] = None
    Leader: bool = False
    ShutdownDelay: Duration = 0
    KillSignal: str = ""


@frozen
class TaskGroup:
    Name: Optional[str] = None
    Count: Optional[int] = None
    Update: Optional[UpdateStrategy] = None
    Constraints: Optional[list[Constraint]] = None
    RestartPolicy: Optional[RestartPolicy] = None
    Tasks: Optional[list[Task]] = None
    EphemeralDisk: Optional[EphemeralDisk] = None
    Meta: Optional[dict[str, str]] = None


@frozen
class Job:
    Stop: Optional[bool] = None
    Region: Optional[str] = None
    Namespace: Optional[str] = None
    ID: Optional[str] = None
    ParentID: Optional[str] = None
    Name: Optional[str] = None
    Type: Optional[str] = None
    Priority: Optional[int] = None
    AllAtOnce: Optional[bool] = None
    Datacenters: Optional[list[str]] = None
    Constraints: Optional[list[Constraint]] = None
    TaskGroups: Optional[list[TaskGroup]] = None
    Update: Optional[UpdateStrategy] = None
    Periodic: Optional[PeriodicConfig] = None
    ParameterizedJob: Optional[ParameterizedJobConfig] = None
    # Stored snappy-compressed for dispatched children; bytes in memory, base64 on the wire.
    Payload: Optional[bytes] = None
    Meta: Optional[dict[str, str]] = None
    VaultToken: Optional[str] = None
    Status: Optional[str] = None
    StatusDescription: Optional[str] = None
    Stable: Optional[bool] = None
    Version: Optional[int] = None
    SubmitTime: Optional[int] = None
    CreateIndex: Optional[int] = None
    ModifyIndex: Optional[int] = None
    JobModifyIndex: Optional[int] = None

    # Derived predicates used everywhere; they read the spec, nothing else.
    def is_periodic(self) -> bool:
        return self.Periodic is not None

    def is_parameterized(self) -> bool:
        return self.ParameterizedJob is not None

    def lookup_task_group(self, name: str) -> Optional[TaskGroup]:
        for tg in self.TaskGroups or ():
            if tg.Name == name:
                return tg
        return None


# Job types and statuses (nomad/structs/structs.go).
JOB_TYPE_CORE = "_core"
JOB_TYPE_SERVICE = "service"
JOB_TYPE_BATCH = "batch"
JOB_TYPE_SYSTEM = "system"

JOB_STATUS_PENDING = "pending"
JOB_STATUS_RUNNING = "running"
JOB_STATUS_DEAD = "dead"

JOB_DEFAULT_PRIORITY = 50
JOB_MIN_PRIORITY = 1
JOB_MAX_PRIORITY = 100
JOB_TRACKED_VERSIONS = 6
DEFAULT_NAMESPACE = "default"
