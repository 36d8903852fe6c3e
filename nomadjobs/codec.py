"""The one converter between the models and Nomad's wire JSON.

Nomad decodes request bodies with Go's ``encoding/json`` and prints responses with
its struct field order. This module reproduces what a client can observe of both:

* output keys are the attribute names (which are the wire names), in declaration
  order; ``None`` prints as ``null``; ``bytes`` print as base64; fields marked
  ``input_only`` are never printed;
* input is decoded as Nomad v0.7.1 (Go 1.9) decodes it, into the Go types of its
  ``api`` and ``structs`` packages (:data:`_GO_STRUCTS`): only the first JSON value
  of a body is read; keys match a field exactly or else case-insensitively; a key
  given twice decodes twice, in order; unknown keys are ignored; ``null`` clears a
  pointer, slice or map and leaves anything else alone; strings with invalid UTF-8
  or lone surrogates get U+FFFD; numbers inside free-form maps (task ``Config``)
  become floats as Go's ``interface{}`` does; and a wrongly typed value fails with
  Go's message, naming the struct, field and Go type as Go 1.9 does.

Two paths give the same answers. The fast one parses with orjson and builds the
models with cattrs hooks; it hands over to the exact one (:mod:`nomadjobs.golang.json`,
a port of Go's scanner and decoder) whenever the input might be read differently by
Go -- orjson refuses it, a key appears twice, a ``-0`` (orjson reads 0), a key Go
would fold that Python does not -- and for every error, so that each message is Go's.
"""

from __future__ import annotations

import base64
import json
import operator
import re
import sys
import threading
import typing
import weakref
from typing import Any, Mapping, Optional, TypeVar

import attrs
import cattrs
import orjson
from cattrs.gen import make_dict_unstructure_fn, override

from . import structs
from .golang import json as gojson

T = TypeVar("T")

__all__ = ["DecodeError", "converter", "to_wire", "from_wire", "job_from_dict", "dumps", "loads", "decode_body"]


class DecodeError(ValueError):
    """A body Go's encoding/json would refuse; ``str()`` is Go's message."""


class _TypeMismatch(Exception):
    """Raised by the fast path's leaf hooks; the exact path then finds Go's message."""

    def __init__(self, value: Any, go_type: str):
        super().__init__(value, go_type)
        self.value = value
        self.go_type = go_type


class _NeedsGo(Exception):
    """The fast path cannot be sure to read this input as Go does: use the exact path."""


_INT64_MAX = (1 << 63) - 1


def _go_int_type(field_name: str) -> str:
    """The Go integer type of a field of a model outside :data:`_GO_STRUCTS` (responses)."""
    if field_name.endswith("Index") or field_name in ("Version", "JobVersion", "EnforcePriorVersion"):
        return "uint64"
    if field_name in ("SubmitTime", "Time", "CreateTime", "ModifyTime"):
        return "int64"
    return "int"


# --- Go's types of the request bodies -----------------------------------------------------------

