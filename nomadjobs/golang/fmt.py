"""Go's ``fmt`` verbs on the values Nomad prints: ``%v`` of scalars and of a
``[]string``, and ``%q`` of a value decoded into ``interface{}`` (strings quote with
:func:`~nomadjobs.golang.strconv.quote`, floats print with
:func:`~nomadjobs.golang.strconv.format_float`)."""

from __future__ import annotations

from typing import Iterable

from .strconv import format_float, quote

__all__ = ["format_v", "format_q", "format_slice"]


def format_v(value: object) -> str:
    """``fmt.Sprintf("%v", value)`` for a scalar: ``true``, ``50``, ``6379``, ``1e+06``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return format_float(value)
    if value is None:
        return "nil"
    return str(value)


def format_q(value: object) -> str:
    """``fmt.Sprintf("%q", v)`` for a value decoded into ``interface{}`` (JSON: string,
    bool, float64, nil, ``[]interface{}``, ``map[string]interface{}``)."""
    if isinstance(value, str):
        return quote(value)
    if isinstance(value, bool):
        return f"%!q(bool={'true' if value else 'false'})"
    if isinstance(value, (int, float)):
        return f"%!q(float64={format_float(float(value))})"
    if value is None:
        return "%!q(<nil>)"
    if isinstance(value, list):
        return "[" + " ".join(format_q(v) for v in value) + "]"
    if isinstance(value, dict):
        return "map[" + " ".join(f"{format_q(k)}:{format_q(value[k])}" for k in sorted(value)) + "]"
    return f"%!q({value!r})"


def format_slice(items: Iterable[object]) -> str:
    """``fmt.Sprintf("%v", []string{...})``: ``[a b c]``."""
    return "[" + " ".join(str(i) for i in items) + "]"
