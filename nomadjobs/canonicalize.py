"""Defaults applied to a submitted job, in the two layers Nomad v0.7.1 has.

* :func:`api_canonicalize` is what the HTTP agent does before the job reaches the
  server: the ``api`` package's ``Canonicalize`` (pointer fields get defaults) plus
  the lossy ``ApiJobToStructJob`` conversion (``DiskMB`` and network ``Device``
  dropped, the job-level ``Update`` reduced to ``Stagger``/``MaxParallel``,
  empty lists becoming null, input-only fields discarded). Only HTTP register,
  plan and validate go through it.
* :func:`server_canonicalize` is ``structs.Job.Canonicalize``: run by the server on
  every register (and again by the FSM). It returns the warnings it produced.
* :func:`set_implicit_constraints` adds the Vault-version and signal constraints.
* :func:`spec_changed` decides whether a resubmission is a new version.

Everything here is a pure function of its arguments: models are frozen, so each
step builds new objects with ``attrs.evolve``.
"""

from __future__ import annotations

import re
import threading
import typing
from typing import Any, Iterable, Optional, TypeVar

import attrs

from .golang import path as gopath
from .golang.strconv import quote
from .structs.job import (
    CheckRestart,
    Constraint,
    DispatchPayloadConfig,
    EphemeralDisk,
    Job,
    LogConfig,
    NetworkResource,
    ParameterizedJobConfig,
    PeriodicConfig,
    Port,
    Resources,
    RestartPolicy,
    Service,
    ServiceCheck,
    Task,
    TaskArtifact,
    TaskGroup,
    Template,
    UpdateStrategy,
    Vault,
    evolve,
)

__all__ = [
    "api_canonicalize",
    "server_canonicalize",
    "set_implicit_constraints",
    "spec_changed",
    "fill_zero_values",
    "required_signals",
    "vault_policies",
    "new_restart_policy",
    "default_update_strategy",
    "VAULT_CONSTRAINT",
    "OLD_UPDATE_WARNING",
    "BATCH_UPDATE_WARNING",
]

T = TypeVar("T")

SECOND = 10**9
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE

JOB_TYPE_SERVICE = "service"
JOB_TYPE_BATCH = "batch"
JOB_TYPE_SYSTEM = "system"

OLD_UPDATE_WARNING = (
    "A best effort conversion to new update stanza introduced in v0.6.0 applied. "
    "Please update upgrade stanza before v0.7.0."
)
BATCH_UPDATE_WARNING = (
    "Update stanza is disallowed for batch jobs since v0.6.0. "
    "The update block has automatically been removed"
)

VAULT_CONSTRAINT = Constraint(LTarget="${attr.vault.version}", RTarget=">= 0.6.1", Operand="version")


def _or(value: Optional[T], default: T) -> T:
    return default if value is None else value


def _copy_list(items: Optional[Iterable[T]]) -> Optional[list[T]]:
    return None if items is None else list(items)


_K = TypeVar("_K")
_V = TypeVar("_V")


def _copy_dict(items: Optional[dict[_K, _V]]) -> Optional[dict[_K, _V]]:
    return None if items is None else dict(items)


def _none_if_empty(items: Optional[T]) -> Optional[T]:
    # Nomad treats empty and nil collections alike by storing nil (DeepEqual safety).
    return items if items else None


# --- shared defaults ----------------------------------------------------------------

def default_update_strategy() -> UpdateStrategy:
    """Both the api package's and the server's default update block (they agree)."""
    return UpdateStrategy(
        Stagger=30 * SECOND,
        MaxParallel=1,
        HealthCheck="checks",
        MinHealthyTime=10 * SECOND,
        HealthyDeadline=5 * MINUTE,
        AutoRevert=False,
        Canary=0,
    )


# Shared default blocks: models are frozen, so one object serves every job.
_DEFAULT_UPDATE = default_update_strategy()
_DEFAULT_DISK = EphemeralDisk(Sticky=False, SizeMB=300, Migrate=False)
_DEFAULT_LOG = LogConfig(MaxFiles=10, MaxFileSizeMB=10)
_NO_RESOURCES = Resources()

_ZERO_UPDATE = UpdateStrategy(
    Stagger=0, MaxParallel=0, HealthCheck="", MinHealthyTime=0, HealthyDeadline=0, AutoRevert=False, Canary=0
)


