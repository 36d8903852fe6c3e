"""Nomad v0.7.1's job validation and warnings, with its exact messages.

:func:`validate` is the server's ``validateJob``: ``Job.Validate`` (whose own errors
are flattened into the top-level list, while nested group/task/periodic errors stay
rendered inside their item, as go-multierror prints them), then the task driver
config checks, then the two submission rules. :func:`job_warnings` is
``Job.Warnings``. :func:`validate_job_for_register` chains canonicalization,
implicit constraints, validation and warnings in the order the Register RPC uses.

Where Go iterates a map (so Nomad's order is random), a fixed order is used:
schema order for missing driver keys, submission order for everything else.
"""

from __future__ import annotations

import math
import re
from typing import Any, Iterable, Optional, Sequence

from croniter import croniter

from .canonicalize import (
    fill_zero_values,
    required_signals,
    server_canonicalize,
    set_implicit_constraints,
    spec_changed,
)
from .golang import hex as gohex
from .golang import path as gopath
from .golang import regexp as goregexp
from .golang import strconv
from .golang import version as goversion
from .golang.fmt import format_q, format_slice
from .golang.multierror import multierror
from .golang.time import format_duration, load_location_error
from .structs.job import (
    Constraint,
    EphemeralDisk,
    Job,
    LogConfig,
    ParameterizedJobConfig,
    PeriodicConfig,
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
)

__all__ = [
    "validate",
    "job_warnings",
    "render_errors",
    "validate_job_for_register",
    "spec_changed",
    "validate_constraint",
    "validate_driver_config",
    "cron_parse_error",
    "croniter_args",
    "KNOWN_DRIVERS",
]

SECOND = 10**9


def render_errors(errors: Sequence[object]) -> str:
    """Nomad's multi-error text (go-multierror's list format)."""
    return multierror(errors)


def _q(s: str) -> str:
    return strconv.quote(s)


def _qa(s: str) -> str:
    # %+q: ASCII-only quoting
    return strconv.quote(s, ascii_only=True)


def _d(ns: int) -> str:
    return format_duration(ns)


# Validation runs on filled jobs (``fill_zero_values``): the model types keep the
# api-level ``Optional`` of value-type fields, but no such field holds None there.
# The ``assert ... is not None`` lines below state that for the type checker.


# --- job ----------------------------------------------------------------------------

def validate(job: Job) -> list[str]:
    """All validation errors of a (canonicalized) job, top level first."""
    return _validate_filled(fill_zero_values(job))


def _validate_filled(job: Job) -> list[str]:
    errors = _job_errors(job)

    signals = required_signals(job)
    for tg in job.TaskGroups or ():
        tg_name = tg.Name
        assert tg_name is not None
        tg_signals = signals.get(tg_name)
        for task in tg.Tasks or ():
            driver = KNOWN_DRIVERS.get(task.Driver)
            if driver is None:
                # Nomad passes the group and task names in swapped order here.
                errors.append(f"failed to create driver for task {_q(tg_name)} in group {_q(task.Name)} "
                              f"for validation: unknown driver '{task.Driver}'")
                continue
            config_errors = validate_driver_config(task.Driver, task.Config)
            if config_errors:
                errors.append(f"group {_q(tg_name)} -> task {_q(task.Name)} -> config: {multierror(config_errors)}")
            if tg_signals is None:
                continue
            wanted = tg_signals.get(task.Name)
            if wanted is not None and not driver.sends_signals:
                errors.append(f"group {_q(tg_name)} -> task {_q(task.Name)}: driver {_q(task.Driver)} doesn't "
                              f"support sending signals. Requested signals are {', '.join(wanted)}")

    if job.Type == "_core":
        errors.append("job type cannot be core")
    if job.Payload:
        errors.append("job can't be submitted with a payload, only dispatched")
    return errors


