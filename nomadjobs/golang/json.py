"""Go's ``encoding/json`` decoding, as Nomad v0.7.1 (built with Go 1.9) runs it on a
request body: ``json.NewDecoder(body).Decode(&out)``.

* :func:`decode` reads the first JSON value of a body the way ``Decoder.Decode`` does
  (``scanner.go``'s state machine): whatever follows that value is never read, an
  empty body is ``EOF``, a value cut short is ``unexpected EOF``, and a bad byte is
  ``invalid character 'x' <where>`` with the byte quoted by ``quoteChar``. Strings are
  unquoted as Go's ``unquote`` does: invalid UTF-8 and lone or invalid surrogate
  escapes become U+FFFD. Objects keep every key, in order, duplicates included
  (:class:`Object`); numbers keep their literal text (:class:`Number`).
* :func:`unmarshal` stores such a value into a Go type (:class:`GoType`) with
  ``decode.go``'s rules of Go 1.9: keys match fields exactly, else case-insensitively
  (``fold.go``); a later key for the same field decodes *into* what is there (structs,
  maps and slices are merged into, not replaced); ``null`` clears pointers, slices,
  maps and interfaces and leaves anything else alone; numbers in ``interface{}``
  are float64. A type error is remembered and decoding goes on, except a number
  where no number fits, which stops it; the error reported is the stopping one, else
  the first one remembered, with the struct and field of Go 1.9's error context
  (set when a key matches a field, cleared after each key/value pair but an
  object's last).

Decoded Go values: a struct is a ``dict`` of field name -> value (fields never set
are absent), a pointer is its target or ``None``, a slice a :class:`GoSlice` or
``None``, a map a ``dict`` or ``None``, an ``interface{}`` plain Python data.
"""

from __future__ import annotations

import re
from typing import Any, Callable, Iterator, Optional, Union

__all__ = [
    "JSONSyntaxError",
    "UnmarshalError",
    "Object",
    "Number",
    "GoSlice",
    "GoType",
    "GoField",
    "UNSET",
    "decode",
    "unquote",
    "quote_char",
    "base64_decode",
    "fold_equal",
    "unmarshal",
    "to_interface",
    "STRING", "BOOL", "INT", "UINT", "FLOAT", "SLICE", "MAP", "PTR", "STRUCT", "INTERFACE",
]


class JSONSyntaxError(ValueError):
    """A body ``Decoder.Decode`` refuses before decoding: ``str()`` is Go's text."""


class UnmarshalError(ValueError):
    """The error ``Decode`` returns for a well-formed body: ``str()`` is Go's text."""


class Object(list):  # type: ignore[type-arg]
    """A JSON object: its ``(key, value)`` pairs in order, duplicates kept."""