def new_restart_policy(job_type: str) -> Optional[RestartPolicy]:
    """Server default restart policy for a job type; ``None`` for unknown types."""
    if job_type in (JOB_TYPE_SERVICE, JOB_TYPE_SYSTEM):
        return RestartPolicy(Attempts=2, Interval=1 * MINUTE, Delay=15 * SECOND, Mode="delay")
    if job_type == JOB_TYPE_BATCH:
        return RestartPolicy(Attempts=15, Interval=7 * 24 * HOUR, Delay=15 * SECOND, Mode="delay")
    return None


_API_RESTART_SERVICE = RestartPolicy(Attempts=2, Interval=1 * MINUTE, Delay=15 * SECOND, Mode="delay")
_API_RESTART_BATCH = RestartPolicy(Attempts=15, Interval=7 * 24 * HOUR, Delay=15 * SECOND, Mode="delay")


def _api_restart_default(job_type: str) -> RestartPolicy:
    # The api package only knows two shapes: service/system, and everything else.
    if job_type in (JOB_TYPE_SERVICE, JOB_TYPE_SYSTEM):
        return _API_RESTART_SERVICE
    return _API_RESTART_BATCH


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def _field_names(cls: type) -> tuple[str, ...]:
    # attrs.fields() costs a lookup and a check per call; these run on every register.
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = _FIELD_NAMES[cls] = tuple(f.name for f in attrs.fields(cls))
    return names


def _merge_fields(base: T, over: Optional[T]) -> T:
    """Copy every non-None field of ``over`` onto ``base`` (the api ``Merge`` helpers)."""
    if over is None:
        return base
    changes = {name: value for name in _field_names(type(over)) if (value := getattr(over, name)) is not None}
    return evolve(base, **changes) if changes else base


def _fill_defaults(value: T, default: T) -> T:
    """Fill the None fields of ``value`` from ``default`` (the api ``Canonicalize`` helpers)."""
    changes = {name: getattr(default, name) for name in _field_names(type(value)) if getattr(value, name) is None}
    return evolve(value, **changes) if changes else value


def _update_is_empty(u: Optional[UpdateStrategy]) -> bool:
    if u is None:
        return True
    return not (u.Stagger or u.MaxParallel or u.HealthCheck or u.MinHealthyTime or u.HealthyDeadline
                or u.AutoRevert or u.Canary)


# --- helpers ------------------------------------------------------------------------

_ENV_RE = re.compile(r"\$\{[a-zA-Z0-9_\-.]+\}")


def replace_env(text: str, env: dict[str, str]) -> str:
    """``helper/args.ReplaceEnv``: substitute known ``${VAR}``s, leave the rest."""
    return _ENV_RE.sub(lambda m: env.get(m.group(0)[2:-1], m.group(0)), text)


# --- api layer ----------------------------------------------------------------------

def api_canonicalize(job: Job) -> Job:
    """What the HTTP agent does to a decoded request job before the RPC.

    Mirrors api.Job.Canonicalize followed by ApiJobToStructJob, so the result has
    Nomad's server-side shape: values wherever the server struct has a value type,
    ``None`` only where Nomad prints ``null``. Server-owned fields (status, version,
    indexes, submit time) come out zeroed, as the conversion never copies them.
    """
    job_id = _or(job.ID, "")
    name = _or(job.Name, job_id)
    job_type = _or(job.Type, JOB_TYPE_SERVICE)

    # The job's own update block is completed before the groups merge it in, so a
    # present-but-empty block still hands full defaults down to every group.
    job_update = _fill_defaults(job.Update, _DEFAULT_UPDATE) if job.Update is not None else None

    groups = [_api_group(tg, name, job_type, job_update) for tg in job.TaskGroups or ()]

    periodic = None
    if job.Periodic is not None:
        p = job.Periodic
        periodic = PeriodicConfig(
            Enabled=_or(p.Enabled, True),
            Spec=_or(p.Spec, ""),
            SpecType=_or(p.SpecType, "cron"),
            ProhibitOverlap=_or(p.ProhibitOverlap, False),
            TimeZone=p.TimeZone or "UTC",
        )

    parameterized = None
    if job.ParameterizedJob is not None:
        pj = job.ParameterizedJob
        parameterized = ParameterizedJobConfig(
            Payload=_or(pj.Payload, ""),
            MetaRequired=_copy_list(pj.MetaRequired),
            MetaOptional=_copy_list(pj.MetaOptional),
        )

    if job_update is not None:
        # Only the pre-0.6 fields survive the conversion at job level.
        update = evolve(_ZERO_UPDATE, Stagger=job_update.Stagger, MaxParallel=job_update.MaxParallel)
    else:
        update = _ZERO_UPDATE

    return Job(
        Stop=_or(job.Stop, False),
        Region=_or(job.Region, "global"),
        Namespace=_or(job.Namespace, "default"),
        ID=job_id,
        ParentID=_or(job.ParentID, ""),
        Name=name,
        Type=job_type,
        Priority=_or(job.Priority, 50),
        AllAtOnce=_or(job.AllAtOnce, False),
        Datacenters=_copy_list(job.Datacenters),
        Constraints=_api_constraints(job.Constraints),
        TaskGroups=groups or None,
        Update=update,
        Periodic=periodic,
        ParameterizedJob=parameterized,
        Payload=job.Payload,
        Meta=_copy_dict(job.Meta),
        VaultToken=_or(job.VaultToken, ""),
        Status="",
        StatusDescription="",
        Stable=False,
        Version=0,
        SubmitTime=0,
        CreateIndex=0,
        ModifyIndex=0,
        JobModifyIndex=0,
    )