def _job_errors(j: Job) -> list[str]:
    errs: list[str] = []
    job_id, job_type, priority = j.ID, j.Type, j.Priority
    assert job_id is not None and job_type is not None and priority is not None
    if j.Region == "":
        errs.append("Missing job region")
    if job_id == "":
        errs.append("Missing job ID")
    elif " " in job_id:
        errs.append("Job ID contains a space")
    if j.Name == "":
        errs.append("Missing job name")
    if j.Namespace == "":
        errs.append("Job must be in a namespace")
    if job_type == "":
        errs.append("Missing job type")
    elif job_type not in ("_core", "service", "batch", "system"):
        errs.append(f"Invalid job type: {_q(job_type)}")
    if priority < 1 or priority > 100:
        errs.append("Job priority must be between [1, 100]")
    if not j.Datacenters:
        errs.append("Missing job datacenters")
    if not j.TaskGroups:
        errs.append("Missing job task groups")
    for idx, c in enumerate(j.Constraints or (), 1):
        inner = validate_constraint(c)
        if inner:
            errs.append(f"Constraint {idx} validation failed: {multierror(inner)}")

    seen: dict[str, int] = {}
    for idx, tg in enumerate(j.TaskGroups or (), 1):
        name, count = tg.Name, tg.Count
        assert name is not None and count is not None
        if name == "":
            errs.append(f"Job task group {idx} missing name")
        elif name in seen:
            errs.append(f"Job task group {idx} redefines '{name}' from group {seen[name]}")
        else:
            seen[name] = idx
        if job_type == "system" and count > 1:
            errs.append(f"Job task group {name} has count {count}. "
                        "Count cannot exceed 1 with system scheduler")

    for tg in j.TaskGroups or ():
        inner = _group_errors(tg, j)
        if inner:
            errs.append(f"Task group {tg.Name} validation failed: {multierror(inner)}")

    if j.Periodic is not None and j.Periodic.Enabled:
        if j.Type != "batch":
            errs.append('Periodic can only be used with "batch" scheduler')
        inner = _periodic_errors(j.Periodic)
        if inner:
            errs.append(multierror(inner))

    if j.ParameterizedJob is not None:
        if j.Type != "batch":
            errs.append('Parameterized job can only be used with "batch" scheduler')
        inner = _parameterized_errors(j.ParameterizedJob)
        if inner:
            errs.append(multierror(inner))
    return errs


def job_warnings(job: Job) -> list[str]:
    """``Job.Warnings``: one item per task group that has warnings."""
    return _warnings_filled(fill_zero_values(job))


def _warnings_filled(job: Job) -> list[str]:
    out = []
    for tg in job.TaskGroups or ():
        inner = []
        u = tg.Update
        name, count = tg.Name, tg.Count
        assert name is not None and count is not None
        if u is not None:
            assert u.MaxParallel is not None
            if u.MaxParallel > count:
                inner.append(f"Update max parallel count is greater than task group count ({u.MaxParallel} > "
                             f"{count}). A destructive change would result in the simultaneous replacement "
                             "of all allocations.")
        if inner:
            out.append(f"Group {_q(name)} has warnings: {multierror(inner)}")
    return out


def validate_job_for_register(job: Job) -> tuple[Job, list[str], list[str]]:
    """Canonicalize, add implicit constraints, validate and collect warnings, as the
    Register/Plan/Validate RPCs do. Warnings are the job's own first, then the
    canonicalization ones (Nomad's merge order); render them with
    ``golang.multierror.warnings_text``."""
    job, canon_warnings = server_canonicalize(job)
    # Canonical jobs have their zero values filled, and the implicit constraints
    # come complete: no need to walk the job again for each check.
    job = set_implicit_constraints(job)
    errors = _validate_filled(job)
    warnings = _warnings_filled(job) + canon_warnings
    return job, errors, warnings


# --- task group ---------------------------------------------------------------------

def _group_errors(tg: TaskGroup, j: Job) -> list[str]:
    errs: list[str] = []
    assert tg.Count is not None
    if tg.Name == "":
        errs.append("Missing task group name")
    if tg.Count < 0:
        errs.append("Task group count can't be negative")
    if not tg.Tasks:
        errs.append("Missing tasks for task group")
    for idx, c in enumerate(tg.Constraints or (), 1):
        inner = validate_constraint(c)
        if inner:
            errs.append(f"Constraint {idx} validation failed: {multierror(inner)}")

    if tg.RestartPolicy is not None:
        inner = _restart_errors(tg.RestartPolicy)
        if inner:
            errs.append(multierror(inner))
    else:
        errs.append(f"Task Group {tg.Name} should have a restart policy")

    if tg.EphemeralDisk is not None:
        assert tg.EphemeralDisk.SizeMB is not None
        if tg.EphemeralDisk.SizeMB < 10:
            errs.append(f"minimum DiskMB value is 10; got {tg.EphemeralDisk.SizeMB}")
    else:
        errs.append(f"Task Group {tg.Name} should have an ephemeral disk object")

    if tg.Update is not None:
        inner = _update_errors(tg.Update)
        if inner:
            errs.append(multierror(inner))

    names: dict[str, int] = {}
    static_ports: dict[int, str] = {}
    leaders = 0
    for idx, task in enumerate(tg.Tasks or (), 1):
        if task.Name == "":
            errs.append(f"Task {idx} missing name")
        elif task.Name in names:
            errs.append(f"Task {idx} redefines '{task.Name}' from task {names[task.Name]}")
        else:
            names[task.Name] = idx
        if task.Leader:
            leaders += 1
        if task.Resources is None:
            continue
        for net in task.Resources.Networks or ():
            for port in net.ReservedPorts or ():
                if port.Value in static_ports:
                    errs.append(f"Static port {port.Value} already reserved by {static_ports[port.Value]}")
                else:
                    static_ports[port.Value] = f"{task.Name}:{port.Label}"
    if leaders > 1:
        errs.append("Only one task may be marked as leader")

    for task in tg.Tasks or ():
        inner = _task_errors(task, tg.EphemeralDisk)
        if inner:
            errs.append(f"Task {task.Name} validation failed: {multierror(inner)}")
    return errs


