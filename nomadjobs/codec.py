"""The one converter between the models and Nomad's wire JSON.

Nomad decodes request bodies with Go's ``encoding/json`` and prints responses with
its struct field order. This module reproduces what a client can observe of both:

* output keys are the attribute names (which are the wire names), in declaration
  order; ``None`` prints as ``null``; ``bytes`` print as base64; fields marked
  ``input_only`` are never printed;
* input keys match case-insensitively (an exact match wins), unknown keys are
  ignored, ``null`` leaves a field at its default, numbers inside free-form maps
  (task ``Config``) become floats as Go's ``interface{}`` does, and a wrongly typed
  value fails with Go's message naming the struct and field.
"""

from __future__ import annotations

import base64
import binascii
import json
import operator
import threading
import typing
import weakref
from typing import Any, Mapping, Optional, TypeVar

import attrs
import cattrs
import orjson
from cattrs.gen import make_dict_unstructure_fn, override

from . import structs

T = TypeVar("T")

__all__ = ["DecodeError", "converter", "to_wire", "from_wire", "job_from_dict", "dumps", "loads", "decode_body"]


class DecodeError(ValueError):
    """A body Go's encoding/json would refuse; ``str()`` is Go's message."""


class _TypeMismatch(Exception):
    """Raised by leaf hooks; the enclosing class hook adds the struct and field."""

    def __init__(self, value: Any, go_type: str):
        super().__init__(value, go_type)
        self.value = value
        self.go_type = go_type


def _json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, str):
        return "string"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "null"


def _go_int_type(field_name: str) -> str:
    if field_name.endswith("Index") or field_name in ("Version", "JobVersion", "EnforcePriorVersion"):
        return "uint64"
    if field_name in ("SubmitTime", "Time", "CreateTime", "ModifyTime"):
        return "int64"
    return "int"


converter = cattrs.Converter(detailed_validation=False)


# --- leaf hooks: Go's strictness ------------------------------------------------------

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
        return value
    if isinstance(value, float) and value.is_integer():
        # Go refuses 3.0 for an int only when written as a float literal; JSON parsers
        # in Python already turned "3" into int, so a float here was written "3.0".
        raise _TypeMismatch(value, "int")
    raise _TypeMismatch(value, "int")


def _structure_float(value: Any, _: type) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    raise _TypeMismatch(value, "float64")


def _structure_bytes(value: Any, _: type) -> bytes:
    if not isinstance(value, str):
        raise _TypeMismatch(value, "[]uint8")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise DecodeError(f"illegal base64 data at input byte {_bad_b64_offset(value)}")


def _bad_b64_offset(text: str) -> int:
    alphabet = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=")
    for i, ch in enumerate(text):
        if ch not in alphabet:
            return i
    # Bad padding: Go points at the first "=" of a quantum that cannot end there.
    return text.index("=") if "=" in text else len(text)


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


# Hook factories: a function per type, whose element hooks are looked up on first use
# (not when it is made: the models refer to each other, ObjectDiff even to itself).

def _make_list_structure(cl: Any) -> Any:
    (item,) = typing.get_args(cl) or (Any,)
    of_class = attrs.has(item)
    resolved: list[tuple[Any, Any, Optional[type]]] = []

    def structure(value: Any, _: Any) -> Any:
        if not isinstance(value, list):
            raise _TypeMismatch(value, _go_type_name(cl))
        if not resolved:
            resolved.append(_value_hook(item))
        hook, typ, same = resolved[0]
        if same is not None and all(v.__class__ is same for v in value):
            return list(value)
        if of_class:  # a null element is a zero struct
            return [hook(v if v is not None else {}, typ) for v in value]
        return [None if v is None else hook(v, typ) for v in value]

    return structure


def _make_dict_structure(cl: Any) -> Any:
    args = typing.get_args(cl)
    val_type = args[1] if len(args) == 2 else Any
    resolved: list[tuple[Any, Any, Optional[type]]] = []

    def structure(value: Any, _: Any) -> Any:
        if not isinstance(value, dict):
            raise _TypeMismatch(value, _go_type_name(cl))
        if val_type is Any:
            return {k: _go_interface(v) for k, v in value.items()}
        if not resolved:
            resolved.append(_value_hook(val_type))
        hook, typ, same = resolved[0]
        if same is not None and all(v.__class__ is same for v in value.values()):
            return dict(value)
        return {k: (hook(v, typ) if v is not None else None) for k, v in value.items()}

    return structure


def _is_list(cl: Any) -> bool:
    return typing.get_origin(cl) is list


def _is_dict(cl: Any) -> bool:
    return typing.get_origin(cl) is dict


converter.register_structure_hook_factory(_is_list, _make_list_structure)
converter.register_structure_hook_factory(_is_dict, _make_dict_structure)