def _api_constraints(items: Optional[list[Constraint]]) -> Optional[list[Constraint]]:
    if not items:
        return None
    return [Constraint(LTarget=_or(c.LTarget, ""), RTarget=_or(c.RTarget, ""), Operand=_or(c.Operand, ""))
            for c in items]


def _api_group(tg: TaskGroup, job_name: str, job_type: str, job_update: Optional[UpdateStrategy]) -> TaskGroup:
    name = _or(tg.Name, "")
    count = _or(tg.Count, 1)
    tasks = [_api_task(t, name, job_name) for t in tg.Tasks or ()]

    disk = _DEFAULT_DISK if tg.EphemeralDisk is None else _fill_defaults(tg.EphemeralDisk, _DEFAULT_DISK)

    if job_update is not None and tg.Update is not None:
        update: Optional[UpdateStrategy] = _merge_fields(job_update, tg.Update)
    elif job_update is not None and not _update_is_empty(job_update):
        update = job_update
    else:
        update = tg.Update
    if update is not None:
        update = _fill_defaults(update, _DEFAULT_UPDATE)

    restart = _merge_fields(_api_restart_default(job_type), tg.RestartPolicy)

    return TaskGroup(
        Name=name,
        Count=count,
        Update=update,
        Constraints=_api_constraints(tg.Constraints),
        RestartPolicy=restart,
        Tasks=tasks or None,
        EphemeralDisk=disk,
        Meta=_copy_dict(tg.Meta),
    )


def _api_task(t: Task, group_name: str, job_name: str) -> Task:
    task_name = _or(t.Name, "")
    res = t.Resources or _NO_RESOURCES
    networks = []
    for n in res.Networks or ():
        networks.append(NetworkResource(
            Device="",  # the conversion never copies the device
            CIDR=_or(n.CIDR, ""),
            IP=_or(n.IP, ""),
            MBits=_or(n.MBits, 10),
            ReservedPorts=_api_ports(n.ReservedPorts),
            DynamicPorts=_api_ports(n.DynamicPorts),
        ))
    resources = Resources(
        CPU=_or(res.CPU, 100),
        MemoryMB=_or(res.MemoryMB, 300),
        DiskMB=0,  # dropped by the conversion: disk belongs to the group
        IOPS=_or(res.IOPS, 0),
        Networks=networks or None,
    )

    log = _DEFAULT_LOG if t.LogConfig is None else _fill_defaults(t.LogConfig, _DEFAULT_LOG)

    vault = None
    if t.Vault is not None:
        vault = Vault(
            Policies=_copy_list(t.Vault.Policies),
            Env=_or(t.Vault.Env, True),
            ChangeMode=_or(t.Vault.ChangeMode, "restart"),
            ChangeSignal=_or(t.Vault.ChangeSignal, "SIGHUP"),
        )

    services = [_api_service(s, task_name, group_name, job_name) for s in t.Services or ()]
    templates = [_api_template(tmpl) for tmpl in t.Templates or ()]
    artifacts = [_api_artifact(a) for a in t.Artifacts or ()]

    dispatch = None
    if t.DispatchPayload is not None:
        dispatch = DispatchPayloadConfig(File=_or(t.DispatchPayload.File, ""))

    return Task(
        Name=task_name,
        Driver=_or(t.Driver, ""),
        User=_or(t.User, ""),
        Config=_copy_dict(t.Config),
        Env=_copy_dict(t.Env),
        Services=services or None,
        Vault=vault,
        Templates=templates or None,
        Constraints=_api_constraints(t.Constraints),
        Resources=resources,
        DispatchPayload=dispatch,
        Meta=_copy_dict(t.Meta),
        KillTimeout=_or(t.KillTimeout, 5 * SECOND),
        LogConfig=log,
        Artifacts=artifacts or None,
        Leader=_or(t.Leader, False),
        ShutdownDelay=_or(t.ShutdownDelay, 0),
        KillSignal=_or(t.KillSignal, ""),
    )


