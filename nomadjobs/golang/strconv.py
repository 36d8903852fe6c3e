"""Go's ``strconv``: quoting (``Quote``, ``QuoteToASCII``, ``QuoteRune``), the shortest
``FormatFloat``, and the number/bool parsers with their exact ``*NumError`` texts."""

from __future__ import annotations

import math
import re
from decimal import Decimal
from typing import Optional

__all__ = [
    "quote",
    "quote_rune",
    "format_float",
    "num_error",
    "ERR_SYNTAX",
    "ERR_RANGE",
    "atoi",
    "parse_uint",
    "parse_uint_octal",
    "parse_bool",
]

_GO_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v"}


def quote(s: str, ascii_only: bool = False) -> str:
    """``strconv.Quote`` (``%q``); with ``ascii_only``, ``QuoteToASCII`` (``%+q``)."""
    out = ['"']
    for ch in s:
        code = ord(ch)
        if ch == '"' or ch == "\\":
            out.append("\\" + ch)
        elif ch.isprintable() and (not ascii_only or code < 0x80):
            out.append(ch)
        elif ch in _GO_ESCAPES:
            out.append(_GO_ESCAPES[ch])
        elif code < 0x20:  # Go 1.9; DEL joined this branch only in later releases
            out.append(f"\\x{code:02x}")
        elif 0xD800 <= code <= 0xDFFF:
            # A lone surrogate is invalid UTF-8 in Go; it prints as the replacement rune.
            out.append("\\ufffd" if ascii_only else "\ufffd")
        elif code < 0x10000:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    out.append('"')
    return "".join(out)


def quote_rune(ch: str) -> str:
    """``strconv.QuoteRune`` (``%q`` of a rune): ``'a'``, ``'\\''``, ``'"'``."""
    inner = quote(ch)[1:-1]
    if ch == "'":
        inner = "\\'"
    elif ch == '"':
        inner = '"'
    return f"'{inner}'"


def format_float(f: float) -> str:
    """``strconv.FormatFloat(f, 'g', -1, 64)``, which is ``%v`` of a float64: the
    shortest round-trip digits, in exponent form when the decimal exponent is < -4
    or >= 6 (``6379``, ``1e+06``, ``0.0001``, ``1e-05``)."""
    if math.isnan(f):
        return "NaN"
    if math.isinf(f):
        return "+Inf" if f > 0 else "-Inf"
    if f == 0:
        return "-0" if math.copysign(1.0, f) < 0 else "0"
    sign = "-" if f < 0 else ""
    # repr() yields the shortest digits that round-trip, the same digits Go picks.
    t = Decimal(repr(abs(f))).normalize().as_tuple()
    digits = "".join(str(d) for d in t.digits)
    nd = len(digits)
    dp = nd + int(t.exponent)  # position of the decimal point within `digits`
    exp = dp - 1
    if exp < -4 or exp >= 6:
        mantissa = digits[0] + ("." + digits[1:] if nd > 1 else "")
        return f"{sign}{mantissa}e{'-' if exp < 0 else '+'}{abs(exp):02d}"
    if dp <= 0:
        return f"{sign}0.{'0' * -dp}{digits}"
    if dp >= nd:
        return sign + digits + "0" * (dp - nd)
    return f"{sign}{digits[:dp]}.{digits[dp:]}"


ERR_SYNTAX = "invalid syntax"
ERR_RANGE = "value out of range"


def num_error(func: str, text: str, err: str) -> str:
    """``(*strconv.NumError).Error()``: ``strconv.Atoi: parsing "x": invalid syntax``."""
    return f"strconv.{func}: parsing {quote(text)}: {err}"


_ATOI_RE = re.compile(r"[+-]?[0-9]+")


def atoi(text: str) -> Optional[int]:
    """``strconv.Atoi`` (64-bit ``int``): the value, or None where Go returns an error."""
    if not _ATOI_RE.fullmatch(text) or len(text.lstrip("+-0")) > 19:
        return None  # (the length test also keeps int() off texts of thousands of digits)
    value = int(text)
    if not -(2**63) <= value < 2**63:
        return None
    return value


def parse_uint(text: str) -> tuple[int, Optional[str]]:
    """``strconv.ParseUint(text, 10, 64)``: ``(value, None)`` or ``(0, error text)``.

    Any character other than an ASCII digit is a syntax error, checked before the
    range (Go scans left to right, so digits that overflow before a bad character
    give ``value out of range`` there; kept as it was to leave texts unchanged)."""
    if not text or not text.isascii() or not text.isdigit():
        return 0, num_error("ParseUint", text, ERR_SYNTAX)
    if len(text.lstrip("0")) > 20:
        return 0, num_error("ParseUint", text, ERR_RANGE)
    value = int(text)
    if value >= 1 << 64:
        return 0, num_error("ParseUint", text, ERR_RANGE)
    return value, None


def parse_uint_octal(text: str, bit_size: int) -> tuple[int, Optional[str]]:
    """``strconv.ParseUint(text, 8, bit_size)``: ``(value, None)`` or ``(0, error text)``,
    scanning left to right like Go. The empty string is not an error here (Go says
    ``invalid syntax``): callers only parse non-empty text."""
    value = 0
    for ch in text:
        if ch not in "01234567":
            return 0, num_error("ParseUint", text, ERR_SYNTAX)
        value = value * 8 + int(ch)
        if value >= 1 << bit_size:
            return 0, num_error("ParseUint", text, ERR_RANGE)
    return value, None


_TRUE = {"1", "t", "T", "TRUE", "true", "True"}
_FALSE = {"0", "f", "F", "FALSE", "false", "False"}


def parse_bool(text: str) -> bool:
    """``strconv.ParseBool``; raises ValueError with Go's message (the text is put in
    plain double quotes, as it always was here, where Go would ``%q`` it)."""
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f'strconv.ParseBool: parsing "{text}": invalid syntax')
