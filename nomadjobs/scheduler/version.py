"""A small port of hashicorp/go-version, enough for the ``version`` constraint.

Versions look like ``v1.2.3-beta.1+meta``; constraints are comma-separated
``<op> <version>`` terms with ops ``= != > < >= <= ~>`` (all must hold).
"""

from __future__ import annotations

import re
from typing import Callable, Optional

_VERSION = (r"v?([0-9]+(\.[0-9]+)*?)"
            r"(-([0-9]+[0-9A-Za-z\-~]*(\.[0-9A-Za-z\-~]+)*)|(-?([A-Za-z\-~]+[0-9A-Za-z\-~]*(\.[0-9A-Za-z\-~]+)*)))?"
            r"(\+([0-9A-Za-z\-~]+(\.[0-9A-Za-z\-~]+)*))?"
            r"?")
_VERSION_RE = re.compile(r"^" + _VERSION + r"$")
# Same alternation order as go-version, so ">=" is found by backtracking past ">".
_OPS = ["", "=", "!=", ">", "<", ">=", "<=", "~>"]
_CONSTRAINT_RE = re.compile(r"^\s*(" + "|".join(re.escape(o) for o in _OPS) + r")\s*(" + _VERSION + r")\s*$")


class Version:
    __slots__ = ("segments", "si", "pre", "metadata", "original")

    def __init__(self, segments: list[int], si: int, pre: str, metadata: str, original: str) -> None:
        self.segments = segments
        self.si = si
        self.pre = pre
        self.metadata = metadata
        self.original = original

    def __str__(self) -> str:
        out = ".".join(str(s) for s in self.segments)
        if self.pre:
            out += "-" + self.pre
        if self.metadata:
            out += "+" + self.metadata
        return out

    def compare(self, other: "Version") -> int:
        if str(self) == str(other):
            return 0
        a, b = self.segments, other.segments
        if a == b:
            if not self.pre and not other.pre:
                return 0
            if not self.pre:
                return 1
            if not other.pre:
                return -1
            return _compare_prereleases(self.pre, other.pre)
        for i in range(max(len(a), len(b))):
            if i > len(a) - 1:
                return -1 if any(b[i:]) else 0
            if i > len(b) - 1:
                return 1 if any(a[i:]) else 0
            if a[i] != b[i]:
                return -1 if a[i] < b[i] else 1
        return 0


def parse_version(text: str) -> Optional[Version]:
    m = _VERSION_RE.match(text)
    if m is None:
        return None
    parts = m.group(1).split(".")
    try:
        segments = [int(p) for p in parts]
    except ValueError:
        return None
    si = len(segments)
    while len(segments) < 3:
        segments.append(0)
    pre = m.group(7) or m.group(4) or ""
    return Version(segments, si, pre, m.group(10) or "", text)


def _compare_part(a: str, b: str) -> int:
    if a == b:
        return 0
    a_num, b_num = _is_int(a), _is_int(b)
    if a == "":
        return -1 if b_num else 1
    if b == "":
        return 1 if a_num else -1
    if a_num and not b_num:
        return -1
    if not a_num and b_num:
        return 1
    if not a_num and not b_num:
        return 1 if a > b else -1
    return 1 if int(a) > int(b) else -1


def _is_int(s: str) -> bool:
    try:
        int(s)
    except ValueError:
        return False
    return True


def _compare_prereleases(a: str, b: str) -> int:
    if a == b:
        return 0
    ap, bp = a.split("."), b.split(".")
    for i in range(max(len(ap), len(bp))):
        c = _compare_part(ap[i] if i < len(ap) else "", bp[i] if i < len(bp) else "")
        if c:
            return c
    return 0


def _prerelease_ok(v: Version, c: Version) -> bool:
    if c.pre and v.pre:
        return v.segments == c.segments
    if not c.pre and v.pre:
        return False
    return True


def _pessimistic(v: Version, c: Version) -> bool:
    if not _prerelease_ok(v, c) or (c.pre and not v.pre):
        return False
    if v.compare(c) < 0:
        return False
    cs = len(c.segments)
    if cs > len(v.segments):
        return False
    for i in range(c.si - 1):
        if v.segments[i] != c.segments[i]:
            return False
    return c.segments[cs - 1] <= v.segments[cs - 1]


_CHECKS: dict[str, Callable[[Version, Version], bool]] = {
    "": lambda v, c: _prerelease_ok(v, c) and v.compare(c) == 0,
    "=": lambda v, c: _prerelease_ok(v, c) and v.compare(c) == 0,
    "!=": lambda v, c: v.compare(c) != 0,
    ">": lambda v, c: _prerelease_ok(v, c) and v.compare(c) > 0,
    "<": lambda v, c: _prerelease_ok(v, c) and v.compare(c) < 0,
    ">=": lambda v, c: _prerelease_ok(v, c) and v.compare(c) >= 0,
    "<=": lambda v, c: _prerelease_ok(v, c) and v.compare(c) <= 0,
    "~>": _pessimistic,
}


class Constraints:
    def __init__(self, terms: list[tuple[str, Version]]) -> None:
        self.terms = terms

    def check(self, v: Version) -> bool:
        return all(_CHECKS[op](v, c) for op, c in self.terms)


def parse_constraints(text: str) -> Optional[Constraints]:
    terms = []
    for single in text.split(","):
        m = _CONSTRAINT_RE.match(single)
        if m is None:
            return None
        v = parse_version(m.group(2))
        if v is None:
            return None
        terms.append((m.group(1), v))
    return Constraints(terms)