class Number:
    """A JSON number, as its literal text."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return f"Number({self.text!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Number) and other.text == self.text

    def __hash__(self) -> int:
        return hash(self.text)


# --- quoteChar ------------------------------------------------------------------------------

_CHAR_ESCAPES = {0x07: "\\a", 0x08: "\\b", 0x0C: "\\f", 0x0A: "\\n", 0x0D: "\\r", 0x09: "\\t", 0x0B: "\\v",
                 0x5C: "\\\\"}


def quote_char(c: int) -> str:
    """``scanner.go``'s ``quoteChar`` of a byte: ``'x'``, ``'\\''``, ``'"'``, ``'\\x00'``.

    Go converts the byte to the rune of the same value and quotes it with Go 1.9's
    ``strconv.Quote``: C0 controls as ``\\xNN`` (or their letter escapes), the other
    unprintable runes (DEL, C1 controls, NBSP, soft hyphen) as ``\\u00NN`` -- Go 1.19
    changed DEL to ``\\x7f`` (golang/go#52062); Go 1.9 did not -- and Latin-1 letters
    as themselves (byte 0xc3 is ``'Ã'``)."""
    if c == 0x27:
        return "'\\''"
    if c == 0x22:
        return "'\"'"
    inner = _CHAR_ESCAPES.get(c)
    if inner is None:
        ch = chr(c)
        if c < 0x20:
            inner = f"\\x{c:02x}"
        elif ch.isprintable():  # for U+0000..U+00FF the same set as Go's strconv.IsPrint
            inner = ch
        else:
            inner = f"\\u{c:04x}"
    return f"'{inner}'"


def _invalid(c: int, context: str) -> JSONSyntaxError:
    return JSONSyntaxError(f"invalid character {quote_char(c)} {context}")


def _unexpected_eof() -> JSONSyntaxError:
    return JSONSyntaxError("unexpected EOF")


# --- unquote ---------------------------------------------------------------------------------

_ESCAPE = re.compile(r"\\u([dD][89abAB][0-9a-fA-F]{2})\\u([dD][c-fC-F][0-9a-fA-F]{2})|\\u([0-9a-fA-F]{4})|\\(.)",
                     re.S)
_SIMPLE_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
_SURROGATE = re.compile("[\ud800-\udfff]")


def _unescape(m: re.Match[str]) -> str:
    high = m.group(1)
    if high is not None:
        return chr(0x10000 + ((int(high, 16) - 0xD800) << 10) + int(m.group(2), 16) - 0xDC00)
    code = m.group(3)
    if code is not None:
        return chr(int(code, 16))  # a lone surrogate stays one here and is replaced below
    return _SIMPLE_ESCAPES[m.group(4)]


def unquote(raw: bytes) -> str:
    """Go's ``unquote`` of a JSON string's body (the bytes between the quotes, known to
    be well formed): escapes decoded, each byte of invalid UTF-8 and each lone or
    invalid ``\\uD8xx`` surrogate escape replaced by U+FFFD."""
    if b"\\" not in raw:
        try:
            return raw.decode()
        except UnicodeDecodeError:
            return _SURROGATE.sub("\ufffd", raw.decode("utf-8", "surrogateescape"))
    text = _ESCAPE.sub(_unescape, raw.decode("utf-8", "surrogateescape"))
    return _SURROGATE.sub("\ufffd", text)


# --- the scanner, reading one value ------------------------------------------------------------

_WS = frozenset(b" \t\r\n")
_WS_RUN = re.compile(rb"[ \t\r\n]*")
_STRING = re.compile(rb'"[^"\\\x00-\x1f]*(?:\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4})[^"\\\x00-\x1f]*)*"')
_NUMBER = re.compile(rb"-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?")
_HEX = frozenset(b"0123456789abcdefABCDEF")
_LITERALS = {0x74: b"true", 0x66: b"false", 0x6E: b"null"}
_LITERAL_VALUES = {0x74: True, 0x66: False, 0x6E: None}


def _ws(data: bytes, i: int) -> int:
    if i < len(data) and data[i] in _WS:
        m = _WS_RUN.match(data, i)
        assert m is not None
        return m.end()
    return i


def _string(data: bytes, i: int) -> tuple[str, int]:
    m = _STRING.match(data, i)
    if m is not None:
        return unquote(data[i + 1:m.end() - 1]), m.end()
    # Not a complete string: find the byte the scanner stops at.
    n = len(data)
    k = i + 1
    while k < n:
        c = data[k]
        if c == 0x5C:
            k += 1
            if k >= n:
                break
            c = data[k]
            if c == 0x75:  # u
                for _ in range(4):
                    k += 1
                    if k >= n:
                        raise _unexpected_eof()
                    if data[k] not in _HEX:
                        raise _invalid(data[k], "in \\u hexadecimal character escape")
            elif c not in b'"\\/bfnrt':
                raise _invalid(c, "in string escape code")
        elif c < 0x20:
            raise _invalid(c, "in string literal")
        elif c == 0x22:  # not reached: the pattern above matches every complete string
            return unquote(data[i + 1:k]), k + 1
        k += 1
    raise _unexpected_eof()


def _number(data: bytes, i: int) -> tuple[Number, int]:
    n = len(data)
    m = _NUMBER.match(data, i)
    if m is None:  # a "-" not followed by a digit
        if i + 1 >= n:
            raise _unexpected_eof()
        raise _invalid(data[i + 1], "in numeric literal")
    j = m.end()
    if j < n:
        c = data[j]
        if c == 0x2E and m.group(1) is None and m.group(2) is None:  # "1." and no digit
            if j + 1 >= n:
                raise _unexpected_eof()
            raise _invalid(data[j + 1], "after decimal point in numeric literal")
        if c in b"eE" and m.group(2) is None:  # "1e", "1e+" and no digit
            k = j + 1
            if k < n and data[k] in b"+-":
                k += 1
            if k >= n:
                raise _unexpected_eof()
            raise _invalid(data[k], "in exponent of numeric literal")
    return Number(m.group().decode()), j


def _literal(data: bytes, i: int) -> tuple[Any, int]:
    c = data[i]
    word = _LITERALS[c]
    n = len(data)
    for k in range(1, len(word)):
        if i + k >= n:
            raise _unexpected_eof()
        if data[i + k] != word[k]:
            raise _invalid(data[i + k], f"in literal {word.decode()} (expecting {quote_char(word[k])})")
    return _LITERAL_VALUES[c], i + len(word)


def _key(data: bytes, i: int) -> tuple[str, int]:
    """An object key at ``i`` (past any space), its colon and the space after it."""
    if i >= len(data):
        raise _unexpected_eof()
    if data[i] != 0x22:
        raise _invalid(data[i], "looking for beginning of object key string")
    key, i = _string(data, i)
    i = _ws(data, i)
    if i >= len(data):
        raise _unexpected_eof()
    if data[i] != 0x3A:
        raise _invalid(data[i], "after object key")
    return key, _ws(data, i + 1)


def decode(data: bytes) -> Any:
    """The first JSON value of ``data``, read as ``Decoder.Decode`` reads it (the bytes
    after it are ignored), or :class:`JSONSyntaxError` with Go's message. Objects are
    :class:`Object`, arrays ``list``, numbers :class:`Number`, strings ``str``."""
    n = len(data)
    i = _ws(data, 0)
    if i >= n:
        raise JSONSyntaxError("EOF")
    # Open containers, innermost last: [container, key of the value being read].
    stack: list[list[Any]] = []
    while True:
        # A value starts at i (space skipped).
        if i >= n:
            raise _unexpected_eof()
        c = data[i]
        value: Any
        if c == 0x7B:  # {
            i = _ws(data, i + 1)
            if i < n and data[i] == 0x7D:
                value, i = Object(), i + 1
            else:
                key, i = _key(data, i)
                stack.append([Object(), key])
                continue
        elif c == 0x5B:  # [
            i = _ws(data, i + 1)
            if i < n and data[i] == 0x5D:
                value, i = [], i + 1
            else:
                stack.append([[], None])
                continue
        elif c == 0x22:
            value, i = _string(data, i)
        elif c == 0x2D or 0x30 <= c <= 0x39:
            value, i = _number(data, i)
        elif c in _LITERALS:
            value, i = _literal(data, i)
        else:
            raise _invalid(c, "looking for beginning of value")
        # A value ended at i: store it, closing the containers that end with it.
        while True:
            if not stack:
                return value
            top = stack[-1]
            container = top[0]
            if container.__class__ is Object:
                container.append((top[1], value))
            else:
                container.append(value)
            i = _ws(data, i)
            if i >= n:
                raise _unexpected_eof()
            c = data[i]
            if container.__class__ is Object:
                if c == 0x2C:
                    top[1], i = _key(data, _ws(data, i + 1))
                    break
                if c != 0x7D:
                    raise _invalid(c, "after object key:value pair")
            else:
                if c == 0x2C:
                    i = _ws(data, i + 1)
                    break
                if c != 0x5D:
                    raise _invalid(c, "after array element")
            stack.pop()
            value, i = container, i + 1


# --- encoding/base64 (StdEncoding.Decode) ----------------------------------------------------------

_B64 = {c: i for i, c in enumerate(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")}


def base64_decode(src: bytes) -> tuple[bytes, Optional[int]]:
    """``base64.StdEncoding.Decode``: the bytes decoded and, when the input is bad, the
    offset of ``CorruptInputError`` ("illegal base64 data at input byte N"). Padding
    is required; ``\\r`` and ``\\n`` are skipped."""
    out = bytearray()
    n = len(src)
    si = 0
    while si < n:
        dbuf = [0, 0, 0, 0]
        dlen = 4
        j = 0
        trailing: Optional[int] = None
        end = False
        while j < 4:
            if si == n:
                if j == 0:
                    return bytes(out), None
                return bytes(out), si - j
            c = src[si]
            si += 1
            v = _B64.get(c)
            if v is not None:
                dbuf[j] = v
                j += 1
                continue
            if c == 0x0A or c == 0x0D:
                continue
            if c != 0x3D or j < 2:  # not in the alphabet, or "=" too early
                return bytes(out), si - 1
            if j == 2:  # "==" expected, the first "=" consumed
                while si < n and src[si] in (0x0A, 0x0D):
                    si += 1
                if si == n:
                    return bytes(out), n
                if src[si] != 0x3D:
                    return bytes(out), si - 1
                si += 1
            while si < n and src[si] in (0x0A, 0x0D):
                si += 1
            if si < n:
                trailing = si
            dlen, end = j, True
            break
        val = dbuf[0] << 18 | dbuf[1] << 12 | dbuf[2] << 6 | dbuf[3]
        out += bytes(((val >> 16) & 0xFF, (val >> 8) & 0xFF, val & 0xFF)[:dlen - 1])
        if trailing is not None:
            return bytes(out), trailing
        if end:
            break
    return bytes(out), None


# --- fold.go ---------------------------------------------------------------------------------------

_FOLD = {0x17F: "s", 0x212A: "k"}  # LATIN SMALL LETTER LONG S, KELVIN SIGN


def fold_equal(name: str, key: str) -> bool:
    """Whether object key ``key`` matches the (ASCII) field name ``name`` the way Go's
    ``foldFunc(name)`` compares them: ASCII case-insensitively, with ``ſ`` (U+017F)
    and the Kelvin sign (U+212A) also matching ``s`` and ``k``."""
    if not key.isascii():
        key = key.translate(_FOLD)
        if not key.isascii():
            return False
    return len(key) == len(name) and key.lower() == name.lower()


# --- types and values ------------------------------------------------------------------------------

STRING, BOOL, INT, UINT, FLOAT, SLICE, MAP, PTR, STRUCT, INTERFACE = range(10)

class _Unset:
    __slots__ = ()

    def __repr__(self) -> str:
        return "UNSET"


UNSET: Any = _Unset()
"""The value of what was never stored into: Go's zero value of its type."""


class GoSlice:
    """A Go slice: its backing array (``len(items)`` is the capacity; UNSET slots are
    zero values) and its length. Decoding an array into a slice reuses it, so slots
    beyond the length can come back (Go 1.9's ``array``)."""

    __slots__ = ("items", "length")

    def __init__(self, items: list[Any], length: int) -> None:
        self.items = items
        self.length = length

    def values(self) -> list[Any]:
        return self.items[:self.length]

    def __repr__(self) -> str:
        return f"GoSlice({self.values()!r}, cap={len(self.items)})"


class GoField:
    """A struct field as ``encoding/json`` sees it: its JSON name and type. ``attr`` is
    free for the caller (e.g. the model attribute it fills)."""

    __slots__ = ("name", "type", "attr")

    def __init__(self, name: str, type: GoType, attr: Optional[str] = None) -> None:
        self.name = name
        self.type = type
        self.attr = attr


class GoType:
    """A Go type: its kind, its name as ``reflect.Type.String()`` prints it (what the
    error messages show), its element (slice, map, pointer), its size (integers), and
    for a struct its bare name and fields (given, or made by ``fields`` on first use,
    so that types may refer to each other). ``model`` is free for the caller."""

    __slots__ = ("kind", "name", "elem", "bits", "struct_name", "model", "_fields", "_make_fields", "_exact")

    def __init__(self, kind: int, name: str, elem: Optional[GoType] = None, bits: int = 64,
                 struct_name: str = "", fields: Union[None, list[GoField], Callable[[], list[GoField]]] = None,
                 model: Any = None) -> None:
        self.kind = kind
        self.name = name
        self.elem = elem
        self.bits = bits
        self.struct_name = struct_name
        self.model = model
        self._fields: Optional[list[GoField]] = None
        self._make_fields: Optional[Callable[[], list[GoField]]] = None
        self._exact: dict[str, GoField] = {}
        if callable(fields):
            self._make_fields = fields
        elif fields is not None:
            self._set_fields(fields)

    def _set_fields(self, fields: list[GoField]) -> None:
        self._exact = {f.name: f for f in fields}
        self._fields = fields

    @property
    def fields(self) -> list[GoField]:
        if self._fields is None:
            assert self._make_fields is not None, self.name
            self._set_fields(self._make_fields())
        assert self._fields is not None
        return self._fields

    def field(self, key: str) -> Optional[GoField]:
        """The field a key decodes into: the exact match, else the first fold match."""
        fields = self.fields
        f = self._exact.get(key)
        if f is not None:
            return f
        for f in fields:
            if fold_equal(f.name, key):
                return f
        return None

    def is_bytes(self) -> bool:
        return self.kind == SLICE and self.elem is not None and self.elem.kind == UINT and self.elem.bits == 8

    def int_range(self) -> tuple[int, int]:
        if self.kind == UINT:
            return 0, (1 << self.bits) - 1
        return -(1 << (self.bits - 1)), (1 << (self.bits - 1)) - 1

    def zero(self) -> Any:
        """A fresh zero value (None for pointers, slices, maps and interfaces)."""
        k = self.kind
        if k == STRING:
            return ""
        if k == BOOL:
            return False
        if k == INT or k == UINT:
            return 0
        if k == FLOAT:
            return 0.0
        if k == STRUCT:
            return {}
        return None

    def __repr__(self) -> str:
        return f"GoType({self.name})"


FLOAT64 = GoType(FLOAT, "float64")
_INF = float("inf")


class _Abort(Exception):
    pass


def _parse_float(node: Any) -> Optional[float]:
    """``strconv.ParseFloat(s, 64)``; None where Go fails (out of range)."""
    try:
        value = float(node.text if node.__class__ is Number else node)
    except OverflowError:  # a Python int beyond float64
        return None
    if value in (_INF, -_INF):
        return None
    return value


def _number_text(node: Any) -> str:
    return str(node.text if node.__class__ is Number else node)


def _parse_int(node: Any) -> Optional[int]:
    """``strconv.ParseInt``/``ParseUint`` base 10 of a JSON number; None for a fraction
    or exponent (the range is checked by the caller)."""
    if node.__class__ is Number:
        text = node.text
        if "." in text or "e" in text or "E" in text:
            return None
        return int(text)
    if isinstance(node, int) and not isinstance(node, bool):
        return int(node)
    return None


class _Decoding:
    """One ``Decode`` call: the error remembered and the error context."""

    def __init__(self, number: Optional[Callable[[Number], Any]] = None) -> None:
        self.saved: Optional[str] = None
        self.struct = ""
        self.field = ""
        self.number = number

    def _type_error(self, what: str, t: GoType) -> str:
        if self.struct or self.field:
            return f"json: cannot unmarshal {what} into Go struct field {self.struct}.{self.field} of type {t.name}"
        return f"json: cannot unmarshal {what} into Go value of type {t.name}"

    def save(self, what: str, t: GoType) -> None:
        if self.saved is None:
            self.saved = self._type_error(what, t)

    def abort(self, what: str, t: GoType) -> None:
        raise _Abort(self._type_error(what, t))

    def value(self, node: Any, t: GoType, cur: Any) -> Any:
        """Decode ``node`` into ``t`` holding ``cur``; the new value (``cur`` itself
        when it is merged into or left alone)."""
        while t.kind == PTR:  # indirect: a null clears the pointer, else decode into its target
            if node is None:
                return None
            if cur is None:
                cur = UNSET
            assert t.elem is not None
            t = t.elem
        if node is None:
            return None if t.kind in (SLICE, MAP, INTERFACE) else cur
        cls = node.__class__
        if cls is Object or cls is dict:
            return self.object(node, t, cur)
        if cls is list:
            return self.array(node, t, cur)
        return self.literal(node, t, cur)

    def object(self, node: Any, t: GoType, cur: Any) -> Any:
        k = t.kind
        if k == INTERFACE:
            return self.interface(node)
        if k != MAP and k != STRUCT:
            self.save("object", t)
            return cur
        pairs = node if node.__class__ is Object else list(node.items())
        last = len(pairs) - 1
        target = cur if cur.__class__ is dict else {}
        if k == MAP:
            elem = t.elem
            assert elem is not None
            for index, (key, item) in enumerate(pairs):
                got = self.value(item, elem, UNSET)
                target[key] = elem.zero() if got is UNSET else got
                if index < last:
                    self.struct = self.field = ""
            return target
        for index, (key, item) in enumerate(pairs):
            f = t.field(key)
            if f is not None:
                self.struct, self.field = t.struct_name, f.name
                got = self.value(item, f.type, target.get(f.name, UNSET))
                if got is not UNSET:
                    target[f.name] = got
            if index < last:
                self.struct = self.field = ""
        return target

    def array(self, node: list[Any], t: GoType, cur: Any) -> Any:
        if t.kind == INTERFACE:
            return self.interface(node)
        if t.kind != SLICE:
            self.save("array", t)
            return cur
        elem = t.elem
        assert elem is not None
        sl = cur if cur.__class__ is GoSlice else GoSlice([], 0)
        i = 0
        for item in node:
            if i >= len(sl.items):  # grow: copy the elements in use into a new array
                cap = len(sl.items)
                new_cap = max(cap + cap // 2, 4)
                sl = GoSlice(sl.items[:sl.length] + [UNSET] * (new_cap - sl.length), sl.length)
            if i >= sl.length:
                sl.length = i + 1
            sl.items[i] = self.value(item, elem, sl.items[i])
            i += 1
        if i == 0:
            return GoSlice([], 0)
        if i < sl.length:
            sl.length = i
        return sl

    def literal(self, node: Any, t: GoType, cur: Any) -> Any:
        k = t.kind
        if node is True or node is False:
            if k == BOOL or k == INTERFACE:
                return node
            self.save("bool", t)
            return cur
        if node.__class__ is str:
            if k == STRING or k == INTERFACE:
                return node
            if t.is_bytes():
                src = node.encode("utf-8", "surrogatepass")
                data, bad = base64_decode(src)
                if bad is not None:
                    if self.saved is None:
                        self.saved = f"illegal base64 data at input byte {bad}"
                    return cur
                cap = len(src) // 4 * 3
                return GoSlice(list(data) + [UNSET] * (cap - len(data)), len(data))
            self.save("string", t)
            return cur
        # A number.
        if k == INTERFACE or k == FLOAT:
            f = _parse_float(node)
            if f is None:
                self.save("number " + _number_text(node), FLOAT64 if k == INTERFACE else t)
                return cur
            return f
        if k == INT or k == UINT:
            n = _parse_int(node)
            lo, hi = t.int_range()
            if n is None or not lo <= n <= hi or (k == UINT and _number_text(node).startswith("-")):
                self.save("number " + _number_text(node), t)
                return cur
            return n
        self.abort("number", t)
        return cur

    def interface(self, node: Any) -> Any:
        """``interface{}`` of a value: objects become dicts (the last duplicate key
        wins), numbers float64; depth-first in document order, without recursion."""
        top = self._interface_item(node)
        if top.__class__ is not dict and top.__class__ is not list:
            return top
        stack: list[tuple[Iterator[Any], Any]] = [(_children(node), top)]
        while stack:
            items, target = stack[-1]
            for entry in items:
                if target.__class__ is dict:
                    key, item = entry
                else:
                    item = entry
                value = self._interface_item(item)
                if target.__class__ is dict:
                    target[key] = value
                else:
                    target.append(value)
                if value.__class__ is dict or value.__class__ is list:
                    stack.append((_children(item), value))
                    break
            else:
                stack.pop()
        return top

    def _interface_item(self, node: Any) -> Any:
        cls = node.__class__
        if cls is Object or cls is dict:
            return {}
        if cls is list:
            return []
        if cls is Number and self.number is not None:
            return self.number(node)
        if cls is Number or cls is int or cls is float:
            f = _parse_float(node)
            if f is None:
                self.save("number " + _number_text(node), FLOAT64)
            return f
        return node


def _children(node: Any) -> Iterator[Any]:
    if node.__class__ is dict:
        return iter(list(node.items()))
    return iter(node)


def unmarshal(node: Any, t: GoType) -> Any:
    """``Decode(&out)`` of a value from :func:`decode` (or plain JSON data), where
    ``out`` holds a pointer to a zero ``t``: the decoded value (UNSET when the body
    was ``null``: Go then clears ``out`` and leaves the target alone), or
    :class:`UnmarshalError` with the message Go returns."""
    decoding = _Decoding()
    try:
        result = UNSET if node is None else decoding.value(node, t, UNSET)
    except _Abort as stop:
        raise UnmarshalError(str(stop)) from None
    if decoding.saved is not None:
        raise UnmarshalError(decoding.saved)
    return result


def to_interface(node: Any, number: Optional[Callable[[Number], Any]] = None) -> Any:
    """``interface{}`` of a decoded value: numbers are float64 (None where out of
    range, as Go leaves them), or what ``number`` makes of them."""
    return _Decoding(number).interface(node)