# Each struct Nomad v0.7.1 decodes a request body into, with its fields in declaration
# order (an embedded struct's promoted fields spelled out in its place) and each
# field's Go type: api/jobs.go, api/tasks.go, api/resources.go, api/constraint.go for
# the api package; nomad/structs/structs.go for the requests the HTTP handlers decode
# straight into nomad/structs types. A field the model lacks (SearchRequest's query
# options) is decoded, for its type errors, and dropped.
_WRITE_API = "Region string; Namespace string; SecretID string"  # api.WriteRequest
_WRITE_STRUCTS = "Region string; Namespace string; AuthToken string"  # structs.WriteRequest
_GO_STRUCTS: dict[str, str] = {
    "api.JobRegisterRequest": "Job *Job; EnforceIndex bool; JobModifyIndex uint64; PolicyOverride bool; "
                              + _WRITE_API,
    "api.JobPlanRequest": "Job *Job; Diff bool; PolicyOverride bool; " + _WRITE_API,
    "api.JobValidateRequest": "Job *Job; " + _WRITE_API,
    "api.Job": "Stop *bool; Region *string; Namespace *string; ID *string; ParentID *string; Name *string; "
               "Type *string; Priority *int; AllAtOnce *bool; Datacenters []string; Constraints []*Constraint; "
               "TaskGroups []*TaskGroup; Update *UpdateStrategy; Periodic *PeriodicConfig; "
               "ParameterizedJob *ParameterizedJobConfig; Payload []byte; Meta map[string]string; "
               "VaultToken *string; Status *string; StatusDescription *string; Stable *bool; Version *uint64; "
               "SubmitTime *int64; CreateIndex *uint64; ModifyIndex *uint64; JobModifyIndex *uint64",
    "api.UpdateStrategy": "Stagger *time.Duration; MaxParallel *int; HealthCheck *string; "
                          "MinHealthyTime *time.Duration; HealthyDeadline *time.Duration; AutoRevert *bool; "
                          "Canary *int",
    "api.PeriodicConfig": "Enabled *bool; Spec *string; SpecType *string; ProhibitOverlap *bool; TimeZone *string",
    "api.ParameterizedJobConfig": "Payload string; MetaRequired []string; MetaOptional []string",
    "api.Constraint": "LTarget string; RTarget string; Operand string",
    "api.TaskGroup": "Name *string; Count *int; Constraints []*Constraint; Tasks []*Task; "
                     "RestartPolicy *RestartPolicy; EphemeralDisk *EphemeralDisk; Update *UpdateStrategy; "
                     "Meta map[string]string",
    "api.RestartPolicy": "Interval *time.Duration; Attempts *int; Delay *time.Duration; Mode *string",
    "api.EphemeralDisk": "Sticky *bool; Migrate *bool; SizeMB *int",
    "api.Task": "Name string; Driver string; User string; Config map[string]interface{}; "
                "Constraints []*Constraint; Env map[string]string; Services []*Service; Resources *Resources; "
                "Meta map[string]string; KillTimeout *time.Duration; LogConfig *LogConfig; "
                "Artifacts []*TaskArtifact; Vault *Vault; Templates []*Template; "
                "DispatchPayload *DispatchPayloadConfig; Leader bool; ShutdownDelay time.Duration; KillSignal string",
    "api.Service": "Id string; Name string; Tags []string; PortLabel string; AddressMode string; "
                   "Checks []ServiceCheck; CheckRestart *CheckRestart",
    "api.ServiceCheck": "Id string; Name string; Type string; Command string; Args []string; Path string; "
                        "Protocol string; PortLabel string; AddressMode string; Interval time.Duration; "
                        "Timeout time.Duration; InitialStatus string; TLSSkipVerify bool; "
                        "Header map[string][]string; Method string; CheckRestart *CheckRestart",
    "api.CheckRestart": "Limit int; Grace *time.Duration; IgnoreWarnings bool",
    "api.Resources": "CPU *int; MemoryMB *int; DiskMB *int; IOPS *int; Networks []*NetworkResource",
    "api.NetworkResource": "Device string; CIDR string; IP string; MBits *int; ReservedPorts []Port; "
                           "DynamicPorts []Port",
    "api.Port": "Label string; Value int",
    "api.LogConfig": "MaxFiles *int; MaxFileSizeMB *int",
    "api.TaskArtifact": "GetterSource *string; GetterOptions map[string]string; GetterMode *string; "
                        "RelativeDest *string",
    "api.Template": "SourcePath *string; DestPath *string; EmbeddedTmpl *string; ChangeMode *string; "
                    "ChangeSignal *string; Splay *time.Duration; Perms *string; LeftDelim *string; "
                    "RightDelim *string; Envvars *bool; VaultGrace *time.Duration",
    "api.Vault": "Policies []string; Env *bool; ChangeMode *string; ChangeSignal *string",
    "api.DispatchPayloadConfig": "File string",
    "structs.JobDispatchRequest": "JobID string; Payload []byte; Meta map[string]string; " + _WRITE_STRUCTS,
    "structs.JobRevertRequest": "JobID string; JobVersion uint64; EnforcePriorVersion *uint64; " + _WRITE_STRUCTS,
    "structs.JobStabilityRequest": "JobID string; JobVersion uint64; Stable bool; " + _WRITE_STRUCTS,
    "structs.DeploymentPauseRequest": "DeploymentID string; Pause bool; " + _WRITE_STRUCTS,
    "structs.DeploymentPromoteRequest": "DeploymentID string; All bool; Groups []string; " + _WRITE_STRUCTS,
    "structs.DeploymentAllocHealthRequest": "DeploymentID string; HealthyAllocationIDs []string; "
                                            "UnhealthyAllocationIDs []string; " + _WRITE_STRUCTS,
    # Embeds QueryOptions, whose own Prefix is hidden by SearchRequest's (Go's dominant field).
    "structs.SearchRequest": "Prefix string; Context Context; Region string; Namespace string; "
                             "MinQueryIndex uint64; MaxQueryTime time.Duration; AllowStale bool; AuthToken string",
}