def _restart_errors(r: RestartPolicy) -> list[str]:
    errs = []
    mode, attempts, interval, delay = r.Mode, r.Attempts, r.Interval, r.Delay
    assert mode is not None and attempts is not None and interval is not None and delay is not None
    if mode not in ("delay", "fail"):
        errs.append(f"Unsupported restart mode: {_q(mode)}")
    if attempts == 0 and mode != "fail":
        errs.append(f"Restart policy {_q(mode)} with {attempts} attempts is ambiguous")
    if interval < 5 * SECOND:
        errs.append(f"Interval can not be less than 5s (got {_d(interval)})")
    if attempts * delay > interval:
        errs.append(f"Nomad can't restart the TaskGroup {attempts} times in an interval of {_d(interval)} "
                    f"with a delay of {_d(delay)}")
    return errs


def _update_errors(u: UpdateStrategy) -> list[str]:
    errs = []
    health_check, max_parallel, canary = u.HealthCheck, u.MaxParallel, u.Canary
    min_healthy, deadline, stagger = u.MinHealthyTime, u.HealthyDeadline, u.Stagger
    assert health_check is not None and max_parallel is not None and canary is not None
    assert min_healthy is not None and deadline is not None and stagger is not None
    if health_check not in ("checks", "task_states", "manual"):
        errs.append(f"Invalid health check given: {_q(health_check)}")
    if max_parallel < 1:
        errs.append(f"Max parallel can not be less than one: {max_parallel} < 1")
    if canary < 0:
        errs.append(f"Canary count can not be less than zero: {canary} < 0")
    if min_healthy < 0:
        errs.append(f"Minimum healthy time may not be less than zero: {_d(min_healthy)}")
    if deadline <= 0:
        errs.append(f"Healthy deadline must be greater than zero: {_d(deadline)}")
    if min_healthy >= deadline:
        errs.append(f"Minimum healthy time must be less than healthy deadline: {_d(min_healthy)} > "
                    f"{_d(deadline)}")
    if stagger <= 0:
        errs.append(f"Stagger must be greater than zero: {_d(stagger)}")
    return errs


# --- task ---------------------------------------------------------------------------

def _task_errors(t: Task, disk: Optional[EphemeralDisk]) -> list[str]:
    errs: list[str] = []
    if t.Name == "":
        errs.append("Missing task name")
    if "/" in t.Name or "\\" in t.Name:
        errs.append("Task name cannot include slashes")
    if t.Driver == "":
        errs.append("Missing task driver")
    assert t.KillTimeout is not None
    if t.KillTimeout < 0:
        errs.append("KillTimeout must be a positive value")
    if t.ShutdownDelay < 0:
        errs.append("ShutdownDelay must be a positive value")

    if t.Resources is None:
        errs.append("Missing task resources")
    else:
        inner = _min_resources_errors(t.Resources)
        if inner:
            errs.append(multierror(inner))
        assert t.Resources.DiskMB is not None
        if t.Resources.DiskMB > 0:
            errs.append("Task can't ask for disk resources, they have to be specified at the task group level.")

    if t.LogConfig is None:
        errs.append("Missing Log Config")
    else:
        inner = _log_config_errors(t.LogConfig)
        if inner:
            errs.append(multierror(inner))

    for idx, c in enumerate(t.Constraints or (), 1):
        inner = validate_constraint(c)
        if inner:
            errs.append(f"Constraint {idx} validation failed: {multierror(inner)}")
        if c.Operand in ("distinct_hosts", "distinct_property"):
            errs.append(f"Constraint {idx} has disallowed Operand at task level: {c.Operand}")

    inner = _services_errors(t)
    if inner:
        errs.append(multierror(inner))

    if t.LogConfig is not None and disk is not None:
        max_files, max_file_size = t.LogConfig.MaxFiles, t.LogConfig.MaxFileSizeMB
        assert max_files is not None and max_file_size is not None and disk.SizeMB is not None
        usage = max_files * max_file_size
        if disk.SizeMB <= usage:
            errs.append(f"log storage ({usage} MB) must be less than requested disk capacity ({disk.SizeMB} MB)")

    for idx, artifact in enumerate(t.Artifacts or (), 1):
        inner = _artifact_errors(artifact)
        if inner:
            errs.append(f"Artifact {idx} validation failed: {multierror(inner)}")

    if t.Vault is not None:
        inner = _vault_errors(t.Vault)
        if inner:
            errs.append(f"Vault validation failed: {multierror(inner)}")

    destinations: dict[str, int] = {}
    for idx, tmpl in enumerate(t.Templates or (), 1):
        inner = _template_errors(tmpl)
        if inner:
            errs.append(f"Template {idx} validation failed: {multierror(inner)}")
        dest = tmpl.DestPath
        assert dest is not None
        if dest in destinations:
            errs.append(f"Template {idx} has same destination as {destinations[dest]}")
        else:
            destinations[dest] = idx

    if t.DispatchPayload is not None:
        escaped = _escapes_alloc_dir("task/local/", t.DispatchPayload.File)
        if escaped:
            errs.append("Dispatch Payload validation failed: destination escapes allocation directory")
    return errs