def _api_ports(ports: Optional[list[Port]]) -> Optional[list[Port]]:
    if not ports:
        return None
    return [Port(Label=_or(p.Label, ""), Value=_or(p.Value, 0)) for p in ports]


def _api_service(s: Service, task_name: str, group_name: str, job_name: str) -> Service:
    name = s.Name or f"{job_name}-{group_name}-{task_name}"
    checks = []
    for c in s.Checks or ():
        # api Service.Canonicalize ranges over the checks by value, so the merge of the
        # service-level check_restart into each check is lost (fixed in 0.8.0): a check
        # keeps only its own check_restart, and the service's is dropped.
        restart = c.CheckRestart
        if restart is not None:
            restart = CheckRestart(
                Limit=_or(restart.Limit, 0),
                Grace=_or(restart.Grace, 1 * SECOND),
                IgnoreWarnings=_or(restart.IgnoreWarnings, False),
            )
        checks.append(ServiceCheck(
            Name=_or(c.Name, ""),
            Type=_or(c.Type, ""),
            Command=_or(c.Command, ""),
            Args=_copy_list(c.Args),
            Path=_or(c.Path, ""),
            Protocol=_or(c.Protocol, ""),
            PortLabel=_or(c.PortLabel, ""),
            AddressMode=_or(c.AddressMode, ""),
            Interval=_or(c.Interval, 0),
            Timeout=_or(c.Timeout, 0),
            InitialStatus=_or(c.InitialStatus, ""),
            TLSSkipVerify=_or(c.TLSSkipVerify, False),
            Method=_or(c.Method, ""),
            Header=_copy_dict(c.Header),
            CheckRestart=restart,
        ))
    return Service(
        Name=name,
        PortLabel=_or(s.PortLabel, ""),
        AddressMode=s.AddressMode or "auto",
        Tags=_copy_list(s.Tags),
        Checks=checks or None,
    )


def _api_template(t: Template) -> Template:
    mode = _or(t.ChangeMode, "restart")
    if t.ChangeSignal is None:
        signal = "SIGHUP" if mode == "signal" else ""
    else:
        signal = t.ChangeSignal.upper()
    return Template(
        SourcePath=_or(t.SourcePath, ""),
        DestPath=_or(t.DestPath, ""),
        EmbeddedTmpl=_or(t.EmbeddedTmpl, ""),
        ChangeMode=mode,
        ChangeSignal=signal,
        Splay=_or(t.Splay, 5 * SECOND),
        Perms=_or(t.Perms, "0644"),
        LeftDelim=_or(t.LeftDelim, "{{"),
        RightDelim=_or(t.RightDelim, "}}"),
        Envvars=_or(t.Envvars, False),
        VaultGrace=_or(t.VaultGrace, 15 * SECOND),
    )


def _api_artifact(a: TaskArtifact) -> TaskArtifact:
    mode = _or(a.GetterMode, "any")
    source = _or(a.GetterSource, "")
    dest = a.RelativeDest
    if dest is None:
        # A single file lands under local/ with its own name; anything else fills local/.
        dest = gopath.join("local", gopath.base(source)) if mode == "file" else "local/"
    return TaskArtifact(GetterSource=source, GetterOptions=_copy_dict(a.GetterOptions), GetterMode=mode,
                        RelativeDest=dest)


# --- Go zero values -------------------------------------------------------------------