_STRING_T = gojson.GoType(gojson.STRING, "string")
_INT_T = gojson.GoType(gojson.INT, "int")
_INTERFACE_T = gojson.GoType(gojson.INTERFACE, "interface {}")
_GO_NAMED: dict[str, gojson.GoType] = {
    "string": _STRING_T,
    "bool": gojson.GoType(gojson.BOOL, "bool"),
    "int": _INT_T,
    "int64": gojson.GoType(gojson.INT, "int64"),
    "uint64": gojson.GoType(gojson.UINT, "uint64"),
    "byte": gojson.GoType(gojson.UINT, "uint8", bits=8),
    "float64": gojson.FLOAT64,
    "interface{}": _INTERFACE_T,
    "time.Duration": gojson.GoType(gojson.INT, "time.Duration"),
    "structs.Context": gojson.GoType(gojson.STRING, "structs.Context"),
}
_GO_STRUCT_TYPES: dict[str, gojson.GoType] = {}
_MODEL_GO_NAMES = {getattr(structs, name.split(".")[1]): name for name in _GO_STRUCTS}
_MODEL_TYPES: dict[Any, gojson.GoType] = {}


def _ptr(t: gojson.GoType) -> gojson.GoType:
    return gojson.GoType(gojson.PTR, "*" + t.name, t)


def _parse_go_type(expr: str, package: str) -> gojson.GoType:
    if expr.startswith("*"):
        return _ptr(_parse_go_type(expr[1:], package))
    if expr.startswith("[]"):
        elem = _parse_go_type(expr[2:], package)
        return gojson.GoType(gojson.SLICE, "[]" + elem.name, elem)
    if expr.startswith("map[string]"):
        elem = _parse_go_type(expr[11:], package)
        return gojson.GoType(gojson.MAP, "map[string]" + elem.name, elem)
    named = _GO_NAMED.get(expr) or _GO_NAMED.get(f"{package}.{expr}")
    if named is not None:
        return named
    return _go_struct(f"{package}.{expr}")


def _go_struct(qualified: str) -> gojson.GoType:
    """The Go struct ``qualified`` ("api.Job") of :data:`_GO_STRUCTS`, whose model is
    the class of the same name in :mod:`nomadjobs.structs`."""
    t = _GO_STRUCT_TYPES.get(qualified)
    if t is None:
        package, name = qualified.split(".")
        model = getattr(structs, name)

        def fields() -> list[gojson.GoField]:
            attrs_names = {f.name for f in attrs.fields(model)}
            out = []
            for part in _GO_STRUCTS[qualified].split(";"):
                field_name, expr = part.split()
                field_name = sys.intern(field_name)  # as the keys orjson makes: found by identity
                out.append(gojson.GoField(field_name, _parse_go_type(expr, package),
                                          field_name if field_name in attrs_names else None))
            return out

        t = _GO_STRUCT_TYPES[qualified] = gojson.GoType(gojson.STRUCT, qualified, struct_name=name, fields=fields,
                                                          model=model)
    return t


def _go_type_of_model(cl: Any) -> gojson.GoType:
    """The Go struct a model is decoded as: its :data:`_GO_STRUCTS` entry, or for the
    other models (responses, read back from dumps and tests) one made from its
    annotations (an ``Optional`` is a pointer; integers by :func:`_go_int_type`)."""
    t = _MODEL_TYPES.get(cl)
    if t is None:
        name = _MODEL_GO_NAMES.get(cl)
        if name is not None:
            t = _go_struct(name)
        else:
            def fields() -> list[gojson.GoField]:
                hints = typing.get_type_hints(cl)
                return [gojson.GoField(f.name, _go_type_of_hint(hints[f.name], f.name), f.name)
                        for f in attrs.fields(cl)]

            t = gojson.GoType(gojson.STRUCT, "api." + cl.__name__, struct_name=cl.__name__, fields=fields, model=cl)
        _MODEL_TYPES[cl] = t
    return t


def _go_type_of_hint(hint: Any, field_name: str = "") -> gojson.GoType:
    origin = typing.get_origin(hint)
    if origin is typing.Union:
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        inner = _go_type_of_hint(args[0], field_name) if args else _INTERFACE_T
        if inner.kind in (gojson.SLICE, gojson.MAP, gojson.INTERFACE):
            return inner  # already nil-able
        return _ptr(inner)
    if origin is list:
        item = (typing.get_args(hint) or (Any,))[0]
        elem = _go_type_of_hint(item)
        if attrs.has(item):
            elem = _ptr(elem)
        return gojson.GoType(gojson.SLICE, "[]" + elem.name, elem)
    if origin is dict:
        key_value = typing.get_args(hint)
        elem = _go_type_of_hint(key_value[1]) if len(key_value) == 2 else _INTERFACE_T
        return gojson.GoType(gojson.MAP, "map[string]" + elem.name, elem)
    if hint is int:
        return _GO_NAMED[_go_int_type(field_name)]
    if hint is bytes:
        return _parse_go_type("[]byte", "api")
    if attrs.has(hint):
        return _go_type_of_model(hint)
    return {str: _STRING_T, bool: _GO_NAMED["bool"], float: gojson.FLOAT64}.get(hint, _INTERFACE_T)