def _min_resources_errors(r: Resources) -> list[str]:
    errs = []
    assert r.CPU is not None and r.MemoryMB is not None and r.IOPS is not None
    if r.CPU < 100:
        errs.append(f"minimum CPU value is 100; got {r.CPU}")
    if r.MemoryMB < 10:
        errs.append(f"minimum MemoryMB value is 10; got {r.MemoryMB}")
    if r.IOPS < 0:
        errs.append(f"minimum IOPS value is 0; got {r.IOPS}")
    for i, n in enumerate(r.Networks or ()):
        assert n.MBits is not None
        if n.MBits < 1:
            inner = multierror([f"minimum MBits value is 1; got {n.MBits}"])
            errs.append(f"network resource at index {i} failed: {inner}")
    return errs


def _log_config_errors(lc: LogConfig) -> list[str]:
    errs = []
    assert lc.MaxFiles is not None and lc.MaxFileSizeMB is not None
    if lc.MaxFiles < 1:
        errs.append(f"minimum number of files is 1; got {lc.MaxFiles}")
    if lc.MaxFileSizeMB < 1:
        errs.append(f"minimum file size is 1MB; got {lc.MaxFileSizeMB}")
    return errs


# --- services -----------------------------------------------------------------------

# Go's "$" is end of text; Python's also matches before a final newline, hence \Z.
_SERVICE_NAME_RE = re.compile(r"^(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9\-]{0,61}[a-zA-Z0-9])\Z")
_ENV_RE = re.compile(r"\$\{[a-zA-Z0-9_\-.]+\}")


def _requires_port(c: ServiceCheck) -> bool:
    return c.Type in ("http", "tcp")


def _services_errors(t: Task) -> list[str]:
    errs: list[str] = []
    service_ports: dict[str, set[str]] = {}
    known_services: set[str] = set()
    for i, s in enumerate(t.Services or ()):
        inner = _service_errors(s)
        if inner:
            errs.append(f"service[{i}] {_qa(s.Name)} validation failed: {multierror(inner)}")
        key = s.Name + s.PortLabel
        if key in known_services:
            errs.append(f"service {_q(s.Name)} is duplicate")
        known_services.add(key)

        if s.PortLabel != "":
            # A numeric port is only meaningful in driver address mode.
            if not (s.AddressMode == "driver" and strconv.atoi(s.PortLabel) is not None):
                service_ports.setdefault(s.PortLabel, set()).add(s.Name)

        known_checks: set[str] = set()
        for c in s.Checks or ():
            if c.Name in known_checks:
                errs.append(f"check {_q(c.Name)} is duplicate")
            known_checks.add(c.Name)
            if not _requires_port(c):
                continue
            port = c.PortLabel or s.PortLabel
            if port == "":
                errs.append(f"check {_q(c.Name)} is missing a port")
                continue
            number = strconv.atoi(port)
            if c.AddressMode == "driver" and number is not None:
                if number <= 0:
                    errs.append(f"check {_q(c.Name)} has invalid numeric port {number}")
                continue
            if number is not None:
                errs.append(f'check {_q(c.Name)} cannot use a numeric port {number} without setting '
                            'address_mode="driver"')
                continue
            service_ports.setdefault(port, set()).add(s.Name)

    labels: set[str] = set()
    if t.Resources is not None:
        for net in t.Resources.Networks or ():
            labels.update(p.Label for p in net.ReservedPorts or ())
            labels.update(p.Label for p in net.DynamicPorts or ())

    for port in sorted(service_ports):
        if port not in labels:
            names = ", ".join(sorted(service_ports[port]))
            errs.append(f"port label {_q(port)} referenced by services {names} does not exist")
    return errs