# Fields that are pointers, slices or maps in nomad/structs, i.e. may legitimately be
# null. Every other None is an api-level "absent" that the server struct holds as its
# zero value.
_NULLABLE: dict[type, frozenset[str]] = {
    Job: frozenset({"Datacenters", "Constraints", "TaskGroups", "Periodic", "ParameterizedJob", "Payload", "Meta"}),
    TaskGroup: frozenset({"Update", "Constraints", "RestartPolicy", "Tasks", "EphemeralDisk", "Meta"}),
    Task: frozenset({"Config", "Env", "Services", "Vault", "Templates", "Constraints", "Resources",
                     "DispatchPayload", "Meta", "LogConfig", "Artifacts"}),
    Resources: frozenset({"Networks"}),
    NetworkResource: frozenset({"ReservedPorts", "DynamicPorts"}),
    Service: frozenset({"Tags", "Checks", "CheckRestart"}),
    ServiceCheck: frozenset({"Args", "Header", "CheckRestart"}),
    TaskArtifact: frozenset({"GetterOptions"}),
    Vault: frozenset({"Policies"}),
    ParameterizedJobConfig: frozenset({"MetaRequired", "MetaOptional"}),
}

_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    hints = _HINTS.get(cls)
    if hints is None:
        hints = _HINTS[cls] = typing.get_type_hints(cls)
    return hints


def _zero_for(tp: Any) -> Any:
    args = [a for a in typing.get_args(tp) if a is not type(None)] if typing.get_origin(tp) is typing.Union else [tp]
    inner = args[0] if args else tp
    if inner is bool:
        return False
    if inner is int:
        return 0
    if inner is str:
        return ""
    if attrs.has(inner):
        return fill_zero_values(inner())
    return None


# Per class: (field name, whether a None there becomes the Go zero value, whether the
# field's type says it holds a scalar, which has nothing inside to fill).
_FILL_PLANS: dict[type, tuple[tuple[str, bool, bool], ...]] = {}
_ZEROS: dict[tuple[type, str], Any] = {}
# Per class: its generated filler, or None for a class that is not a model. Fillers
# are generated under the lock and published complete (the HTTP server has threads).
_FILLERS: dict[type, Any] = {}
_FILL_LOCK = threading.RLock()
_GENERATING: set[type] = set()  # classes being generated now: a cycle falls back to _fill_any
_UNKNOWN = object()


def _holds_scalar(tp: Any) -> bool:
    """Whether a field of type ``tp`` (Optional or not) can only hold scalars: str,
    int, bool, float, bytes, or a list or dict of them."""
    args = [a for a in typing.get_args(tp) if a is not type(None)] if typing.get_origin(tp) is typing.Union else [tp]
    if len(args) != 1:
        return False
    inner = args[0]
    if inner in (str, int, bool, float, bytes):
        return True
    if typing.get_origin(inner) in (list, dict):
        return not any(not isinstance(a, type) or attrs.has(a) for a in typing.get_args(inner)
                       if a is not typing.Any)
    return False


def _fill_plan(cls: type) -> tuple[tuple[str, bool, bool], ...]:
    plan = _FILL_PLANS.get(cls)
    if plan is None:
        nullable = _NULLABLE.get(cls, frozenset())
        hints = _hints(cls)
        plan = _FILL_PLANS[cls] = tuple((f.name, f.name not in nullable, _holds_scalar(hints[f.name]))
                                        for f in attrs.fields(cls) if not f.metadata.get("input_only"))
    return plan


def _zero(cls: type, name: str) -> Any:
    """The Go zero value of a field (None when it has none); values are immutable, so
    one is shared by every object that needs it."""
    key = (cls, name)
    if key in _ZEROS:
        return _ZEROS[key]
    zero = _ZEROS[key] = _zero_for(_hints(cls)[name])
    return zero


def fill_zero_values(obj: T) -> T:
    """Replace api-level ``None`` by Go zero values wherever the server struct has a
    value type (recursively); nullable fields keep ``None``. Idempotent."""
    fill = _filler(type(obj))
    return obj if fill is None else fill(obj)


def _filler(cls: type) -> Any:
    fill = _FILLERS.get(cls, _UNKNOWN)
    if fill is _UNKNOWN:
        with _FILL_LOCK:
            fill = _FILLERS.get(cls, _UNKNOWN)
            if fill is _UNKNOWN:
                fill = _FILLERS[cls] = _make_filler(cls) if attrs.has(cls) else None
    return fill


def _fill_any(value: Any) -> Any:
    """Fill a value found in a field not typed as scalar: a model, or a list whose
    first item is a model (item by item); anything else is returned as it is."""
    fill = _filler(type(value))
    if fill is not None:
        return fill(value)
    if isinstance(value, list):
        return _fill_list(value, None, None)
    return value