def _go_to_model(value: Any, t: gojson.GoType) -> Any:
    """A value decoded by :func:`gojson.unmarshal` as the models hold it. A nil
    element of a slice of struct pointers becomes a zero struct."""
    k = t.kind
    if k == gojson.PTR:
        assert t.elem is not None
        return None if value is None or value is gojson.UNSET else _go_to_model(value, t.elem)
    if k == gojson.STRUCT:
        fields = value if value.__class__ is dict else {}
        kwargs = {f.attr: _go_to_model(fields[f.name], f.type)
                  for f in t.fields if f.attr is not None and f.name in fields}
        return t.model(**kwargs)
    if k == gojson.SLICE:
        if value is None or value is gojson.UNSET:
            return None
        items = value.values()
        elem = t.elem
        assert elem is not None
        if t.is_bytes():
            return bytes(0 if v is gojson.UNSET else v for v in items)
        if elem.kind == gojson.PTR and elem.elem is not None and elem.elem.kind == gojson.STRUCT:
            return [_go_to_model(gojson.UNSET if v is None else v, elem.elem) for v in items]
        return [_go_to_model(v, elem) for v in items]
    if k == gojson.MAP:
        if value is None or value is gojson.UNSET:
            return None
        assert t.elem is not None
        return {key: _go_to_model(v, t.elem) for key, v in value.items()}
    return t.zero() if value is gojson.UNSET else value


def _decode_go(data: Any, cl: Any) -> Any:
    """The exact path: a value of :func:`gojson.decode` (or plain JSON data) decoded
    into ``cl`` as Go decodes it into the corresponding Go type."""
    t = _go_type_of_hint(cl)
    try:
        value = gojson.unmarshal(data, t)
    except gojson.UnmarshalError as exc:
        raise DecodeError(str(exc)) from None
    return _go_to_model(value, t)


def _decode_body_go(body: bytes, cl: Any) -> Any:
    try:
        data = gojson.decode(body)
    except gojson.JSONSyntaxError as exc:
        raise DecodeError(str(exc)) from None
    return _decode_go(data, cl)


# --- the fast path: cattrs hooks with Go's strictness ----------------------------------------

converter = cattrs.Converter(detailed_validation=False)


def _structure_str(value: Any, _: type) -> str:
    if isinstance(value, str):
        return value
    raise _TypeMismatch(value, "string")


def _structure_bool(value: Any, _: type) -> bool:
    if isinstance(value, bool):
        return value
    raise _TypeMismatch(value, "bool")


def _structure_int(value: Any, _: type) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        if not -(1 << 63) <= value <= _INT64_MAX:
            raise _NeedsGo  # Go's message names the literal
        return value
    raise _TypeMismatch(value, "int")


def _structure_float(value: Any, _: type) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    raise _TypeMismatch(value, "float64")


def _structure_bytes(value: Any, _: type) -> bytes:
    if not isinstance(value, str):
        raise _TypeMismatch(value, "[]uint8")
    data, bad = gojson.base64_decode(value.encode("utf-8", "surrogatepass"))
    if bad is not None:
        raise DecodeError(f"illegal base64 data at input byte {bad}")
    return data


def _go_interface(value: Any) -> Any:
    """Decode into interface{}: every JSON number is a float64."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, list):
        return [_go_interface(v) for v in value]
    if isinstance(value, dict):
        return {k: _go_interface(v) for k, v in value.items()}
    return value


def _structure_any(value: Any, _: type) -> Any:
    return _go_interface(value)


converter.register_structure_hook(str, _structure_str)
converter.register_structure_hook(bool, _structure_bool)
converter.register_structure_hook(int, _structure_int)
converter.register_structure_hook(float, _structure_float)
converter.register_structure_hook(bytes, _structure_bytes)
converter.register_structure_hook(Any, _structure_any)

# Leaf hooks that return a value of exactly this type unchanged.
_PASSTHROUGH: dict[Any, type] = {_structure_str: str, _structure_bool: bool, _structure_int: int,
                                 _structure_float: float}


def _value_hook(cl: Any) -> tuple[Any, Any, Optional[type]]:
    """``(hook, type, same)`` such that ``hook(value, type)`` is
    ``converter.structure(value, cl)`` for any value that is not None: the dispatch done
    once instead of per value, and an ``Optional[X]`` unwrapped to X as cattrs' optional
    hook does for a value. ``same`` is the type whose values the hook returns unchanged
    (an exact JSON str, int, bool or float), so callers may skip the call for them;
    None for any other hook."""
    hook = converter.get_structure_hook(cl)
    if hook == converter._structure_optional:
        args = cl.__args__
        cl = args[0] if args[1] is type(None) else args[1]
        hook = converter.get_structure_hook(cl)
    return hook, cl, _PASSTHROUGH.get(hook)


def _zero_of(cl: Any) -> Any:
    """What Go stores for a JSON null element of a slice or map of ``cl``: the zero
    value ("" for a string); None where Go's zero is nil."""
    return {str: "", int: 0, bool: False, float: 0.0}.get(cl)