def _service_errors(s: Service) -> list[str]:
    errs: list[str] = []
    # Interpolated parts are unknown until the client runs; judge the rest.
    stripped = _ENV_RE.sub("ENV-VAR", s.Name)
    if not _SERVICE_NAME_RE.match(stripped):
        errs.append("service name must be valid per RFC 1123 and can contain only alphanumeric characters or "
                    f"dashes: {_q(s.Name)}")
    if s.AddressMode not in ("", "auto", "host", "driver"):
        errs.append(f'service address_mode must be "auto", "host", or "driver"; not {_q(s.AddressMode)}')
    for c in s.Checks or ():
        if s.PortLabel == "" and c.PortLabel == "" and _requires_port(c):
            errs.append(f"check {c.Name} invalid: check requires a port but neither check nor service "
                        f"{_qa(s.Name)} have a port")
            continue
        problem = _check_error(c)
        if problem:
            errs.append(f"check {c.Name} invalid: {problem}")
    return errs


def _check_error(c: ServiceCheck) -> Optional[str]:
    kind = c.Type.lower()
    if kind == "tcp":
        pass
    elif kind == "http":
        if c.Path == "":
            return "http type must have a valid http path"
    elif kind == "script":
        if c.Command == "":
            return "script type must have a valid script path"
    else:
        return f'invalid type ({_qa(c.Type)}), must be one of "http", "tcp", or "script" type'

    if c.Interval == 0:
        return "missing required value interval. Interval cannot be less than 1s"
    if c.Interval < SECOND:
        return f"interval ({_d(c.Interval)}) cannot be lower than 1s"
    if c.Timeout == 0:
        return "missing required value timeout. Timeout cannot be less than 1s"
    if c.Timeout < SECOND:
        return f"timeout ({_d(c.Timeout)}) is lower than required minimum timeout 1s"

    if c.InitialStatus not in ("", "passing", "warning", "critical"):
        return (f"invalid initial check state ({c.InitialStatus}), must be one of "
                '"passing", "warning", "critical" or empty')

    if c.AddressMode == "auto":
        return 'invalid address_mode "auto" - auto only valid for services'
    if c.AddressMode not in ("", "host", "driver"):
        return f"invalid address_mode {_q(c.AddressMode)}"

    if c.CheckRestart is not None:
        inner = []
        if c.CheckRestart.Limit < 0:
            inner.append(f"limit must be greater than or equal to 0 but found {c.CheckRestart.Limit}")
        assert c.CheckRestart.Grace is not None
        if c.CheckRestart.Grace < 0:
            inner.append(f"grace period must be greater than or equal to 0 but found {c.CheckRestart.Grace}")
        if inner:
            return multierror(inner)
    return None


# --- artifacts, vault, templates, dispatch ------------------------------------------

def _escapes_alloc_dir(prefix: str, path: str) -> bool:
    """``PathEscapesAllocDir``: does prefix/path leave the allocation directory?"""
    alloc = "/alloc-dir/alloc-id"
    target = gopath.join(alloc, prefix, path)
    if target == alloc:
        return False
    if target.startswith(alloc + "/"):
        rel = target[len(alloc) + 1:]
    else:
        # Outside the alloc dir: filepath.Rel climbs out with "..".
        up = alloc.count("/")
        rel = "/".join([".."] * up) + target
    # A name that merely starts with ".." counts as escaping in Nomad too.
    return rel.startswith("..")


_CHECKSUM_SIZES = {"md5": 16, "sha1": 20, "sha256": 32, "sha512": 64}


def _artifact_errors(a: TaskArtifact) -> list[str]:
    errs = []
    assert a.GetterMode is not None and a.RelativeDest is not None
    if a.GetterSource == "":
        errs.append("source must be specified")
    if a.GetterMode not in ("", "any", "file", "dir"):
        errs.append(f"invalid artifact mode {_q(a.GetterMode)}; must be one of: any, file, dir")
    if _escapes_alloc_dir("task", a.RelativeDest):
        errs.append("destination escapes allocation directory")

    options = a.GetterOptions or {}
    if "checksum" in options:
        check = options["checksum"].strip(" \t\n\r\v\f")
        if check == "":
            errs.append("checksum value cannot be empty")
            return errs
        parts = check.split(":")
        if len(parts) != 2:
            errs.append(f'checksum must be given as "type:value"; got {_q(check)}')
            return errs
        kind, value = parts
        decoded, problem = gohex.decode_string(value)
        if problem:
            errs.append(f"invalid checksum: {problem}")
            return errs
        if kind not in _CHECKSUM_SIZES:
            errs.append(f"unsupported checksum type: {kind}")
            return errs
        if len(decoded) != _CHECKSUM_SIZES[kind]:
            errs.append(f"invalid {kind} checksum: {value}")
    return errs


