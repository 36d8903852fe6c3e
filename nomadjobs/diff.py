"""Job diffs and plan-diff annotations, as Nomad v0.7.1 computes them.

``job_diff`` follows ``nomad/structs/diff.go`` (with ``helper/flatmap``), ``annotate``
follows ``scheduler/annotate.go``. Both are pure: they read models and return new
diff models.

How Nomad sees a struct when diffing
------------------------------------
Nomad flattens a struct into ``{field path: string}`` in "primitive only" mode: only
the struct's own scalar fields and the entries of its scalar-valued maps (``Meta[k]``,
``Env[k]``, ``GetterOptions[k]``) are kept; nested structs, pointers, slices and
``interface{}`` values are dropped. Free-form maps (task ``Config``, check
``Header``) are flattened completely instead (``port_map[0][db]``). Values are Go's
``%v``: ``true``, ``50``, durations as nanoseconds, floats in Go's short form
(``6379``, ``1e+06``). An empty string is indistinguishable from "absent", which is
what makes a field Added/Deleted rather than Edited.

Models here use ``None`` for api-level "unset"; a scalar ``None`` counts as Go's zero
value (the server struct has no such state), a ``None`` struct/list/map is Go's nil.
Fields marked ``input_only`` do not exist on the server struct and are ignored.
"""

from __future__ import annotations

import typing
from functools import lru_cache
from typing import Any, Callable, Hashable, Iterable, Mapping, Optional, Sequence, TypeVar

import attrs

from .golang.fmt import format_v
from .golang.strconv import ERR_SYNTAX, num_error, quote
from .structs.job import (
    Job,
    NetworkResource,
    ParameterizedJobConfig,
    Port,
    Resources,
    Service,
    ServiceCheck,
    Task,
    TaskGroup,
    Vault,
    evolve,
)
from .structs.plan import (
    DIFF_ADDED,
    DIFF_DELETED,
    DIFF_EDITED,
    DIFF_NONE,
    DesiredUpdates,
    FieldDiff,
    JobDiff,
    ObjectDiff,
    TaskDiff,
    TaskGroupDiff,
)

__all__ = [
    "job_diff",
    "annotate",
    "ANNOTATION_FORCES_CREATE",
    "ANNOTATION_FORCES_DESTROY",
    "ANNOTATION_FORCES_INPLACE_UPDATE",
    "ANNOTATION_FORCES_DESTRUCTIVE_UPDATE",
    "UPDATE_TYPE_IGNORE",
    "UPDATE_TYPE_CREATE",
    "UPDATE_TYPE_DESTROY",
    "UPDATE_TYPE_MIGRATE",
    "UPDATE_TYPE_CANARY",
    "UPDATE_TYPE_INPLACE_UPDATE",
    "UPDATE_TYPE_DESTRUCTIVE_UPDATE",
]

ANNOTATION_FORCES_CREATE = "forces create"
ANNOTATION_FORCES_DESTROY = "forces destroy"
ANNOTATION_FORCES_INPLACE_UPDATE = "forces in-place update"
ANNOTATION_FORCES_DESTRUCTIVE_UPDATE = "forces create/destroy update"

UPDATE_TYPE_IGNORE = "ignore"
UPDATE_TYPE_CREATE = "create"
UPDATE_TYPE_DESTROY = "destroy"
UPDATE_TYPE_MIGRATE = "migrate"
UPDATE_TYPE_CANARY = "canary"
UPDATE_TYPE_INPLACE_UPDATE = "in-place update"
UPDATE_TYPE_DESTRUCTIVE_UPDATE = "create/destroy update"

# Fields of a job that change on every write (or are diffed elsewhere), never listed.
_JOB_SKIP = ("ID", "Status", "StatusDescription", "Version", "Stable", "CreateIndex",
             "ModifyIndex", "JobModifyIndex", "Update", "SubmitTime")
_GROUP_SKIP = ("Name",)
_TASK_SKIP = ("Name", "Config")
_NETWORK_SKIP = ("Device", "CIDR", "IP")