# Hook factories: a function per type, whose element hooks are looked up on first use
# (not when it is made: the models refer to each other, ObjectDiff even to itself).

def _make_list_structure(cl: Any) -> Any:
    (item,) = typing.get_args(cl) or (Any,)
    of_class = attrs.has(item)
    zero = _zero_of(item)
    resolved: list[tuple[Any, Any, Optional[type]]] = []

    def structure(value: Any, _: Any) -> Any:
        if not isinstance(value, list):
            raise _TypeMismatch(value, _go_type_name(cl))
        if not resolved:
            resolved.append(_value_hook(item))
        hook, typ, same = resolved[0]
        if same is not None and same is not int and all(v.__class__ is same for v in value):
            return list(value)
        if of_class:  # a null element is a zero struct
            return [hook(v if v is not None else {}, typ) for v in value]
        return [zero if v is None else hook(v, typ) for v in value]

    return structure


def _make_dict_structure(cl: Any) -> Any:
    args = typing.get_args(cl)
    val_type = args[1] if len(args) == 2 else Any
    zero = _zero_of(val_type)
    resolved: list[tuple[Any, Any, Optional[type]]] = []

    def structure(value: Any, _: Any) -> Any:
        if not isinstance(value, dict):
            raise _TypeMismatch(value, _go_type_name(cl))
        if val_type is Any:
            return {k: _go_interface(v) for k, v in value.items()}
        if not resolved:
            resolved.append(_value_hook(val_type))
        hook, typ, same = resolved[0]
        if same is not None and same is not int and all(v.__class__ is same for v in value.values()):
            return dict(value)
        return {k: (hook(v, typ) if v is not None else zero) for k, v in value.items()}

    return structure


def _is_list(cl: Any) -> bool:
    return typing.get_origin(cl) is list


def _is_dict(cl: Any) -> bool:
    return typing.get_origin(cl) is dict


converter.register_structure_hook_factory(_is_list, _make_list_structure)
converter.register_structure_hook_factory(_is_dict, _make_dict_structure)


def _go_type_name(cl: Any) -> str:
    return _go_type_of_hint(cl).name


def _needs_go(value: Any, _: Any) -> Any:
    raise _NeedsGo


class _Never:
    """The class of no JSON value: an entry's passthrough type when it has none."""


def _int_hook(go_type: gojson.GoType) -> Any:
    """The fast path's hook for a Go integer field: Python ints in the type's range."""
    lo, hi = go_type.int_range()

    def structure(value: Any, _: Any) -> int:
        if value.__class__ is int and lo <= value <= hi:
            return value
        if isinstance(value, int) and not isinstance(value, bool):
            raise _NeedsGo  # out of range: Go's message names the literal
        raise _TypeMismatch(value, go_type.name)

    return structure


def _lowered_counts(value: dict[Any, Any]) -> dict[str, int]:
    """How many keys of an object each lower-cased key stands for: a field named by two
    keys (one spelled with other cases) is decoded twice by Go, in order."""
    counts: dict[str, int] = {}
    for key in value:
        if isinstance(key, str):
            lowered = key.lower()
            counts[lowered] = counts.get(lowered, 0) + 1
    return counts