def _vault_errors(v: Vault) -> list[str]:
    errs = []
    assert v.ChangeMode is not None
    if not v.Policies:
        errs.append("Policy list cannot be empty")
    for p in v.Policies or ():
        if p == "root":
            errs.append('Can not specify "root" policy')
    if v.ChangeMode == "signal":
        if v.ChangeSignal == "":
            errs.append('Signal must be specified when using change mode "signal"')
    elif v.ChangeMode not in ("noop", "restart"):
        errs.append(f"Unknown change mode {_q(v.ChangeMode)}")
    return errs


def _template_errors(t: Template) -> list[str]:
    errs = []
    assert t.DestPath is not None and t.Splay is not None and t.Perms is not None and t.VaultGrace is not None
    if t.SourcePath == "" and t.EmbeddedTmpl == "":
        errs.append("Must specify a source path or have an embedded template")
    if t.DestPath == "":
        errs.append("Must specify a destination for the template")
    if _escapes_alloc_dir("task", t.DestPath):
        errs.append("destination escapes allocation directory")
    if t.ChangeMode == "signal":
        if t.ChangeSignal == "":
            errs.append("Must specify signal value when change mode is signal")
    elif t.ChangeMode not in ("noop", "restart"):
        errs.append("Invalid change mode. Must be one of the following: noop, signal, restart")
    if t.Splay < 0:
        errs.append("Must specify positive splay value")
    if t.Perms != "":
        _, problem = strconv.parse_uint_octal(t.Perms, 12)
        if problem:
            errs.append(f"Failed to parse {_q(t.Perms)} as octal: {problem}")
    if t.VaultGrace < 0:
        errs.append(f"Vault grace must be greater than zero: {_d(t.VaultGrace)} < 0")
    return errs


# --- periodic and parameterized -----------------------------------------------------

def _periodic_errors(p: PeriodicConfig) -> list[str]:
    errs = []
    assert p.Spec is not None and p.TimeZone is not None and p.SpecType is not None
    if p.Spec == "":
        errs.append("Must specify a spec")
    if p.TimeZone != "":
        problem = load_location_error(p.TimeZone)
        if problem:
            errs.append(f"Invalid time zone {_q(p.TimeZone)}: {problem}")
    if p.SpecType == "cron":
        problem = cron_parse_error(p.Spec)
        if problem:
            errs.append(f"Invalid cron spec {_q(p.Spec)}: {problem}")
    elif p.SpecType != "_internal_test":
        errs.append(f"Unknown periodic specification type {_q(p.SpecType)}")
    return errs


def _parameterized_errors(pj: ParameterizedJobConfig) -> list[str]:
    errs = []
    if pj.Payload not in ("optional", "required", "forbidden"):
        errs.append(f"Unknown payload requirement: {_q(pj.Payload)}")
    required = set(pj.MetaRequired or ())
    both: list[str] = []
    for key in pj.MetaOptional or ():
        if key in required and key not in both:
            both.append(key)
    if both:
        errs.append(f"Required and optional meta keys should be disjoint. Following keys exist in both: "
                    f"{format_slice(both)}")
    return errs


# --- cron (gorhill/cronexpr as vendored by Nomad 0.7.1) -----------------------------

_CRON_ALIASES = [
    ("@yearly", "0 0 0 1 1 * *"),
    ("@annually", "0 0 0 1 1 * *"),
    ("@monthly", "0 0 0 1 * * *"),
    ("@weekly", "0 0 0 * * 0 *"),
    ("@daily", "0 0 0 * * * *"),
    ("@hourly", "0 0 * * * * *"),
]
_CRON_ALIAS_RE = re.compile("|".join(re.escape(a) for a, _ in _CRON_ALIASES))
_GO_FIELD_RE = re.compile(r"[^\t\n\f\r ]+")

_MONTHS = "jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec|january|february|march|april|june|july|august|" \
          "september|october|november|december"