# Nomad sorts objects Edited, Added, Deleted, None.
_TYPE_RANK = {DIFF_EDITED: 0, DIFF_ADDED: 1, DIFF_DELETED: 2, DIFF_NONE: 3}


# --- what each model field is, seen from Go --------------------------------------------

_SCALAR_ZERO: dict[type, Any] = {int: 0, bool: False, str: "", float: 0.0}


@attrs.frozen
class _FieldInfo:
    name: str
    kind: str  # "scalar", "struct", "list", "map", "skip"
    zero: Any = None  # Python zero value for a scalar that is None
    map_scalar: bool = False  # map whose values are scalars (flattened in primitive mode)


def _unwrap_optional(tp: Any) -> Any:
    if typing.get_origin(tp) is typing.Union:
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return args[0] if len(args) == 1 else Any
    return tp


def _compute_fields(cls: type) -> tuple[_FieldInfo, ...]:
    hints = typing.get_type_hints(cls)
    infos = []
    for f in attrs.fields(cls):
        if f.metadata.get("input_only"):
            continue  # not part of Nomad's server struct
        tp = _unwrap_optional(hints[f.name])
        origin = typing.get_origin(tp)
        if tp in _SCALAR_ZERO:
            infos.append(_FieldInfo(f.name, "scalar", zero=_SCALAR_ZERO[tp]))
        elif attrs.has(tp):
            infos.append(_FieldInfo(f.name, "struct"))
        elif origin is list or tp is bytes:
            infos.append(_FieldInfo(f.name, "list"))
        elif origin is dict:
            args = typing.get_args(tp)
            value_tp = _unwrap_optional(args[1]) if len(args) == 2 else Any
            infos.append(_FieldInfo(f.name, "map", map_scalar=value_tp in _SCALAR_ZERO))
        else:
            infos.append(_FieldInfo(f.name, "skip"))
    return tuple(infos)


# Computed once per class. Declared as a plain callable because mypy does not see
# ``type[Any]`` (what ``type(value)`` is for an ``Any`` value) as Hashable.
_fields_of: Callable[[type], tuple[_FieldInfo, ...]] = lru_cache(maxsize=None)(_compute_fields)


def _field_value(obj: Any, info: _FieldInfo) -> Any:
    value = getattr(obj, info.name)
    if value is None and info.kind == "scalar":
        return info.zero
    return value


# --- flatmap ----------------------------------------------------------------------------

def _flatten_struct(obj: Any, skip: Sequence[str] = ()) -> dict[str, str]:
    """Primitive-only flattening of one struct (``None`` is a nil pointer: nothing)."""
    out: dict[str, str] = {}
    if obj is None:
        return out
    for info in _fields_of(type(obj)):
        if info.kind == "scalar":
            out[info.name] = format_v(_field_value(obj, info))
        elif info.kind == "map" and info.map_scalar:
            for key, item in (getattr(obj, info.name) or {}).items():
                # A JSON null decoded into a map[string]string is "".
                out[f"{info.name}[{key}]"] = "" if item is None else format_v(item)
    for name in skip:
        out.pop(name, None)
    return out


def _flatten_free(value: Any, prefix: str = "", out: Optional[dict[str, str]] = None) -> dict[str, str]:
    """Full flattening of a free-form value: maps as ``a[b]``, lists as ``a[0]``."""
    if out is None:
        out = {}
    if isinstance(value, Mapping):
        for key, item in value.items():
            _flatten_free(item, f"{prefix}[{key}]" if prefix else str(key), out)
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            _flatten_free(item, f"{prefix}[{i}]", out)
    else:
        out[prefix] = format_v(value)
    return out


# --- Go's reflect.DeepEqual and hashstructure, over the server-side view ----------------