def _make_class_structure(cl: type) -> Any:
    """The fast path for a model: keys to fields by the Go struct's names, exactly or
    case-insensitively; unknown keys skipped; null leaves the default. It gives up
    (:class:`_NeedsGo`) where Go's order-dependent rules could matter: a field named
    twice, a field the model lacks, a non-ASCII key Go might fold, an integer out of
    the Go type's range."""
    go_type = _go_type_of_model(cl)
    # JSON name -> (attribute, hook, type, passthrough type) by the exact and by the
    # lower-cased name; filled in on first use (see _make_list_structure).
    exact: dict[str, tuple[Any, Any, Any, Any]] = {}
    folded: dict[str, tuple[Any, Any, Any, Any]] = {}

    def resolve() -> None:
        # Filled aside, then published folded first: a thread that finds ``exact``
        # filled finds both complete.
        hints = typing.get_type_hints(cl)
        entries: dict[str, tuple[Any, Any, Any, Any]] = {}
        for f in go_type.fields:
            entry: tuple[Any, Any, Any, Any] = (None, _needs_go, None, _Never)
            if f.attr is not None:
                hook, typ, same = _value_hook(hints[f.attr])
                target = f.type
                while target.kind == gojson.PTR and target.elem is not None:
                    target = target.elem
                if same is int and target.kind == gojson.UINT:  # rare: checked by a call
                    hook, same = _int_hook(target), _Never
                entry = (f.attr, hook, typ, same)
            entries[f.name] = entry
        folded.update({name.lower(): entry for name, entry in entries.items()})
        exact.update(entries)

    def structure(value: Any, _: type) -> Any:
        if not isinstance(value, dict):
            raise _TypeMismatch(value, go_type.name)
        if not exact:
            resolve()
        kwargs: dict[str, Any] = {}
        counts = None  # of the lower-cased keys, made at the first key matched by folding
        for key, item in value.items():
            if item is None:  # Go leaves the field alone, or clears what is unset
                if key not in exact and isinstance(key, str) and key.lower() in folded:
                    if counts is None:
                        counts = _lowered_counts(value)
                    if counts[key.lower()] > 1:  # the field named twice: order matters
                        raise _NeedsGo
                continue
            entry = exact.get(key)
            if entry is None:
                if not isinstance(key, str):
                    continue
                lowered = key.lower()
                entry = folded.get(lowered)
                if entry is None:
                    if not key.isascii():  # Go folds "ſ" to "s" (and Python does not)
                        raise _NeedsGo
                    continue
                if counts is None:
                    counts = _lowered_counts(value)
                if counts[lowered] > 1:  # the field named twice: order matters
                    raise _NeedsGo
            name, hook, typ, same = entry
            # What the leaf hook would return (orjson's ints are >= -2**63; Go's ints
            # have 64 bits, uint64 fields have hooks of their own).
            if item.__class__ is same and (same is not int or item <= _INT64_MAX):
                kwargs[name] = item
                continue
            kwargs[name] = hook(item, typ)
        return cl(**kwargs)

    return structure


def _make_class_unstructure(cl: type) -> Any:
    overrides = {f.name: override(omit=True) for f in attrs.fields(cl) if f.metadata.get("input_only")}
    # Per-field overrides go in as keyword arguments named after the fields (cattrs'
    # documented form); its stub cannot tell them from its own keyword options.
    return make_dict_unstructure_fn(cl, converter, **overrides)  # type: ignore[arg-type]


converter.register_structure_hook_factory(attrs.has, _make_class_structure)
converter.register_unstructure_hook_factory(attrs.has, _make_class_unstructure)
converter.register_unstructure_hook(bytes, lambda b: base64.b64encode(b).decode("ascii"))

# Whatever the fast path raises when the exact path must answer.
_HAND_OVER = (_NeedsGo, _TypeMismatch, DecodeError, RecursionError, OverflowError)

# A colon written as a \\u escape (orjson's re-encoding writes it plainly); a -0 number.
_ESCAPED_COLON = re.compile(rb"\\u00(?:3[aA])")
_MINUS_ZERO = re.compile(rb"[:\[,][ \t\r\n]*-0(?![0-9.eE])")


def _read_otherwise_by_go(body: bytes, data: Any) -> bool:
    """Whether Go may read ``body`` otherwise than orjson read it (``data``): a key
    given twice (orjson keeps the last only; Go decodes each in turn), or ``-0``
    (orjson reads the integer 0; Go keeps the sign in ``interface{}`` and refuses it
    for unsigned fields). Keys are counted, not parsed: each has one colon, and
    orjson's re-encoding of ``data`` writes every colon of the keys and strings it
    kept as it was read -- unless the body wrote one as a ``\\u`` escape. So a
    dropped key leaves the re-encoding with fewer colons than the body."""
    try:
        if body.count(b":") != orjson.dumps(data).count(b":"):
            return True
    except orjson.JSONEncodeError:  # nested deeper than orjson writes (it reads deeper)
        return True
    if b"\\" in body and b"\\u00" in body and _ESCAPED_COLON.search(body):
        return True
    return b"-0" in body and _MINUS_ZERO.search(body) is not None