def _fill_list(items: list[Any], cls: Optional[type], fill: Any) -> list[Any]:
    """Fill a list item by item when its first item is a model (the plain walk's
    rule); ``cls`` and ``fill`` are the model the field's type names and its filler,
    the fast case. A new list only when an item changed."""
    if not items:
        return items
    first = type(items[0])
    if first is not cls and _filler(first) is None:
        return items
    filled = [fill(v) if type(v) is cls else fill_zero_values(v) for v in items]
    for new, old in zip(filled, items):
        if new is not old:
            return filled
    return items


def _model_in(tp: Any) -> tuple[Optional[type], bool]:
    """The model class a field's type names (Optional stripped), and whether the field
    holds a list of them; ``(None, False)`` for anything else."""
    args = [a for a in typing.get_args(tp) if a is not type(None)] if typing.get_origin(tp) is typing.Union else [tp]
    if len(args) != 1:
        return None, False
    inner = args[0]
    if isinstance(inner, type) and attrs.has(inner):
        return inner, False
    if typing.get_origin(inner) is list:
        item = typing.get_args(inner)
        if len(item) == 1 and isinstance(item[0], type) and attrs.has(item[0]):
            return item[0], True
    return None, False


def _make_filler(cls: type) -> Any:
    """``fill_zero_values`` specialised for one model class, generated from its fill
    plan the way attrs generates ``__init__``: direct attribute reads, no loop over the
    plan, fields that can hold nothing to fill never read. Every register fills the
    job, and a job from the api layer has nothing left to fill, so the reads are
    nearly all of the cost.

    For a field holding a model (or a list of them) the runtime value decides, as in
    a plain recursive walk: the type the field names is only the fast case."""
    _GENERATING.add(cls)
    try:
        return _generate_filler(cls)
    finally:
        _GENERATING.discard(cls)


def _generate_filler(cls: type) -> Any:
    env: dict[str, Any] = {"_evolve": evolve, "_fill_any": _fill_any, "_fill_list": _fill_list}
    lines = ["def fill(obj):", "    ch = {}"]
    for i, (name, fill, scalar) in enumerate(_fill_plan(cls)):
        zero = _zero(cls, name) if fill else None
        if zero is not None:
            env[f"_z{i}"] = zero
            if_none = [f"        ch[{name!r}] = _z{i}"]
        else:
            if_none = []
        if scalar:
            # A scalar has nothing inside to fill: only a None can change.
            if if_none:
                lines += [f"    if obj.{name} is None:", *if_none]
            continue
        model, is_list = _model_in(_hints(cls)[name])
        if model is None or model in _GENERATING:
            call = "_fill_any(v)"
        else:
            env[f"_m{i}"] = model
            env[f"_f{i}"] = _filler(model)
            call = (f"_fill_list(v, _m{i}, _f{i}) if type(v) is list else _fill_any(v)" if is_list
                    else f"_f{i}(v) if type(v) is _m{i} else _fill_any(v)")
        lines += [f"    v = obj.{name}"]
        if if_none:
            lines += ["    if v is None:", *if_none, "    else:"]
        else:
            lines += ["    if v is not None:"]
        lines += [f"        w = {call}",
                  "        if w is not v:",
                  f"            ch[{name!r}] = w"]
    lines.append("    return _evolve(obj, **ch) if ch else obj")
    exec(compile("\n".join(lines), f"<fill_zero_values {cls.__qualname__}>", "exec"), env)
    return env["fill"]


# --- server layer -------------------------------------------------------------------

