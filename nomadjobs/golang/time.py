"""Go's ``time``: ``Duration.String``, ``ParseDuration``, RFC 3339 with nanoseconds,
and ``LoadLocation``'s error texts."""

from __future__ import annotations

import re
import zoneinfo
from datetime import datetime, timezone
from typing import Optional

__all__ = ["format_duration", "parse_duration", "rfc3339", "load_location_error"]


def format_duration(ns: int) -> str:
    """Go's ``time.Duration.String()``: ``5m0s``, ``1.5s``, ``250ms``, ``0s``."""
    if ns == 0:
        return "0s"
    neg = ns < 0
    u = -ns if neg else ns
    if u < 10**9:
        # Sub-second: the largest unit that keeps the integer part non-zero.
        for unit, size, prec in (("ms", 10**6, 6), ("µs", 10**3, 3), ("ns", 1, 0)):
            if u >= size:
                text = _frac(u, size, prec) + unit
                break
    else:
        hours, rest = divmod(u, 3600 * 10**9)
        minutes, rest = divmod(rest, 60 * 10**9)
        secs = _frac(rest, 10**9, 9) + "s"
        if hours:
            text = f"{hours}h{minutes}m{secs}"
        elif minutes:
            text = f"{minutes}m{secs}"
        else:
            text = secs
    return "-" + text if neg else text


def _frac(value: int, size: int, prec: int) -> str:
    whole, frac = divmod(value, size)
    if not frac or prec == 0:
        return str(whole)
    digits = str(frac).rjust(prec, "0").rstrip("0")
    return f"{whole}.{digits}"


_DURATION_RE = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_UNIT_NS = {"ns": 1, "us": 10**3, "µs": 10**3, "μs": 10**3, "ms": 10**6, "s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9}


def parse_duration(text: str) -> int:
    """Go's ``time.ParseDuration``; raises ValueError like Go returns an error."""
    s = text
    if not s:
        raise ValueError(f'time: invalid duration "{text}"')
    sign = 1
    if s[0] in "+-":
        sign = -1 if s[0] == "-" else 1
        s = s[1:]
    if s == "0":
        return 0
    if not s:
        raise ValueError(f'time: invalid duration "{text}"')
    total = 0.0
    pos = 0
    while pos < len(s):
        m = _DURATION_RE.match(s, pos)
        if not m:
            raise ValueError(f'time: invalid duration "{text}"')
        total += float(m.group(1)) * _UNIT_NS[m.group(2)]
        pos = m.end()
    return sign * int(round(total))


def rfc3339(ns: int) -> str:
    """``time.RFC3339Nano`` of a UTC time given in unix nanoseconds, trailing zeros
    dropped; 0 is Go's zero time."""
    if ns == 0:
        return "0001-01-01T00:00:00Z"
    secs, frac = divmod(ns, 10**9)
    base = datetime.fromtimestamp(secs, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    if frac:
        base += "." + str(frac).rjust(9, "0").rstrip("0")
    return base + "Z"


def load_location_error(name: str) -> Optional[str]:
    """``time.LoadLocation``'s error text for a zone name, or None."""
    if name in ("", "UTC", "Local"):
        return None
    if ".." in name or name.startswith("/") or name.startswith("\\"):
        return "time: invalid location name"
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        return f"unknown time zone {name}"
    return None