# --- public helpers --------------------------------------------------------------------

def to_wire(obj: Any) -> Any:
    """Model (or list/dict of models) -> plain JSON-able data in Nomad's shape."""
    return converter.unstructure(obj)


def from_wire(data: Any, cl: type[T]) -> T:
    """Plain data -> model, with Go's decoding rules. Raises DecodeError."""
    try:
        return converter.structure(data, cl)
    except _HAND_OVER:
        return typing.cast(T, _decode_go(data, cl))


def job_from_dict(data: Mapping[str, Any]) -> structs.Job:
    """A :class:`~nomadjobs.structs.Job` from Nomad's API JSON: the job object itself,
    or a register body ``{"Job": {...}}`` (what python-nomad and ``nomad run -output``
    produce). Keys match case-insensitively and durations are nanoseconds, as in
    Nomad's HTTP API. Raises :class:`DecodeError` on wrong types."""
    body = data["Job"] if isinstance(data.get("Job"), Mapping) else data
    return from_wire(dict(body), structs.Job)


def _plain_number(number: gojson.Number) -> Any:
    text = number.text
    if "." in text or "e" in text or "E" in text:
        return float(text)
    value = int(text)
    return value if -(1 << 63) <= value < (1 << 64) else float(text)


_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_BRACKET_STEP = bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff")


def json_depth(body: bytes, limit: int) -> int:
    """How deep ``body``'s arrays and objects nest, exactly once it may exceed ``limit``
    (below that, any number up to ``limit``). Brackets inside strings do not count.
    Byte-level passes in C, then one running sum over the brackets alone."""
    if body.count(b"[") + body.count(b"{") <= limit:
        return limit  # fewer openings than the limit: cannot nest deeper
    brackets = _JSON_STRING.sub(b"", body).translate(None, _NOT_BRACKETS).translate(_BRACKET_STEP)
    depth = deepest = 0
    for step in brackets:
        depth += 1 if step == 1 else -1
        if depth > deepest:
            deepest = depth
    return deepest


def loads(body: bytes | str) -> Any:
    """The first JSON value of a request body, as plain data (numbers as orjson gives
    them). What orjson refuses is read as Go's decoder reads it; what Go refuses is a
    :class:`DecodeError` with Go's message (an empty body is ``EOF``)."""
    if isinstance(body, str):
        body = body.encode("utf-8", "surrogatepass")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        pass
    try:
        return gojson.to_interface(gojson.decode(body), _plain_number)
    except gojson.JSONSyntaxError as exc:
        raise DecodeError(str(exc)) from None


def decode_body(body: bytes | str, cl: type[T], max_depth: Optional[int] = None) -> T:
    """A request body -> request model, as Nomad's ``decodeBody`` decodes it (the
    first JSON value; ``null`` is a zero request). Raises DecodeError with Go's
    message: ``EOF`` for an empty body. ``max_depth`` bounds the nesting of arrays
    and objects (``Limits.max_json_depth``; Go has no bound)."""
    if isinstance(body, str):
        body = body.encode("utf-8", "surrogatepass")
    if max_depth is not None and json_depth(body, max_depth) > max_depth:
        raise DecodeError(f"json: nesting deeper than {max_depth} levels; this server accepts at most "
                          f"{max_depth} (max_json_depth)")
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return typing.cast(T, _decode_body_go(body, cl))
    if data is None:
        return cl()
    if _read_otherwise_by_go(body, data):
        return typing.cast(T, _decode_body_go(body, cl))
    try:
        return converter.structure(data, cl)
    except _HAND_OVER:
        return typing.cast(T, _decode_body_go(body, cl))


_PRETTY_INDENT = 4


class IdentityCache:
    """A bounded cache keyed by object *identity*, for immutable (frozen, never
    mutated) objects that support weak references.

    An entry lives while its object does: a weak-reference callback drops it when
    the object is collected, so a recycled ``id()`` never sees a stale value, and a
    hit is confirmed by identity. Beyond ``maxsize`` entries the oldest go first.
    Safe to share between threads (plain dict operations under the GIL)."""

    __slots__ = ("_data", "maxsize", "__weakref__")

    def __init__(self, maxsize: int) -> None:
        self._data: dict[int, tuple[weakref.ref[Any], Any]] = {}
        self.maxsize = maxsize

    def get(self, obj: Any) -> Any:
        entry = self._data.get(id(obj))
        if entry is not None and entry[0]() is obj:
            return entry[1]
        return None

    def put(self, obj: Any, value: Any) -> None:
        key = id(obj)
        data = self._data
        this = weakref.ref(self)

        def drop(ref: weakref.ref[Any], key: int = key) -> None:
            cache = this()
            if cache is not None:
                entry = cache._data.get(key)
                if entry is not None and entry[0] is ref:
                    cache._data.pop(key, None)

        if len(data) >= self.maxsize:
            try:
                data.pop(next(iter(data)), None)
            except (StopIteration, RuntimeError):
                pass
        data[key] = (weakref.ref(obj, drop), value)

    def __len__(self) -> int:
        return len(self._data)

    def clear(self) -> None:
        self._data.clear()