def server_canonicalize(job: Job) -> tuple[Job, list[str]]:
    """``structs.Job.Canonicalize``: returns the canonical job and its warnings."""
    job = fill_zero_values(job)
    warnings: list[str] = []

    groups = job.TaskGroups
    if groups is not None:
        groups = [_server_group(tg, job) for tg in groups]

    parameterized = job.ParameterizedJob
    if parameterized is not None and parameterized.Payload == "":
        parameterized = evolve(parameterized, Payload="optional")

    update = job.Update
    # The job is filled: its update block and that block's fields are set.
    assert update is not None and update.Stagger is not None and update.MaxParallel is not None
    # Pre-0.6 job-level update syntax: Stagger plus MaxParallel.
    has_old_update = update.Stagger > 0 and update.MaxParallel > 0
    if has_old_update and job.Type != JOB_TYPE_BATCH and groups:
        base = evolve(default_update_strategy(), MaxParallel=update.MaxParallel,
                            MinHealthyTime=update.Stagger)
        upgraded = False
        converted = []
        for tg in groups:
            if tg.Update is not None and _update_is_complete(tg.Update):
                converted.append(tg)
                continue
            upgraded = True
            count = tg.Count
            assert count is not None
            max_parallel = update.MaxParallel  # base's
            if len(groups) != 1:
                # Roughly 10% of the group, rounded half up.
                max_parallel = int(count * 0.1 + 0.5)
            if max_parallel == 0:
                max_parallel = 1
            elif max_parallel > count:
                max_parallel = count
            converted.append(evolve(tg, Update=evolve(base, MaxParallel=max_parallel)))
        groups = converted
        if upgraded:
            warnings.append(OLD_UPDATE_WARNING)

    if job.Type == JOB_TYPE_BATCH:
        display = has_old_update
        update = _ZERO_UPDATE
        if groups:
            stripped = []
            for tg in groups:
                if tg.Update is not None:
                    display = True
                    tg = evolve(tg, Update=None)
                stripped.append(tg)
            groups = stripped
        if display:
            warnings.append(BATCH_UPDATE_WARNING)

    job = evolve(
        job,
        Meta=_none_if_empty(job.Meta),
        Namespace=job.Namespace or "default",
        TaskGroups=groups,
        ParameterizedJob=parameterized,
        Update=update,
    )
    return job, warnings


def _update_is_complete(u: UpdateStrategy) -> bool:
    """A (filled) group update block that needs no conversion from the old syntax."""
    stagger, max_parallel, min_healthy, deadline = u.Stagger, u.MaxParallel, u.MinHealthyTime, u.HealthyDeadline
    assert stagger is not None and max_parallel is not None and min_healthy is not None and deadline is not None
    return stagger > 0 and max_parallel > 0 and u.HealthCheck != "" and min_healthy > 0 and deadline > 0


def _server_group(tg: TaskGroup, job: Job) -> TaskGroup:
    assert job.Type is not None  # the job is filled
    restart = tg.RestartPolicy if tg.RestartPolicy is not None else new_restart_policy(job.Type)
    disk = tg.EphemeralDisk if tg.EphemeralDisk is not None else _DEFAULT_DISK
    tasks = tg.Tasks
    if tasks is not None:
        tasks = [_server_task(t, job, tg) for t in tasks]
        # Pre-0.5 jobs asked for disk per task; their sum moves to the group.
        disk_mb = 0
        for t in tasks:
            # _server_task gives every task resources, filled.
            assert t.Resources is not None and t.Resources.DiskMB is not None
            disk_mb += t.Resources.DiskMB
        if disk_mb > 0:
            disk = evolve(disk, SizeMB=disk_mb)
    return evolve(tg, Meta=_none_if_empty(tg.Meta), RestartPolicy=restart, EphemeralDisk=disk, Tasks=tasks)


_SERVER_RESOURCES = Resources(CPU=100, MemoryMB=300, DiskMB=0, IOPS=0, Networks=None)


def _server_task(t: Task, job: Job, tg: TaskGroup) -> Task:
    services = t.Services
    if services is not None:
        job_name, group_name = job.Name, tg.Name
        assert job_name is not None and group_name is not None  # the job is filled
        services = [_server_service(s, job_name, group_name, t.Name) for s in services]

    resources = t.Resources
    if resources is None:
        resources = _SERVER_RESOURCES
    elif resources.Networks:
        networks = [evolve(n, ReservedPorts=_none_if_empty(n.ReservedPorts),
                           DynamicPorts=_none_if_empty(n.DynamicPorts)) for n in resources.Networks]
        resources = evolve(resources, Networks=networks)
    elif resources.Networks is not None:
        resources = evolve(resources, Networks=None)  # empty becomes null

    vault = t.Vault
    if vault is not None and vault.ChangeSignal:
        vault = evolve(vault, ChangeSignal=vault.ChangeSignal.upper())

    templates = t.Templates
    if templates is not None:
        templates = [evolve(tmpl, ChangeSignal=tmpl.ChangeSignal.upper()) if tmpl.ChangeSignal else tmpl
                     for tmpl in templates]

    meta = _none_if_empty(t.Meta)
    config = _none_if_empty(t.Config)
    env = _none_if_empty(t.Env)
    kill_timeout = t.KillTimeout or 5 * SECOND
    if (meta is t.Meta and config is t.Config and env is t.Env and services is t.Services
            and resources is t.Resources and kill_timeout is t.KillTimeout and vault is t.Vault
            and templates is t.Templates):
        return t  # already canonical: an evolve would only copy a frozen object
    return evolve(t, Meta=meta, Config=config, Env=env, Services=services, Resources=resources,
                  KillTimeout=kill_timeout, Vault=vault, Templates=templates)