_DAYS = "sun|mon|tue|wed|thu|fri|sat|sunday|monday|tuesday|wednesday|thursday|friday|saturday"
_CRON_FIELDS = {
    "second": r"0?[0-9]|[1-5][0-9]",
    "minute": r"0?[0-9]|[1-5][0-9]",
    "hour": r"0?[0-9]|1[0-9]|2[0-3]",
    "day-of-month": r"0?[1-9]|[12][0-9]|3[01]",
    "month": r"0?[1-9]|1[012]|" + _MONTHS,
    "day-of-week": r"0?[0-7]|" + _DAYS,
    "year": r"19[789][0-9]|20[0-9]{2}",
}


def _cron_layouts(value: str) -> list[re.Pattern[str]]:
    v = f"(?:{value})"
    return [re.compile(p) for p in (
        r"^\*$|^\?$",
        rf"^{v}$",
        rf"^{v}-{v}$",
        r"^\*/\d+$",
        rf"^{v}/\d+$",
        rf"^{v}-{v}/\d+$",
    )]


_CRON_LAYOUTS = {name: _cron_layouts(pattern) for name, pattern in _CRON_FIELDS.items()}
_DOM_EXTRA = [re.compile(r"^l$"), re.compile(r"^lw$"), re.compile(rf"^(?:{_CRON_FIELDS['day-of-month']})w$")]
_DOW_EXTRA = [re.compile(rf"^(?:{_CRON_FIELDS['day-of-week']})l$"),
              re.compile(rf"^(?:{_CRON_FIELDS['day-of-week']})#[1-5]$")]


def _cron_field_error(text: str, name: str) -> Optional[str]:
    entries = [e for e in text.split(",") if e]
    if not entries:
        return f"{name} field: missing directive"
    for entry in entries:
        low = entry.lower()
        layouts = _CRON_LAYOUTS[name]
        if layouts[0].match(low):
            # cronexpr stops at a wildcard: later entries are never looked at.
            return None
        if any(p.match(low) for p in layouts[1:]):
            continue
        if name == "day-of-month" and any(p.match(low) for p in _DOM_EXTRA):
            continue
        if name == "day-of-week" and any(p.match(low) for p in _DOW_EXTRA):
            continue
        shown = low if name in ("day-of-month", "day-of-week") else entry
        return f"syntax error in {name} field: '{shown}'"
    return None


def _cron_fields(spec: str) -> list[str]:
    normalized = _CRON_ALIAS_RE.sub(lambda m: dict(_CRON_ALIASES)[m.group(0)], spec)
    return _GO_FIELD_RE.findall(normalized)


def croniter_args(spec: str) -> tuple[str, dict[str, Any]]:
    """Translate a Nomad cron spec (5 fields; 6 = with year; 7 = seconds first and
    year last; aliases) into a croniter expression and keyword arguments."""
    fields = _cron_fields(spec)[:7]
    if len(fields) == 5:
        return " ".join(fields), {}
    if len(fields) == 6:
        fields = ["0"] + fields
    return " ".join(fields), {"second_at_beginning": True}


def cron_parse_error(spec: str) -> Optional[str]:
    """Why Nomad would reject a cron spec (cronexpr's message where it has one), or
    None. Specs croniter cannot evaluate are rejected too, with its message."""
    fields = _cron_fields(spec)
    if len(fields) < 5:
        return "missing field(s)"
    fields = fields[:7]
    names = ["minute", "hour", "day-of-month", "month", "day-of-week"]
    if len(fields) == 7:
        names = ["second"] + names
    if len(fields) >= 6:
        names = names + ["year"]
    for text, name in zip(fields, names):
        problem = _cron_field_error(text, name)
        if problem:
            return problem
    expr, kwargs = croniter_args(spec)
    try:
        croniter(expr, **kwargs)
    except Exception as exc:  # croniter raises several unrelated exception types
        return str(exc)
    return None


# --- constraints --------------------------------------------------------------------

def validate_constraint(c: Constraint) -> list[str]:
    """``Constraint.Validate``: the inner error list (empty when valid)."""
    errs = []
    if c.Operand == "":
        errs.append("Missing constraint operand")
    need_ltarget = True
    op = c.Operand
    if op == "distinct_hosts":
        need_ltarget = False
    elif op == "set_contains":
        if c.RTarget == "":
            errs.append("Set contains constraint requires an RTarget")
    elif op == "regexp":
        problem = goregexp.compile_error(c.RTarget)
        if problem:
            errs.append(f"Regular expression failed to compile: {problem}")
    elif op == "version":
        problem = goversion.constraint_error(c.RTarget)
        if problem:
            errs.append(f"Version constraint is invalid: {problem}")
    elif op == "distinct_property":
        if c.RTarget != "":
            count, problem = strconv.parse_uint(c.RTarget)
            if problem is not None:
                errs.append(f"Failed to convert RTarget {_q(c.RTarget)} to uint64: {problem}")
            elif count < 1:
                errs.append(f"Distinct Property must have an allowed count of 1 or greater: {count} < 1")
    elif op in ("=", "==", "is", "!=", "not", "<", "<=", ">", ">="):
        if c.RTarget == "":
            errs.append(f"Operator {_q(op)} requires an RTarget")
    else:
        errs.append(f"Unknown constraint type {_q(op)}")
    if need_ltarget and c.LTarget == "":
        errs.append("No LTarget provided but is required by constraint")
    return errs