# Stored rows are frozen and never mutated (every write stores a new object), so
# their compact JSON can be kept while the object lives. Only these types: other
# models may be built and changed on the way out.
_BYTES_CACHE = IdentityCache(32_768)
_CACHED_TYPES = frozenset({structs.Job, structs.JobSummary, structs.JobListStub})


def _cached_dumps(obj: Any) -> bytes:
    data: Optional[bytes] = _BYTES_CACHE.get(obj)
    if data is None:
        data = orjson.dumps(to_wire(obj))
        _BYTES_CACHE.put(obj, data)
    return data


class _ListBytesCache:
    """The compact JSON of recent lists of cached rows (e.g. job list stubs), kept
    with the very elements it was made from. A hit needs the same elements, by
    identity, in the same order: they are immutable, so the bytes are theirs.
    Bounded by entries and by bytes; oldest first out."""

    def __init__(self, max_entries: int, max_bytes: int) -> None:
        self._data: dict[tuple[int, int, int], tuple[tuple[Any, ...], bytes]] = {}
        self._lock = threading.Lock()
        self._bytes = 0
        self.max_entries = max_entries
        self.max_bytes = max_bytes

    @staticmethod
    def _key(items: list[Any]) -> tuple[int, int, int]:
        # The cached entry holds its elements, so these ids are not reused meanwhile.
        return len(items), id(items[0]), id(items[-1])

    def get(self, items: list[Any]) -> Optional[bytes]:
        hit = self._data.get(self._key(items))
        if hit is not None and all(map(operator.is_, items, hit[0])):
            return hit[1]
        return None

    def put(self, items: list[Any], data: bytes) -> None:
        if len(data) > self.max_bytes:
            return
        key = self._key(items)
        with self._lock:
            old = self._data.pop(key, None)
            if old is not None:
                self._bytes -= len(old[1])
            while self._data and (len(self._data) >= self.max_entries or self._bytes + len(data) > self.max_bytes):
                self._bytes -= len(self._data.pop(next(iter(self._data)))[1])
            self._data[key] = (tuple(items), data)
            self._bytes += len(data)


_LIST_BYTES_CACHE = _ListBytesCache(64, 64 << 20)


def _cached_list_dumps(items: list[Any]) -> Optional[bytes]:
    """Compact JSON of a list of one cached type, or None for any other list."""
    data = _LIST_BYTES_CACHE.get(items)
    if data is not None:
        return data
    first = type(items[0])
    if first not in _CACHED_TYPES or not all(type(x) is first for x in items):
        return None
    # Same bytes as orjson.dumps(to_wire(items)): compact JSON, elements joined by ",".
    data = b"[" + b",".join([_cached_dumps(x) for x in items]) + b"]"
    _LIST_BYTES_CACHE.put(items, data)
    return data


def cached_dumps(obj: Any) -> Optional[bytes]:
    """The compact JSON of ``obj`` from the caches above (the same bytes object while
    ``obj``, or each element of a list, is the same), or None when it is not cached."""
    cls = type(obj)
    if cls in _CACHED_TYPES:
        return _cached_dumps(obj)
    if cls is list and obj:
        return _cached_list_dumps(obj)
    return None


def dumps(obj: Any, pretty: bool = False) -> bytes:
    """Model -> response bytes. ``pretty`` indents by four spaces plus a newline, like Nomad."""
    if not pretty:
        data = cached_dumps(obj)
        if data is not None:
            return data
    data = to_wire(obj)
    if pretty:
        return (json.dumps(data, indent=_PRETTY_INDENT, ensure_ascii=False) + "\n").encode()
    return orjson.dumps(data)


def dumps_wire(data: Any, pretty: bool = False) -> bytes:
    """Already-unstructured data -> response bytes."""
    if pretty:
        return (json.dumps(data, indent=_PRETTY_INDENT, ensure_ascii=False) + "\n").encode()
    return orjson.dumps(data)


def optional(value: Optional[T], default: T) -> T:
    return default if value is None else value
