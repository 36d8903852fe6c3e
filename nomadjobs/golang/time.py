"""Go's ``time``: ``Duration.String``, ``ParseDuration``, RFC 3339 with nanoseconds,
and ``LoadLocation``'s error texts."""

from __future__ import annotations

import zoneinfo
from datetime import datetime, timezone
from typing import Optional

__all__ = ["format_duration", "parse_duration", "rfc3339", "rfc3339_seconds", "rfc3339_ns", "load_location_error"]


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


_UNIT_NS = {b"ns": 1, b"us": 10**3, "µs".encode(): 10**3, "μs".encode(): 10**3, b"ms": 10**6,
            b"s": 10**9, b"m": 60 * 10**9, b"h": 3600 * 10**9}
_MAX_INT64 = (1 << 63) - 1
_DIGITS = b"0123456789"


def parse_duration(text: str) -> int:
    """Go 1.9's ``time.ParseDuration``: nanoseconds, or ValueError with Go's message.

    Integer arithmetic with Go's int64 overflow checks, over the UTF-8 bytes (units
    are compared as bytes, and ``µs``/``μs`` are two of them)."""
    s = text.encode("utf-8", "surrogatepass")
    invalid = f"time: invalid duration {text}"
    neg = False
    if s[:1] in (b"-", b"+"):
        neg = s[:1] == b"-"
        s = s[1:]
    if s == b"0":
        return 0
    if not s:
        raise ValueError(invalid)
    d = 0
    while s:
        if not (s[0] == 0x2E or 0x30 <= s[0] <= 0x39):  # the next byte must be [0-9.]
            raise ValueError(invalid)
        before = len(s)
        v, s = _leading_int(s, invalid)
        pre = len(s) != before
        f, scale, post = 0, 1.0, False
        if s[:1] == b".":
            s = s[1:]
            before = len(s)
            f, scale, s = _leading_fraction(s)
            post = len(s) != before
        if not pre and not post:
            raise ValueError(invalid)
        i = 0
        while i < len(s) and not (s[i] == 0x2E or 0x30 <= s[i] <= 0x39):
            i += 1
        if i == 0:
            raise ValueError(f"time: missing unit in duration {text}")
        unit_text, s = s[:i], s[i:]
        unit = _UNIT_NS.get(unit_text)
        if unit is None:
            name = unit_text.decode("utf-8", "surrogateescape")
            raise ValueError(f"time: unknown unit {name} in duration {text}")
        if v > _MAX_INT64 // unit:
            raise ValueError(invalid)
        v *= unit
        if f > 0:
            v += int(float(f) * (float(unit) / scale))  # Go: int64(float64), truncating
            if v > _MAX_INT64:
                raise ValueError(invalid)
        d += v
        if d > _MAX_INT64:
            raise ValueError(invalid)
    return -d if neg else d


def _leading_int(s: bytes, invalid: str) -> tuple[int, bytes]:
    x = 0
    i = 0
    while i < len(s) and 0x30 <= s[i] <= 0x39:
        if x > _MAX_INT64 // 10:
            raise ValueError(invalid)
        x = x * 10 + s[i] - 0x30
        if x > _MAX_INT64:
            raise ValueError(invalid)
        i += 1
    return x, s[i:]


def _leading_fraction(s: bytes) -> tuple[int, float, bytes]:
    # Digits past int64's precision are consumed and ignored.
    x, scale, overflow = 0, 1.0, False
    i = 0
    while i < len(s) and 0x30 <= s[i] <= 0x39:
        if not overflow:
            if x > _MAX_INT64 // 10:
                overflow = True
            else:
                y = x * 10 + s[i] - 0x30
                if y > _MAX_INT64:
                    overflow = True
                else:
                    x = y
                    scale *= 10
        i += 1
    return x, scale, s[i:]


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


def rfc3339_seconds(text: str) -> int:
    """Unix seconds of a UTC time written by :func:`rfc3339` (Go's zero time: 0)."""
    if text == "0001-01-01T00:00:00Z":
        return 0
    return int(datetime.strptime(text[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc).timestamp())


def rfc3339_ns(text: str) -> int:
    """Unix nanoseconds of a UTC time written by :func:`rfc3339` (its inverse)."""
    seconds = rfc3339_seconds(text)
    if not seconds:
        return 0
    fraction = text[19:].rstrip("Z").lstrip(".")
    return seconds * 10**9 + (int(fraction.ljust(9, "0")[:9]) if fraction else 0)


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