# --- driver configuration -----------------------------------------------------------

class _Driver:
    __slots__ = ("schema", "sends_signals", "required")

    def __init__(self, schema: dict[str, tuple[str, bool]], sends_signals: bool):
        self.schema = schema
        self.sends_signals = sends_signals
        # The required keys in schema order: every task is checked against them, and
        # the docker schema has some 40 keys of which one is required.
        self.required = tuple(name for name, (_, req) in schema.items() if req)


def _schema(required: Iterable[str] = (), **fields: str) -> dict[str, tuple[str, bool]]:
    req = set(required)
    return {name: (kind, name in req) for name, kind in fields.items()}


_S, _I, _B, _A, _M = "string", "integer", "boolean", "array", "map"

# Driver config keys as of Nomad 0.7.1 (client/driver/*.go Validate).
KNOWN_DRIVERS: dict[str, _Driver] = {
    "docker": _Driver(_schema(
        ["image"],
        image=_S, load=_S, command=_S, args=_A, ipc_mode=_S, network_mode=_S, network_aliases=_A,
        ipv4_address=_S, ipv6_address=_S, mac_address=_S, pid_mode=_S, uts_mode=_S, userns_mode=_S,
        sysctl=_A, ulimit=_A, port_map=_A, privileged=_B, dns_servers=_A, dns_options=_A,
        dns_search_domains=_A, extra_hosts=_A, hostname=_S, labels=_A, auth=_A, auth_soft_fail=_B, ssl=_B,
        tty=_B, interactive=_B, shm_size=_I, work_dir=_S, logging=_A, volumes=_A, volume_driver=_S,
        mounts=_A, force_pull=_B, security_opt=_A, devices=_A,
    ), True),
    "exec": _Driver(_schema(["command"], command=_S, args=_A), True),
    "raw_exec": _Driver(_schema(["command"], command=_S, args=_A), True),
    "java": _Driver(_schema(**{"class": _S, "class_path": _S, "jar_path": _S, "jvm_options": _A, "args": _A}), True),
    "qemu": _Driver(_schema(["image_path"], image_path=_S, accelerator=_S, graceful_shutdown=_B, port_map=_A,
                            args=_A), False),
    "rkt": _Driver(_schema(
        ["image"],
        image=_S, args=_A, trust_prefix=_S, dns_servers=_A, dns_search_domains=_A, net=_A, port_map=_A,
        volumes=_A, debug=_B, insecure_options=_A, no_overlay=_B, command=_S,
    ), False),
}

_ZERO = {_S: "", _I: 0, _B: False}


def _decode(kind: str, value: Any) -> tuple[bool, Any]:
    """mapstructure.Decode (strict) into the schema type: (ok, decoded value)."""
    if value is None:
        return True, _ZERO.get(kind)
    if kind == _S:
        return (True, value) if isinstance(value, str) else (False, None)
    if kind == _B:
        return (True, value) if isinstance(value, bool) else (False, None)
    if kind == _I:
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            return True, int(value)
        return False, None
    if kind == _A:
        return (True, value) if isinstance(value, list) else (False, None)
    if kind == _M:
        return (True, value) if isinstance(value, dict) else (False, None)
    return False, None


def validate_driver_config(driver: str, config: Optional[dict[str, Any]]) -> list[str]:
    """The driver's config-schema errors (empty when valid or the driver is unknown)."""
    spec = KNOWN_DRIVERS.get(driver)
    if spec is None:
        return []
    raw = config or {}
    errs = [f"field {_q(name)} is required" for name in spec.required if name not in raw]
    for key, value in raw.items():
        if key not in spec.schema:
            errs.append(f"{_q(key)} is an invalid field")
            continue
        kind, req = spec.schema[key]
        ok, decoded = _decode(kind, value)
        if not ok:
            errs.append(f"field {_q(key)} with input {format_q(value)} doesn't seem to be of type {kind}")
        elif req and decoded == _ZERO.get(kind) and type(decoded) is type(_ZERO.get(kind)):
            errs.append(f"field {_q(key)} is required, but no value was found")
    return errs