def _deep_equal(a: Any, b: Any) -> bool:
    if attrs.has(type(a)) or attrs.has(type(b)):
        if type(a) is not type(b):
            return False
        return all(_deep_equal(_field_value(a, i), _field_value(b, i)) for i in _fields_of(type(a)))
    if a is None or b is None:
        return a is b  # nil and empty collections differ for DeepEqual
    if isinstance(a, Mapping):
        if not isinstance(b, Mapping) or a.keys() != b.keys():
            return False
        return all(_deep_equal(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        if not isinstance(b, (list, tuple)) or len(a) != len(b):
            return False
        return all(_deep_equal(x, y) for x, y in zip(a, b))
    # Different Go types never compare equal (a float64 6379 is not an int 6379).
    return type(a) is type(b) and a == b


def _hash_key(value: Any) -> Hashable:
    """A stand-in for hashstructure.Hash: equal keys for values Nomad hashes equally
    (nil and empty collections hash the same; map order does not matter)."""
    if attrs.has(type(value)):
        parts = []
        for info in _fields_of(type(value)):
            item = _field_value(value, info)
            if item is None and info.kind in ("list", "map"):
                item = [] if info.kind == "list" else {}
            parts.append((info.name, _hash_key(item)))
        return (type(value).__name__, tuple(parts))
    if isinstance(value, Mapping):
        return ("map", frozenset((k, _hash_key(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return ("list", tuple(_hash_key(v) for v in value))
    if value is None:
        return None
    return (type(value).__name__, value)


# --- field and object building blocks ----------------------------------------------------

_T = TypeVar("_T")
_D = TypeVar("_D", TaskDiff, TaskGroupDiff)


def _none_if_empty(items: Optional[list[_T]]) -> Optional[list[_T]]:
    return items if items else None


def _field_diff(old: str, new: str, name: str, contextual: bool) -> Optional[FieldDiff]:
    if old == new:
        if not contextual:
            return None
        return FieldDiff(Name=name, Old=old, New=new, Type=DIFF_NONE)
    if old == "":
        return FieldDiff(Name=name, New=new, Type=DIFF_ADDED)
    if new == "":
        return FieldDiff(Name=name, Old=old, Type=DIFF_DELETED)
    return FieldDiff(Name=name, Old=old, New=new, Type=DIFF_EDITED)


def _field_key(f: FieldDiff) -> tuple[str, str, str]:
    return (f.Name, f.Old, f.New)


def _field_diffs(old: Optional[Mapping[str, str]], new: Optional[Mapping[str, str]],
                 contextual: bool) -> list[FieldDiff]:
    old = old or {}
    new = new or {}
    diffs = []
    for key, old_value in old.items():
        d = _field_diff(old_value, new.get(key, ""), key, contextual)
        if d is not None:
            diffs.append(d)
    for key, new_value in new.items():
        if key not in old:
            d = _field_diff("", new_value, key, contextual)
            if d is not None:
                diffs.append(d)
    diffs.sort(key=_field_key)
    return diffs


def _object_key(o: ObjectDiff) -> tuple[Any, ...]:
    # Name, then type (Edited < Added < Deleted < None), then how many fields and
    # objects, then the fields and nested objects themselves.
    fields = o.Fields or ()
    objects = o.Objects or ()
    return (o.Name, _TYPE_RANK.get(o.Type, 4), len(fields), len(objects),
            tuple(_field_key(f) for f in fields), tuple(_object_key(c) for c in objects))


def _sorted_objects(objects: Iterable[ObjectDiff]) -> list[ObjectDiff]:
    return sorted(objects, key=_object_key)


def _object(name: str, type_: str, fields: list[FieldDiff],
            objects: Optional[list[ObjectDiff]] = None) -> ObjectDiff:
    return ObjectDiff(Name=name, Type=type_, Fields=_none_if_empty(fields),
                      Objects=_none_if_empty(objects or []))


def _string_set_diff(old: Optional[Sequence[str]], new: Optional[Sequence[str]], name: str,
                     contextual: bool) -> Optional[ObjectDiff]:
    old_set = dict.fromkeys(old or ())
    new_set = dict.fromkeys(new or ())
    if old_set.keys() == new_set.keys() and not contextual:
        return None
    candidates: list[Optional[FieldDiff]] = []
    added = removed = False
    for item in old_set:
        if item not in new_set:
            candidates.append(_field_diff(item, "", name, contextual))
            removed = True
        elif contextual:
            candidates.append(_field_diff(item, item, name, contextual))
    for item in new_set:
        if item not in old_set:
            candidates.append(_field_diff("", item, name, contextual))
            added = True
    fields = [f for f in candidates if f is not None]
    fields.sort(key=_field_key)
    if added and removed:
        type_ = DIFF_EDITED
    elif added:
        type_ = DIFF_ADDED
    elif removed:
        type_ = DIFF_DELETED
    elif not fields:
        return None  # two empty sets
    else:
        type_ = DIFF_NONE
    return _object(name, type_, fields)


def _primitive_object_diff(old: Any, new: Any, skip: Sequence[str], name: str,
                           contextual: bool) -> Optional[ObjectDiff]:
    """Diff of one struct's primitive fields; None when nothing changed."""
    fields = _field_diffs(_flatten_struct(old, skip), _flatten_struct(new, skip), contextual)
    types = {f.Type for f in fields}
    if DIFF_EDITED in types or (DIFF_ADDED in types and DIFF_DELETED in types):
        type_ = DIFF_EDITED
    elif DIFF_ADDED in types:
        type_ = DIFF_ADDED
    elif DIFF_DELETED in types:
        type_ = DIFF_DELETED
    else:
        return None
    return _object(name, type_, fields)


def _primitive_object_set_diff(old: Optional[Sequence[Any]], new: Optional[Sequence[Any]],
                               name: str, contextual: bool) -> list[ObjectDiff]:
    """Set semantics by content hash: any edit is a Deleted object plus an Added one."""
    old_set = {_hash_key(o): o for o in old or ()}
    new_set = {_hash_key(n): n for n in new or ()}
    diffs = []
    for key, obj in old_set.items():
        if key not in new_set:
            diffs.append(_primitive_object_diff(obj, None, (), name, contextual))
    for key, obj in new_set.items():
        if key not in old_set:
            diffs.append(_primitive_object_diff(None, obj, (), name, contextual))
    # Nomad keeps a nil entry for an all-empty object; such objects never validate,
    # so dropping them changes nothing observable.
    return _sorted_objects(d for d in diffs if d is not None)


def _pointer_prologue(old: Any, new: Any,
                      skip: Sequence[str] = ()) -> Optional[tuple[str, dict[str, str], dict[str, str]]]:
    """For objects Nomad diffs as pointers: None when deeply equal, else the type and
    both flat maps (a missing side flattens to nothing)."""
    if _deep_equal(old, new):
        return None
    if old is None:
        return DIFF_ADDED, {}, _flatten_struct(new, skip)
    if new is None:
        return DIFF_DELETED, _flatten_struct(old, skip), {}
    return DIFF_EDITED, _flatten_struct(old, skip), _flatten_struct(new, skip)


def _config_diff(old: Optional[Mapping[str, Any]], new: Optional[Mapping[str, Any]],
                 contextual: bool) -> Optional[ObjectDiff]:
    if _deep_equal(old, new):
        return None
    if not old:
        type_ = DIFF_ADDED
    elif not new:
        type_ = DIFF_DELETED
    else:
        type_ = DIFF_EDITED
    fields = _field_diffs(_flatten_free(old or {}), _flatten_free(new or {}), contextual)
    return _object("Config", type_, fields)


def _header_diff(old: Optional[Mapping[str, Optional[list[str]]]],
                 new: Optional[Mapping[str, Optional[list[str]]]], contextual: bool) -> Optional[ObjectDiff]:
    if _deep_equal(old, new):
        return None
    if not old:
        type_, old_flat, new_flat = DIFF_ADDED, {}, _flatten_free(new or {})
    elif not new:
        type_, old_flat, new_flat = DIFF_DELETED, _flatten_free(old), {}
    else:
        type_, old_flat, new_flat = DIFF_EDITED, _flatten_free(old), _flatten_free(new)
    return _object("Header", type_, _field_diffs(old_flat, new_flat, contextual))


def _simple_pointer_diff(old: Any, new: Any, name: str, contextual: bool) -> Optional[ObjectDiff]:
    start = _pointer_prologue(old, new)
    if start is None:
        return None
    type_, old_flat, new_flat = start
    return _object(name, type_, _field_diffs(old_flat, new_flat, contextual))


def _check_diff(old: Optional[ServiceCheck], new: Optional[ServiceCheck],
                contextual: bool) -> Optional[ObjectDiff]:
    start = _pointer_prologue(old, new)
    if start is None:
        return None
    type_, old_flat, new_flat = start
    objects = []
    header = _header_diff(old.Header if old else None, new.Header if new else None, contextual)
    if header is not None:
        objects.append(header)
    restart = _simple_pointer_diff(old.CheckRestart if old else None,
                                   new.CheckRestart if new else None, "CheckRestart", contextual)
    if restart is not None:
        objects.append(restart)
    return _object("Check", type_, _field_diffs(old_flat, new_flat, contextual), objects)


def _keyed_diffs(old: Optional[Sequence[Any]], new: Optional[Sequence[Any]], key: str,
                 differ: Callable[[Any, Any], Optional[ObjectDiff]]) -> list[ObjectDiff]:
    """Objects matched by a key field (last one wins on duplicates, like a Go map)."""
    old_map = {getattr(o, key): o for o in old or ()}
    new_map = {getattr(n, key): n for n in new or ()}
    diffs = []
    for name, obj in old_map.items():
        d = differ(obj, new_map.get(name))
        if d is not None:
            diffs.append(d)
    for name, obj in new_map.items():
        if name not in old_map:
            d = differ(None, obj)
            if d is not None:
                diffs.append(d)
    return _sorted_objects(diffs)


def _service_diff(old: Optional[Service], new: Optional[Service], contextual: bool) -> Optional[ObjectDiff]:
    start = _pointer_prologue(old, new)
    if start is None:
        return None
    type_, old_flat, new_flat = start
    checks = _keyed_diffs(old.Checks if old else None, new.Checks if new else None, "Name",
                          lambda a, b: _check_diff(a, b, contextual))
    return _object("Service", type_, _field_diffs(old_flat, new_flat, contextual), checks)


def _vault_diff(old: Optional[Vault], new: Optional[Vault], contextual: bool) -> Optional[ObjectDiff]:
    start = _pointer_prologue(old, new)
    if start is None:
        return None
    type_, old_flat, new_flat = start
    objects = []
    policies = _string_set_diff(old.Policies if old else None, new.Policies if new else None,
                                "Policies", contextual)
    if policies is not None:
        objects.append(policies)
    return _object("Vault", type_, _field_diffs(old_flat, new_flat, contextual), objects)


def _parameterized_diff(old: Optional[ParameterizedJobConfig], new: Optional[ParameterizedJobConfig],
                        contextual: bool) -> Optional[ObjectDiff]:
    start = _pointer_prologue(old, new)
    if start is None:
        return None
    type_, old_flat, new_flat = start
    objects = []
    for attr in ("MetaOptional", "MetaRequired"):
        d = _string_set_diff(getattr(old, attr) if old else None, getattr(new, attr) if new else None,
                             attr, contextual)
        if d is not None:
            objects.append(d)
    return _object("ParameterizedJob", type_, _field_diffs(old_flat, new_flat, contextual), objects)


def _port_diffs(old: Optional[Sequence[Port]], new: Optional[Sequence[Port]], dynamic: bool,
                contextual: bool) -> list[ObjectDiff]:
    # Dynamic ports get their value at placement, so only the label is compared.
    skip = ("Value",) if dynamic else ()
    name = "Dynamic Port" if dynamic else "Static Port"
    old_map = {p.Label: p for p in old or ()}
    new_map = {p.Label: p for p in new or ()}
    diffs = []
    for label, port in old_map.items():
        d = _primitive_object_diff(port, new_map.get(label), skip, name, contextual)
        if d is not None:
            diffs.append(d)
    for label, port in new_map.items():
        if label not in old_map:
            d = _primitive_object_diff(None, port, skip, name, contextual)
            if d is not None:
                diffs.append(d)
    return _sorted_objects(diffs)


def _network_diff(old: Optional[NetworkResource], new: Optional[NetworkResource],
                  contextual: bool) -> Optional[ObjectDiff]:
    start = _pointer_prologue(old, new, _NETWORK_SKIP)
    if start is None:
        return None
    type_, old_flat, new_flat = start
    objects = _port_diffs(old.ReservedPorts if old else None, new.ReservedPorts if new else None,
                          False, contextual)
    objects += _port_diffs(old.DynamicPorts if old else None, new.DynamicPorts if new else None,
                           True, contextual)
    return _object("Network", type_, _field_diffs(old_flat, new_flat, contextual), objects)


def _network_diffs(old: Optional[Sequence[NetworkResource]], new: Optional[Sequence[NetworkResource]],
                   contextual: bool) -> list[ObjectDiff]:
    # Networks have no key: any change is a Deleted network plus an Added one.
    old_set = {_hash_key(o): o for o in old or ()}
    new_set = {_hash_key(n): n for n in new or ()}
    diffs = []
    for key, net in old_set.items():
        if key not in new_set:
            d = _network_diff(net, None, contextual)
            if d is not None:
                diffs.append(d)
    for key, net in new_set.items():
        if key not in old_set:
            d = _network_diff(None, net, contextual)
            if d is not None:
                diffs.append(d)
    return _sorted_objects(diffs)


def _resources_diff(old: Optional[Resources], new: Optional[Resources],
                    contextual: bool) -> Optional[ObjectDiff]:
    start = _pointer_prologue(old, new)
    if start is None:
        return None
    type_, old_flat, new_flat = start
    networks = _network_diffs(old.Networks if old else None, new.Networks if new else None, contextual)
    return _object("Resources", type_, _field_diffs(old_flat, new_flat, contextual), networks)


# --- tasks, groups, jobs ------------------------------------------------------------------

def _diff_type_for(old: Any, new: Any) -> str:
    if old is None:
        return DIFF_ADDED
    if new is None:
        return DIFF_DELETED
    # Edited whenever anything differs, even fields the diff never lists.
    return DIFF_NONE if _deep_equal(old, new) else DIFF_EDITED


def _task_diff(old: Optional[Task], new: Optional[Task], contextual: bool) -> TaskDiff:
    type_ = _diff_type_for(old, new)
    either = new if new is not None else old
    assert either is not None  # _by_name_diffs always passes one side
    name = either.Name or ""
    old_flat = _flatten_struct(old, _TASK_SKIP)
    new_flat = _flatten_struct(new, _TASK_SKIP)
    # Task-level fields are listed only when they change.
    fields = _field_diffs(old_flat, new_flat, False)

    o = old if old is not None else Task()
    n = new if new is not None else Task()
    objects: list[ObjectDiff] = []
    objects += _primitive_object_set_diff(o.Constraints, n.Constraints, "Constraint", contextual)
    for d in (_config_diff(o.Config, n.Config, contextual),
              _resources_diff(o.Resources, n.Resources, contextual),
              _primitive_object_diff(o.LogConfig, n.LogConfig, (), "LogConfig", contextual),
              _primitive_object_diff(o.DispatchPayload, n.DispatchPayload, (), "DispatchPayload", contextual)):
        if d is not None:
            objects.append(d)
    objects += _primitive_object_set_diff(o.Artifacts, n.Artifacts, "Artifact", contextual)
    objects += _keyed_diffs(o.Services, n.Services, "Name", lambda a, b: _service_diff(a, b, contextual))
    vault = _vault_diff(o.Vault, n.Vault, contextual)
    if vault is not None:
        objects.append(vault)
    objects += _primitive_object_set_diff(o.Templates, n.Templates, "Template", contextual)
    return TaskDiff(Type=type_, Name=name, Fields=_none_if_empty(fields), Objects=_none_if_empty(objects))


def _by_name_diffs(old: Optional[Sequence[Any]], new: Optional[Sequence[Any]],
                   differ: Callable[[Any, Any], _D]) -> list[_D]:
    old_map = {o.Name: o for o in old or ()}
    new_map = {n.Name: n for n in new or ()}
    diffs = [differ(obj, new_map.get(name)) for name, obj in old_map.items()]
    diffs += [differ(None, obj) for name, obj in new_map.items() if name not in old_map]
    diffs.sort(key=lambda d: d.Name)
    return diffs


def _task_group_diff(old: Optional[TaskGroup], new: Optional[TaskGroup], contextual: bool) -> TaskGroupDiff:
    type_ = _diff_type_for(old, new)
    either = new if new is not None else old
    assert either is not None  # _by_name_diffs always passes one side
    name = either.Name or ""
    fields = _field_diffs(_flatten_struct(old, _GROUP_SKIP), _flatten_struct(new, _GROUP_SKIP), False)

    o = old if old is not None else TaskGroup()
    n = new if new is not None else TaskGroup()
    objects: list[ObjectDiff] = []
    objects += _primitive_object_set_diff(o.Constraints, n.Constraints, "Constraint", contextual)
    for d in (_primitive_object_diff(o.RestartPolicy, n.RestartPolicy, (), "RestartPolicy", contextual),
              _primitive_object_diff(o.EphemeralDisk, n.EphemeralDisk, (), "EphemeralDisk", contextual),
              # Stagger moved to the job-level update block; Nomad leaves it out here.
              _primitive_object_diff(o.Update, n.Update, ("Stagger",), "Update", contextual)):
        if d is not None:
            objects.append(d)
    tasks = _by_name_diffs(o.Tasks, n.Tasks, lambda a, b: _task_diff(a, b, contextual))
    return TaskGroupDiff(Type=type_, Name=name, Fields=_none_if_empty(fields),
                         Objects=_none_if_empty(objects), Tasks=_none_if_empty(tasks))


def job_diff(old: Optional[Job], new: Optional[Job], contextual: bool) -> JobDiff:
    """Nomad's ``Job.Diff``: what changes from ``old`` to ``new``.

    ``contextual`` lists unchanged fields (type ``None``) inside changed nested objects;
    the plan and versions endpoints use it. Job, group and task fields themselves are
    only listed when they change. Raises ValueError for jobs with different IDs.
    """
    if old is None:
        if new is None:
            return JobDiff(Type=DIFF_NONE)
        type_, job_id = DIFF_ADDED, new.ID or ""
    elif new is None:
        type_, job_id = DIFF_DELETED, old.ID or ""
    else:
        if (old.ID or "") != (new.ID or ""):
            raise ValueError(f"can not diff jobs with different IDs: "
                             f"{quote(old.ID or '')} and {quote(new.ID or '')}")
        type_, job_id = DIFF_NONE, new.ID or ""

    fields = _field_diffs(_flatten_struct(old, _JOB_SKIP), _flatten_struct(new, _JOB_SKIP), False)

    o = old if old is not None else Job()
    n = new if new is not None else Job()
    objects: list[ObjectDiff] = []
    datacenters = _string_set_diff(o.Datacenters, n.Datacenters, "Datacenters", contextual)
    if datacenters is not None and datacenters.Type != DIFF_NONE:
        objects.append(datacenters)
    objects += _primitive_object_set_diff(o.Constraints, n.Constraints, "Constraint", contextual)
    groups = _by_name_diffs(o.TaskGroups, n.TaskGroups, lambda a, b: _task_group_diff(a, b, contextual))
    periodic = _primitive_object_diff(o.Periodic, n.Periodic, (), "Periodic", contextual)
    if periodic is not None:
        objects.append(periodic)
    parameterized = _parameterized_diff(o.ParameterizedJob, n.ParameterizedJob, contextual)
    if parameterized is not None:
        objects.append(parameterized)

    # The job's own type ignores the filtered bookkeeping fields, so it is derived
    # from what the diff lists rather than from a deep comparison.
    if type_ == DIFF_NONE and (any(f.Type != DIFF_NONE for f in fields)
                               or any(ob.Type != DIFF_NONE for ob in objects)
                               or any(g.Type != DIFF_NONE for g in groups)):
        type_ = DIFF_EDITED
    return JobDiff(Type=type_, ID=job_id, Fields=_none_if_empty(fields),
                   Objects=_none_if_empty(objects), TaskGroups=_none_if_empty(groups))


# --- annotations (scheduler/annotate.go) ---------------------------------------------------

_UPDATE_NAMES = (
    ("Ignore", UPDATE_TYPE_IGNORE),
    ("Place", UPDATE_TYPE_CREATE),
    ("Migrate", UPDATE_TYPE_MIGRATE),
    ("Stop", UPDATE_TYPE_DESTROY),
    ("Canary", UPDATE_TYPE_CANARY),
    ("InPlaceUpdate", UPDATE_TYPE_INPLACE_UPDATE),
    ("DestructiveUpdate", UPDATE_TYPE_DESTRUCTIVE_UPDATE),
)

# Task changes the scheduler can apply without replacing the allocation.
_INPLACE_FIELDS = frozenset({"KillTimeout"})
_INPLACE_OBJECTS = frozenset({"LogConfig", "Service", "Constraint"})


def annotate(diff: JobDiff, desired: Optional[Mapping[str, DesiredUpdates]]) -> JobDiff:
    """Nomad's ``scheduler.Annotate``: a copy of ``diff`` with the plan's per-group
    update counts (``Updates``), count-change and per-task update annotations."""
    if not diff.TaskGroups:
        return diff
    groups = [_annotate_group(g, desired) for g in diff.TaskGroups]
    return evolve(diff, TaskGroups=groups)


def _annotate_group(diff: TaskGroupDiff, desired: Optional[Mapping[str, DesiredUpdates]]) -> TaskGroupDiff:
    updates = diff.Updates
    if desired is not None and diff.Name in desired:
        counts = desired[diff.Name]
        merged = dict(updates or {})
        for attr, label in _UPDATE_NAMES:
            value = getattr(counts, attr)
            if value:
                merged[label] = value
        # Go's encoding/json prints map keys sorted; keep that order here. A group
        # with nothing to do still gets an (empty) map, as in Nomad.
        updates = dict(sorted(merged.items()))

    fields = diff.Fields
    if fields:
        fields = list(fields)
        for i, f in enumerate(fields):
            if f.Name == "Count":
                fields[i] = _annotate_count(f)
                break

    tasks = diff.Tasks
    if tasks:
        tasks = [_annotate_task(t, diff) for t in tasks]
    return evolve(diff, Updates=updates, Fields=fields, Tasks=tasks)


def _annotate_count(f: FieldDiff) -> FieldDiff:
    old = _atoi(f.Old)
    new = _atoi(f.New)
    if old < new:
        note = ANNOTATION_FORCES_CREATE
    elif new < old:
        note = ANNOTATION_FORCES_DESTROY
    else:
        return f
    return evolve(f, Annotations=[*(f.Annotations or ()), note])


def _atoi(text: str) -> int:
    if text == "":
        return 0
    try:
        return int(text)
    except ValueError:
        raise ValueError(num_error("Atoi", text, ERR_SYNTAX)) from None


def _annotate_task(diff: TaskDiff, parent: TaskGroupDiff) -> TaskDiff:
    if diff.Type == DIFF_NONE:
        return diff
    note = None
    if parent.Type in (DIFF_ADDED, DIFF_DELETED):
        if diff.Type == DIFF_ADDED:
            note = ANNOTATION_FORCES_CREATE
        elif diff.Type == DIFF_DELETED:
            note = ANNOTATION_FORCES_DESTROY
    if note is None:
        destructive = (any(f.Name not in _INPLACE_FIELDS for f in diff.Fields or ())
                       or any(o.Name not in _INPLACE_OBJECTS for o in diff.Objects or ()))
        note = ANNOTATION_FORCES_DESTRUCTIVE_UPDATE if destructive else ANNOTATION_FORCES_INPLACE_UPDATE
    return evolve(diff, Annotations=[*(diff.Annotations or ()), note])
