"""Go's ``regexp`` (RE2 syntax): whether ``regexp.Compile`` accepts a pattern, and
its ``error parsing regexp: ...`` text when it does not."""

from __future__ import annotations

import re
import warnings
from typing import Optional

__all__ = ["compile_error"]

_POSIX_CLASSES = {"alnum", "alpha", "ascii", "blank", "cntrl", "digit", "graph", "lower", "print", "punct",
                  "space", "upper", "word", "xdigit"}
_REPEAT_RE = re.compile(r"\{(\d+)(,(\d*))?\}")


def compile_error(pattern: str) -> Optional[str]:
    """``regexp.Compile`` error text (Go RE2 syntax), or None.

    RE2-specific rules (escapes, flags, repetition) are checked by a scanner that
    also rewrites Go-only syntax into something Python can compile; Python's
    compiler then finds unbalanced groups and classes, reported with Go's codes.
    """

    def fail(code: str, expr: str) -> str:
        return f"error parsing regexp: {code}: `{expr}`"

    out: list[str] = []
    n = len(pattern)
    i = 0
    in_class = False
    class_open = 0  # index of the "[" that opened the current class
    class_start = 0  # first index where "]" closes it
    can_repeat = False  # is there an operand for a repetition operator?
    last_repeat = ""  # text of the repetition operator just seen, if any
    while i < n:
        ch = pattern[i]
        if ch == "\\":
            if i + 1 >= n:
                return fail("trailing backslash at end of expression", "")
            c = pattern[i + 1]
            j = i + 2
            if c == "Q":
                end = pattern.find("\\E", j)
                literal = pattern[j:] if end < 0 else pattern[j:end]
                out.append("".join(f"\\u{ord(x):04x}" if ord(x) < 0x10000 else re.escape(x) for x in literal))
                i = n if end < 0 else end + 2
                can_repeat, last_repeat = bool(literal) or can_repeat, ""
                continue
            if ord(c) < 0x80 and not c.isalnum():
                out.append("\\" + c)
            elif c in "afnrtv":
                out.append("\\" + c)
            elif c in "01234567":
                if c != "0" and (j >= n or pattern[j] not in "01234567"):
                    return fail("invalid escape sequence", pattern[i:j])
                k = j
                while k < n and k < i + 4 and pattern[k] in "01234567":
                    k += 1
                out.append(f"\\u{int(pattern[i + 1:k], 8):04x}")
                j = k
            elif c == "x":
                if j < n and pattern[j] == "{":
                    end = pattern.find("}", j)
                    digits = pattern[j + 1:end] if end > 0 else ""
                    if end < 0 or not digits or any(x not in "0123456789abcdefABCDEF" for x in digits) \
                            or int(digits, 16) > 0x10FFFF:
                        return fail("invalid escape sequence", pattern[i:(end + 1 if end > 0 else n)])
                    value = int(digits, 16)
                    j = end + 1
                else:
                    digits = pattern[j:j + 2]
                    if len(digits) < 2 or any(x not in "0123456789abcdefABCDEF" for x in digits):
                        return fail("invalid escape sequence", pattern[i:j + 1])
                    value = int(digits, 16)
                    j += 2
                out.append(f"\\U{value:08x}")
            elif c in "dDsSwW":
                out.append("\\" + c)
            elif c in "bBAz" and not in_class:
                out.append("\\Z" if c == "z" else "\\" + c)
            elif c in "pP":
                if j < n and pattern[j] == "{":
                    end = pattern.find("}", j)
                    if end < 0:
                        return fail("invalid character class range", pattern[i:])
                    j = end + 1
                elif j < n:
                    j += 1
                else:
                    return fail("invalid character class range", pattern[i:])
                out.append("x")
            else:
                return fail("invalid escape sequence", pattern[i:j])
            i = j
            can_repeat, last_repeat = True, ""
            continue

        if in_class:
            if ch == "[" and pattern.startswith("[:", i):
                end = pattern.find(":]", i + 2)
                if end > 0:
                    name = pattern[i + 2:end].lstrip("^")
                    if name not in _POSIX_CLASSES:
                        return fail("invalid character class range", pattern[i:end + 2])
                    out.append("a")
                    i = end + 2
                    continue
            if ch == "]" and i > class_start:
                in_class = False
                can_repeat, last_repeat = True, ""
            out.append(ch)
            i += 1
            continue

        if ch == "[":
            in_class = True
            class_open = i
            out.append("[")
            i += 1
            if i < n and pattern[i] == "^":
                out.append("^")
                i += 1
            class_start = i  # a "]" right here is a literal
            continue

        if ch == "(" and pattern.startswith("(?", i):
            if pattern.startswith("(?P<", i):
                out.append("(?P<")
                i += 4
                can_repeat, last_repeat = False, ""
                continue
            j = i + 2
            while j < n and pattern[j] in "imsU-":
                j += 1
            if j < n and pattern[j] in ":)":
                # Flags only matter for matching, not for whether it compiles.
                out.append("(?:" if pattern[j] == ":" else "")
                can_repeat = False if pattern[j] == ":" else can_repeat
                i = j + 1
                last_repeat = ""
                continue
            return fail("invalid or unsupported Perl syntax", pattern[i:j + 1])

        op = ""
        if ch in "*+?":
            op = ch
        elif ch == "{":
            m = _REPEAT_RE.match(pattern, i)
            if m:
                low = int(m.group(1))
                high = low if m.group(2) is None else (int(m.group(3)) if m.group(3) else -1)
                if low > 1000 or high > 1000 or (high != -1 and high < low):
                    return fail("invalid repeat count", m.group(0))
                op = m.group(0)
        if op:
            j = i + len(op)
            if j < n and pattern[j] == "?":
                j += 1
            text = pattern[i:j]
            if last_repeat:
                return fail("invalid nested repetition operator", last_repeat + text)
            if not can_repeat:
                return fail("missing argument to repetition operator", text)
            out.append(text)
            i = j
            last_repeat = text
            continue

        out.append(ch)
        i += 1
        last_repeat = ""
        can_repeat = ch not in "(|"
    if in_class:
        return fail("missing closing ]", pattern[class_open:])

    try:
        with warnings.catch_warnings():
            # Python warns about "[[" meaning a nested set in future versions; RE2 has
            # no nested sets, so the warning says nothing about the user's pattern.
            warnings.simplefilter("ignore", FutureWarning)
            re.compile("".join(out))
    except re.error as exc:
        msg = exc.msg
        if msg.startswith("missing ), unterminated subpattern"):
            return fail("missing closing )", pattern)
        if msg.startswith("unbalanced parenthesis"):
            return fail("unexpected )", pattern)
        if msg.startswith("bad character range"):
            return fail("invalid character class range", msg[len("bad character range "):])
        return f"error parsing regexp: {msg}"
    except (OverflowError, RecursionError) as exc:
        return f"error parsing regexp: {exc}"
    return None
