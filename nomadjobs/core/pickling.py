"""How the durable log writes the models: pickle, with each model written as the
function that rebuilds it and a tuple of its fields.

attrs' own pickling builds a dict per object in Python. The models are plain data
(no converters or validators), so a C getter reads an object's fields into a tuple,
and a function generated per class (stored on the class, so pickle finds it by name)
sets the slots of a new object on load. Both are cheaper than attrs' way, and
pickling the models is most of what the log and its snapshots cost.
"""

from __future__ import annotations

import io
import operator
import pickle
import threading
from typing import Any, Callable

import attrs

__all__ = ["dumps", "loads"]

_PROTOCOL = pickle.HIGHEST_PROTOCOL
_REBUILD_ATTR = "_nomadjobs_rebuild"
_DISPATCH: dict[type, Callable[[Any], Any]] = {}
_lock = threading.Lock()
_registered = threading.Event()


def _register(cls: type) -> None:
    names = [f.name for f in attrs.fields(cls)]
    env: dict[str, Any] = {"_new": object.__new__, "_cls": cls}
    lines = [f"def rebuild({', '.join(f'v{i}' for i in range(len(names)))}):", "    new = _new(_cls)"]
    for i, name in enumerate(names):
        env[f"_set{i}"] = cls.__dict__[name].__set__  # the slot itself: frozen is a __setattr__ rule
        lines.append(f"    _set{i}(new, v{i})")
    lines.append("    return new")
    exec("\n".join(lines), env)
    rebuild = env["rebuild"]
    rebuild.__module__, rebuild.__qualname__ = cls.__module__, f"{cls.__qualname__}.{_REBUILD_ATTR}"
    setattr(cls, _REBUILD_ATTR, rebuild)
    if len(names) == 1:
        one = operator.attrgetter(names[0])
        _DISPATCH[cls] = lambda obj: (rebuild, (one(obj),))
    elif names:
        getter = operator.attrgetter(*names)
        _DISPATCH[cls] = lambda obj: (rebuild, getter(obj))


def _ready() -> None:
    """Register every model and command once per process (writing and reading need it)."""
    if _registered.is_set():
        return
    from .. import fsm
    from .. import structs
    with _lock:
        if _registered.is_set():
            return
        found: dict[type, None] = {}
        for module in (structs, fsm):
            for value in vars(module).values():
                if isinstance(value, type) and attrs.has(value):
                    fields = attrs.fields(value)
                    if all(f.init and f.converter is None and f.validator is None and f.name in value.__dict__
                           for f in fields):
                        found[value] = None
        for cls in found:
            _register(cls)
        _registered.set()


def dumps(obj: Any) -> bytes:
    """``obj`` pickled, the models by their fields."""
    _ready()
    buffer = io.BytesIO()
    pickler = pickle.Pickler(buffer, protocol=_PROTOCOL)
    pickler.dispatch_table = _DISPATCH
    pickler.dump(obj)
    return buffer.getvalue()


def loads(blob: bytes) -> Any:
    """What :func:`dumps` wrote."""
    _ready()
    return pickle.loads(blob)