def _go_type_name(cl: Any) -> str:
    origin = typing.get_origin(cl)
    if origin is typing.Union:
        args = [a for a in typing.get_args(cl) if a is not type(None)]
        return _go_type_name(args[0]) if args else "interface {}"
    if origin is list:
        (item,) = typing.get_args(cl) or (Any,)
        return "[]" + ("*" + _go_type_name(item) if attrs.has(item) else _go_type_name(item))
    if origin is dict:
        k, v = typing.get_args(cl) or (str, Any)
        return f"map[{_go_type_name(k)}]{_go_type_name(v)}"
    if cl is str:
        return "string"
    if cl is bool:
        return "bool"
    if cl is int:
        return "int"
    if cl is float:
        return "float64"
    if cl is bytes:
        return "[]uint8"
    if cl is Any:
        return "interface {}"
    if attrs.has(cl):
        return "api." + cl.__name__
    return getattr(cl, "__name__", str(cl))


# --- attrs classes: case-insensitive keys, null = unset, errors with context ----------

def _make_class_structure(cl: type) -> Any:
    fields = attrs.fields(cl)
    # name -> [name, hook, type, passthrough type] by the exact name and by the
    # lower-cased one; the hooks are filled in on first use (see _make_list_structure).
    exact: dict[str, list[Any]] = {f.name: [f.name, None, None, None] for f in fields}
    folded = {name.lower(): entry for name, entry in exact.items()}
    resolved = False

    def resolve() -> None:
        nonlocal resolved
        hints = typing.get_type_hints(cl)
        for name, entry in exact.items():
            entry[1:] = _value_hook(hints[name])
        resolved = True

    def structure(value: Any, _: type) -> Any:
        if not isinstance(value, dict):
            raise _TypeMismatch(value, "api." + cl.__name__)
        if not resolved:
            resolve()
        kwargs: dict[str, Any] = {}
        for key, item in value.items():
            if item is None:
                continue
            entry = exact.get(key)
            if entry is None:
                if not isinstance(key, str):
                    continue
                entry = folded.get(key.lower())
                if entry is None:
                    continue
            name, hook, typ, same = entry
            if item.__class__ is same:  # what the leaf hook would return
                kwargs[name] = item
                continue
            try:
                kwargs[name] = hook(item, typ)
            except _TypeMismatch as exc:
                go_type = exc.go_type
                if go_type == "int":
                    go_type = _go_int_type(name)
                detail = f"number {item}" if isinstance(exc.value, float) and go_type in ("int", "uint64", "int64") else _json_kind(exc.value)
                if exc.value is not item:
                    detail = _json_kind(exc.value)
                raise DecodeError(
                    f"json: cannot unmarshal {detail} into Go struct field {cl.__name__}.{name} of type {go_type}"
                ) from None
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


# --- public helpers --------------------------------------------------------------------

def to_wire(obj: Any) -> Any:
    """Model (or list/dict of models) -> plain JSON-able data in Nomad's shape."""
    return converter.unstructure(obj)


def from_wire(data: Any, cl: type[T]) -> T:
    """Plain data -> model, with Go's decoding rules. Raises DecodeError."""
    try:
        return converter.structure(data, cl)
    except _TypeMismatch as exc:
        raise DecodeError(f"json: cannot unmarshal {_json_kind(exc.value)} into Go value of type {exc.go_type}") from None


def job_from_dict(data: Mapping[str, Any]) -> structs.Job:
    """A :class:`~nomadjobs.structs.Job` from Nomad's API JSON: the job object itself,
    or a register body ``{"Job": {...}}`` (what python-nomad and ``nomad run -output``
    produce). Keys match case-insensitively and durations are nanoseconds, as in
    Nomad's HTTP API. Raises :class:`DecodeError` on wrong types."""
    body = data["Job"] if isinstance(data.get("Job"), Mapping) else data
    return from_wire(dict(body), structs.Job)


def loads(body: bytes | str) -> Any:
    """Parse a request body like Go's decoder would (its messages for the common cases)."""
    if isinstance(body, str):
        body = body.encode()
    if not body.strip():
        raise DecodeError("EOF")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise DecodeError(_go_syntax_message(body, exc)) from None


def _go_syntax_message(body: bytes, exc: orjson.JSONDecodeError) -> str:
    # Go reports a document that ends early as "unexpected EOF" and anything else as
    # "invalid character 'x' ..."; the stdlib parser tells us where it stopped.
    try:
        json.loads(body)
    except json.JSONDecodeError as err:
        if err.pos >= len(body.rstrip()):
            return "unexpected EOF"
        ch = body.decode("utf-8", "replace")[err.pos]
        if "Extra data" in err.msg:
            return f"invalid character '{ch}' after top-level value"
        if "Expecting property name" in err.msg:
            return f"invalid character '{ch}' looking for beginning of object key string"
        if "Expecting ',' delimiter" in err.msg:
            return f"invalid character '{ch}' after object key:value pair"
        return f"invalid character '{ch}' looking for beginning of value"
    except ValueError:
        pass
    return str(exc)


def decode_body(body: bytes | str, cl: type[T]) -> T:
    """A request body -> request model. An empty body is Go's ``EOF``."""
    data = loads(body)
    if data is None:
        return cl()
    return from_wire(data, cl)


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