def _server_service(s: Service, job_name: str, group_name: str, task_name: str) -> Service:
    name = replace_env(s.Name, {
        "JOB": job_name,
        "TASKGROUP": group_name,
        "TASK": task_name,
        "BASE": f"{job_name}-{group_name}-{task_name}",
    })
    checks = _none_if_empty(s.Checks)
    if checks is not None:
        checks = [_server_check(c, name) for c in checks]
    return evolve(s, Name=name, Tags=_none_if_empty(s.Tags), Checks=checks)


def _server_check(c: ServiceCheck, service_name: str) -> ServiceCheck:
    header = _none_if_empty(c.Header)
    if header is not None:
        header = {k: (v if v else None) for k, v in header.items()}
    name = c.Name or f"service: {quote(service_name)} check"
    return evolve(c, Args=_none_if_empty(c.Args), Header=header, Name=name)


# --- implicit constraints -----------------------------------------------------------

def vault_policies(job: Job) -> dict[Optional[str], dict[str, Vault]]:
    """Group name -> task name -> Vault block, for tasks that ask for Vault. (Group
    names are only None in a job that is not filled yet.)"""
    out: dict[Optional[str], dict[str, Vault]] = {}
    for tg in job.TaskGroups or ():
        per_task = {t.Name: t.Vault for t in tg.Tasks or () if t.Vault is not None}
        if per_task:
            out[tg.Name] = per_task
    return out


def required_signals(job: Job) -> dict[Optional[str], dict[str, list[str]]]:
    """Group name -> task name -> sorted signals the task needs the client to send.
    (Group names are only None in a job that is not filled yet.)"""
    out: dict[Optional[str], dict[str, list[str]]] = {}
    for tg in job.TaskGroups or ():
        for t in tg.Tasks or ():
            signals: set[str] = set()
            if t.Vault is not None and t.Vault.ChangeMode == "signal":
                signals.add(t.Vault.ChangeSignal or "")
            if t.KillSignal:
                signals.add(t.KillSignal)
            for tmpl in t.Templates or ():
                if tmpl.ChangeMode == "signal":
                    signals.add(tmpl.ChangeSignal or "")
            if signals:
                out.setdefault(tg.Name, {})[t.Name] = sorted(signals)
    return out


def set_implicit_constraints(job: Job) -> Job:
    """Add the constraints Nomad derives from the job's needs to its task groups."""
    policies = vault_policies(job)
    signals = required_signals(job)
    if not policies and not signals:
        return job

    groups = []
    for tg in job.TaskGroups or ():
        constraints = list(tg.Constraints or ())
        if tg.Name in policies and VAULT_CONSTRAINT not in constraints:
            constraints.append(VAULT_CONSTRAINT)
        if tg.Name in signals:
            # Nomad 0.7.1 flattens a map (random order); sorted is one of its orders
            # and keeps the constraint stable across resubmissions.
            wanted = sorted({sig for sigs in signals[tg.Name].values() for sig in sigs})
            sig_constraint = Constraint(LTarget="${attr.os.signals}", RTarget=",".join(wanted),
                                        Operand="set_contains")
            if sig_constraint not in constraints:
                constraints.append(sig_constraint)
        if constraints != list(tg.Constraints or ()):
            tg = evolve(tg, Constraints=constraints)
        groups.append(tg)
    return evolve(job, TaskGroups=groups)


# --- versions -----------------------------------------------------------------------

_NON_SPEC_FIELDS = ("Status", "StatusDescription", "Stable", "Version", "CreateIndex", "ModifyIndex",
                    "JobModifyIndex", "SubmitTime")


def spec_changed(old: Optional[Job], new: Job) -> bool:
    """``Job.SpecChanged``: anything but status, stability, version, indexes and
    submit time differs. Both jobs are expected canonicalized."""
    if old is None:
        return new is not None
    comparable = evolve(new, **{name: getattr(old, name) for name in _NON_SPEC_FIELDS})
    return comparable != old

