"""Nomad v0.7.1's job files: HCL text to the API job, as ``jobspec.Parse`` builds it
(and ``nomad run -output`` prints it).

pyhcl (HCL v1, as Nomad 0.7 uses) does the parsing; this module does what Nomad's
``jobspec`` package does with the result: which keys each stanza accepts, how blocks
repeat and merge, mapstructure's weak decoding (``"80"`` for a number, ``"30s"`` for
a duration) and the defaults the parser itself sets (a template's ``change_mode``,
``splay`` and ``perms``; a vault block's ``env`` and ``change_mode``). The answer is
the API job as plain data, keys in the order Go writes them, unset pointers as None.
"""

from __future__ import annotations

import math
import os
import re
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

from hcl.lexer import Lexer
from hcl.parser import HclParser

from .golang.time import parse_duration

__all__ = ["JobspecError", "parse", "parse_dir"]

DYNAMIC_PORT = re.compile(r"^[a-zA-Z0-9_]+$")


class JobspecError(ValueError):
    """A job file Nomad's parser refuses; ``str()`` is its message. Several errors
    found together (go-multierror) are ``errors``: a prefix applies to each."""

    def __init__(self, message: str = "", errors: Optional[list[str]] = None) -> None:
        self.message = message
        self.errors = errors
        super().__init__(str(self))

    def __str__(self) -> str:
        if self.errors is not None:
            listed = "\n".join(f"* {e}" for e in self.errors)
            return f"{len(self.errors)} error(s) occurred:\n\n{listed}"
        return self.message

    def prefixed(self, prefix: str) -> "JobspecError":
        """multierror.Prefix."""
        if self.errors is not None:
            return JobspecError(errors=[f"{prefix} {e}" for e in self.errors])
        return JobspecError(f"{prefix} {self.message}")


@contextmanager
def _prefix(prefix: str) -> Iterator[None]:
    try:
        yield
    except JobspecError as exc:
        raise exc.prefixed(prefix) from None


def _decoding(message: str) -> JobspecError:
    """mapstructure's error for one field it could not decode."""
    return JobspecError(f"1 error(s) decoding:\n\n* {message}")


# --- HCL: pyhcl, with Go HCL's heredocs ------------------------------------------------

def unindent_heredoc(heredoc: str) -> str:
    """Go HCL's ``unindentHeredoc`` of a heredoc token's text (``<<EOF\n...\nEOF\n``):
    the content with its final newline; for ``<<-``, without the closing marker's
    indentation when every line has it (Go's slicing, off-by-one included)."""
    idx = heredoc.index("\n")
    if heredoc[2] != "-":
        return heredoc[idx + 1:len(heredoc) - idx + 1]
    lines = heredoc[idx + 1:len(heredoc) - idx + 2].split("\n")
    prefix = lines[-1]
    if not all(line.startswith(prefix) for line in lines):
        return heredoc[idx + 1:len(heredoc) - idx + 1].rstrip(" \t")
    return "\n".join([line[len(prefix):] for line in lines[:-1]] + [""])


_SIMPLE_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "\\": "\\",
                   '"': '"'}
_DIGIT_ESCAPES = {"x": (16, 2), "u": (16, 4), "U": (16, 8)}


def _position(text: str, offset: int) -> str:
    """Go HCL's ``At line:column`` of a character offset (both from 1)."""
    line = text.count("\n", 0, offset) + 1
    return f"At {line}:{offset - (text.rfind(chr(10), 0, offset) + 1) + 1}"


def go_unquote(text: str, start: int, end: int) -> str:
    """A string literal's value (``text[start:end]``, between its quotes) as Go HCL's
    scanner checks it and its ``Unquote`` reads it: escapes decoded, ``${...}`` kept
    as written (an escaped backslash in it made single). A bad escape is Go's
    ``illegal char escape`` at its position."""
    out: list[str] = []
    i = start
    while i < end:
        ch = text[i]
        if ch == "$" and i + 1 < end and text[i + 1] == "{":
            braces, j = 1, i + 2
            out.append("${")
            while j < end and braces:
                c = text[j]
                if c == "\\" and j + 1 < end and text[j + 1] == "\\":
                    j += 1
                    continue
                out.append(c)
                braces += 1 if c == "{" else -1 if c == "}" else 0
                j += 1
            i = j
            continue
        if ch != "\\":
            out.append(ch)
            i += 1
            continue
        code = text[i + 1] if i + 1 < end else ""
        if code in _SIMPLE_ESCAPES:
            out.append(_SIMPLE_ESCAPES[code])
            i += 2
        elif code in "01234567" and code:
            digits = text[i + 1:i + 4]
            if len(digits) < 3 or any(d not in "01234567" for d in digits):
                raise JobspecError(f"error parsing: {_position(text, i + 1)}: illegal char escape")
            out.append(chr(int(digits, 8)))
            i += 4
        elif code in _DIGIT_ESCAPES:
            base, count = _DIGIT_ESCAPES[code]
            digits = text[i + 2:i + 2 + count]
            if len(digits) < count or any(d.lower() not in "0123456789abcdef"[:base] for d in digits):
                raise JobspecError(f"error parsing: {_position(text, i + 1)}: illegal char escape")
            out.append(chr(int(digits, base)))
            i += 2 + count
        else:
            raise JobspecError(f"error parsing: {_position(text, i + 1)}: illegal char escape")
    return "".join(out)


class _GoHeredocLexer(Lexer):  # type: ignore[misc]  # pyhcl ships no types
    """pyhcl's lexer, with strings as Go HCL reads them: a heredoc's value as Go gives
    it (pyhcl drops the final newline and unindents ``<<-`` by tabs only), a quoted
    string's escapes decoded (pyhcl decodes only ``\\"`` and ``\\\\``), and Go's
    errors for a bad escape or a string that never ends."""

    def token(self) -> Any:
        tok = self.lex.token()
        # A quoted string ends at its closing quote (a heredoc's token does not): read
        # it again from its text, escapes as Go HCL reads them.
        if tok is not None and tok.type == "STRING" and self.lex.lexdata[tok.lexpos:tok.lexpos + 1] == '"':
            tok.value = go_unquote(self.lex.lexdata, self.lex.abs_start, tok.lexpos)
        return tok

    def t_string_eof(self, t: Any) -> Any:
        raise JobspecError(f"error parsing: {_position(t.lexer.lexdata, len(t.lexer.lexdata))}: "
                           "literal not terminated")

    def _end_heredoc(self, t: Any) -> Any:
        line = t.value
        marker = t.lexer.here_identifier
        if (line.strip() if t.lexer.is_tabbed else line) != marker:
            return super()._end_heredoc(t)
        start = t.lexer.lexpos - len(line)
        content = t.lexer.lexdata[t.lexer.here_start:start]
        # Go's token runs to the end of the closing marker's line, newline included.
        text = ("<<-" if t.lexer.is_tabbed else "<<") + marker + "\n" + content + line + "\n"
        t.value = unindent_heredoc(text)
        t.lexer.lineno += t.lexer.lexdata[t.lexer.here_start:t.lexer.lexpos].count("\n")
        t.lexer.begin("INITIAL")
        return t


_PARSER: Optional[HclParser] = None


def _load(text: str) -> Any:
    global _PARSER
    if _PARSER is None:
        _PARSER = HclParser()
    return _PARSER.yacc.parse(text, lexer=_GoHeredocLexer())


def _sorted_maps(value: Any) -> Any:
    """encoding/json writes a Go map's keys sorted."""
    if isinstance(value, dict):
        return {k: _sorted_maps(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [_sorted_maps(v) for v in value]
    return value


# --- pyhcl's shapes -------------------------------------------------------------------

def _bodies(value: Any) -> list[dict[str, Any]]:
    """The bodies of an unlabelled block written once or repeated."""
    if isinstance(value, list):
        return [v for v in value if isinstance(v, dict)]
    return [value] if isinstance(value, dict) else []


def _optional_one(value: Any, many: str) -> Optional[dict[str, Any]]:
    """The body of a block allowed at most once, or None (``many``: Nomad's message
    for more)."""
    bodies = _bodies(value)
    if len(bodies) > 1:
        raise JobspecError(many)
    return bodies[0] if bodies else None


def _one(value: Any, what: str, many: str) -> dict[str, Any]:
    """The body of a block allowed once, whose key is present."""
    body = _optional_one(value, many)
    if body is None:
        raise JobspecError(f"'{what}' should be a block")
    return body


def _labelled(value: Any, what: str) -> list[tuple[str, dict[str, Any]]]:
    """(label, body) of each ``what "label" { ... }`` block, in file order."""
    out: list[tuple[str, dict[str, Any]]] = []
    for item in value if isinstance(value, list) else [value]:
        if not isinstance(item, dict):
            continue
        for label, body in item.items():
            if isinstance(body, list):  # the same label twice
                raise JobspecError(f"{what} '{label}' defined more than once")
            out.append((label, body if isinstance(body, dict) else {}))
    seen: set[str] = set()
    for label, _ in out:
        if label in seen:
            raise JobspecError(f"{what} '{label}' defined more than once")
        seen.add(label)
    return out


def _decoded(value: Any) -> Any:
    """hcl.DecodeObject into an interface: a nested object is a list of maps."""
    if isinstance(value, dict):
        return [{k: _decoded(v) for k, v in value.items()}]
    if isinstance(value, list):
        out: list[Any] = []
        for item in value:
            if isinstance(item, dict):
                out.extend(_decoded(item))
            else:
                out.append(_decoded(item))
        return out
    return value


def _check_keys(body: dict[str, Any], valid: tuple[str, ...], prefix: str = "") -> None:
    """helper.CheckHCLKeys: every key must be one of ``valid`` (then multierror.Prefix)."""
    bad = [key for key in body if key not in valid]
    if bad:
        error = JobspecError(errors=[f"invalid key: {key}" for key in bad])
        raise error.prefixed(prefix) if prefix else error


# --- mapstructure's weak decoding -----------------------------------------------------

def _int(value: Any, field: str = "") -> Optional[int]:
    if value is None:
        return None
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, float) and not math.isfinite(value):
        raise _decoding(f"'{field}' expected type 'int', got unconvertible type 'float64'")
    if isinstance(value, (int, float)):
        return int(value)
    if isinstance(value, str):
        try:
            return int(value, 0) if value else 0
        except ValueError:
            raise _decoding(f"cannot parse '{field}' as int: strconv.ParseInt: parsing \"{value}\": "
                            "invalid syntax") from None
    raise _decoding(f"'{field}' expected type 'int', got unconvertible type '{type(value).__name__}'")


def _bool(value: Any) -> Optional[bool]:
    if value is None:
        return None
    if isinstance(value, str):
        if value == "":
            return False
        if value.lower() in ("1", "t", "true"):
            return True
        if value.lower() in ("0", "f", "false"):
            return False
        raise JobspecError(f"cannot parse '{value}' as bool")
    return bool(value)


def _str(value: Any) -> Optional[str]:
    if value is None:
        return None
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        return repr(value) if not value.is_integer() else str(int(value))
    return str(value)


def _duration(value: Any) -> Optional[int]:
    """StringToTimeDurationHookFunc, then weak decoding: a string is a Go duration, a
    number is nanoseconds."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            return parse_duration(value)
        except ValueError as exc:
            raise _decoding(str(exc)) from None
    return _int(value)


def _strings(value: Any) -> Optional[list[str]]:
    if value is None:
        return None
    items = value if isinstance(value, list) else [value]
    return [_str(v) or "" for v in items]


def _string_map(bodies: list[dict[str, Any]]) -> Optional[dict[str, str]]:
    """Repeated ``meta``/``env``/``options`` blocks merged into one map of strings."""
    if not bodies:
        return None
    out: dict[str, str] = {}
    for body in bodies:
        for key, value in body.items():
            out[key] = _str(value[0] if isinstance(value, list) and len(value) == 1 else value) or ""
    return dict(sorted(out.items()))


def _get(body: dict[str, Any], key: str) -> Any:
    """A scalar field: mapstructure matches names case-insensitively."""
    for name, value in body.items():
        if name.lower() == key.lower():
            return value
    return None


def _fields(body: dict[str, Any], spec: list[tuple[str, str, Callable[[Any], Any], Any]]) -> dict[str, Any]:
    """Go's struct in field order: (Go name, HCL key, decoder, zero value)."""
    out: dict[str, Any] = {}
    for go_name, key, decode, zero in spec:
        raw = _get(body, key)
        if raw is None:
            out[go_name] = zero
        else:
            out[go_name] = decode(raw, go_name) if decode is _int else decode(raw)
    return out


# --- stanzas ----------------------------------------------------------------------------

def _constraints(value: Any) -> list[dict[str, Any]]:
    out = []
    for body in _bodies(value):
        _check_keys(body, ("attribute", "distinct_hosts", "distinct_property", "operator", "regexp",
                           "set_contains", "value", "version"))
        ltarget, rtarget, operand = body.get("attribute"), body.get("value"), body.get("operator")
        for special in ("version", "regexp", "set_contains"):
            if special in body:
                operand, rtarget = special, body[special]
        if "distinct_hosts" in body:
            try:
                enabled = _bool(body["distinct_hosts"])
            except JobspecError as exc:
                raise JobspecError(f"distinct_hosts should be set to true or false; {exc}") from None
            if not enabled:
                continue
            operand = "distinct_hosts"
        if "distinct_property" in body:
            operand, ltarget = "distinct_property", body["distinct_property"]
        out.append({"LTarget": _str(ltarget) or "", "RTarget": _str(rtarget) or "",
                    "Operand": _str(operand) or "="})
    return out


def _update(value: Any) -> dict[str, Any]:
    body = _one(value, "update", "only one 'update' block allowed")
    _check_keys(body, ("stagger", "max_parallel", "health_check", "min_healthy_time", "healthy_deadline",
                       "auto_revert", "canary"))
    return _fields(body, [("Stagger", "stagger", _duration, None), ("MaxParallel", "max_parallel", _int, None),
                          ("HealthCheck", "health_check", _str, None),
                          ("MinHealthyTime", "min_healthy_time", _duration, None),
                          ("HealthyDeadline", "healthy_deadline", _duration, None),
                          ("AutoRevert", "auto_revert", _bool, None), ("Canary", "canary", _int, None)])


def _periodic(value: Any) -> dict[str, Any]:
    body = _one(value, "periodic", "only one 'periodic' block allowed per job")
    _check_keys(body, ("enabled", "cron", "prohibit_overlap", "time_zone"))
    enabled = None
    if "enabled" in body:
        try:
            enabled = _bool(body["enabled"])
        except JobspecError as exc:
            raise JobspecError(f"periodic.enabled should be set to true or false; {exc}") from None
    cron = body.get("cron")
    return {"Enabled": enabled, "Spec": _str(cron), "SpecType": "cron" if cron is not None else None,
            "ProhibitOverlap": _bool(body.get("prohibit_overlap")), "TimeZone": _str(body.get("time_zone"))}


def _parameterized(value: Any) -> dict[str, Any]:
    body = _one(value, "parameterized", "only one 'parameterized' block allowed per job")
    _check_keys(body, ("payload", "meta_required", "meta_optional"))
    return {"Payload": _str(body.get("payload")) or "", "MetaRequired": _strings(body.get("meta_required")),
            "MetaOptional": _strings(body.get("meta_optional"))}


def _vault(value: Any) -> Optional[dict[str, Any]]:
    body = _optional_one(value, "only one 'vault' block allowed per task")
    if body is None:
        return None
    _check_keys(body, ("policies", "env", "change_mode", "change_signal"), "vault ->")
    return {"Policies": _strings(body.get("policies")),
            "Env": _bool(body["env"]) if "env" in body else True,
            "ChangeMode": _str(body["change_mode"]) if "change_mode" in body else "restart",
            "ChangeSignal": _str(body.get("change_signal"))}


def _restart(value: Any) -> dict[str, Any]:
    body = _one(value, "restart", "only one 'restart' block allowed")
    _check_keys(body, ("attempts", "interval", "delay", "mode"))
    return _fields(body, [("Interval", "interval", _duration, None), ("Attempts", "attempts", _int, None),
                          ("Delay", "delay", _duration, None), ("Mode", "mode", _str, None)])


def _ephemeral_disk(value: Any) -> dict[str, Any]:
    body = _one(value, "ephemeral_disk", "only one 'ephemeral_disk' block allowed")
    _check_keys(body, ("sticky", "size", "migrate"))
    return _fields(body, [("Sticky", "sticky", _bool, None), ("Migrate", "migrate", _bool, None),
                          ("SizeMB", "size", _int, None)])


def _resources(value: Any) -> Optional[dict[str, Any]]:
    body = _optional_one(value, "only one 'resource' block allowed per task")
    if body is None:
        return None
    _check_keys(body, ("cpu", "iops", "disk", "memory", "network"), "resources ->")
    out = _fields(body, [("CPU", "cpu", _int, None), ("MemoryMB", "memory", _int, None),
                         ("DiskMB", "disk", _int, None), ("IOPS", "iops", _int, None)])
    out["Networks"] = None
    net = _optional_one(body.get("network"), "only one 'network' resource allowed")
    if net is not None:
        _check_keys(net, ("mbits", "port"), "resources, network ->")
        reserved: Optional[list[dict[str, Any]]] = None
        dynamic: Optional[list[dict[str, Any]]] = None
        seen: set[str] = set()
        for label, port in _labelled(net.get("port"), "port") if "port" in net else []:
            if not DYNAMIC_PORT.match(label):
                raise JobspecError("resources, network, ports -> Port label does not conform to naming "
                                   f"requirements {DYNAMIC_PORT.pattern}")
            if label.lower() in seen:
                raise JobspecError(f"resources, network, ports -> found a port label collision: {label}")
            seen.add(label.lower())
            static = _int(port.get("static")) or 0
            entry = {"Label": label, "Value": static}
            if static > 0:
                reserved = (reserved or []) + [entry]
            else:
                dynamic = (dynamic or []) + [entry]
        out["Networks"] = [{"Device": "", "CIDR": "", "IP": "", "MBits": _int(net.get("mbits")),
                            "ReservedPorts": reserved, "DynamicPorts": dynamic}]
    return out


def _check_restart(value: Any) -> Optional[dict[str, Any]]:
    bodies = _bodies(value)
    if not bodies:
        return None
    body = bodies[0]
    _check_keys(body, ("limit", "grace", "ignore_warnings"), "check_restart ->")
    return {"Limit": _int(body.get("limit")) or 0, "Grace": _duration(body.get("grace")),
            "IgnoreWarnings": bool(_bool(body.get("ignore_warnings")))}


def _checks(value: Any) -> list[dict[str, Any]]:
    out = []
    for body in _bodies(value):
        _check_keys(body, ("name", "type", "interval", "timeout", "path", "protocol", "port", "command", "args",
                           "initial_status", "tls_skip_verify", "header", "method", "check_restart",
                           "address_mode"), "check ->")
        header: Optional[dict[str, list[str]]] = None
        for block in _bodies(body.get("header")):
            header = header or {}
            for key, values in block.items():
                header.setdefault(key, []).extend(_strings(values) or [])
        check = _fields(body, [("Id", "id", _str, ""), ("Name", "name", _str, ""), ("Type", "type", _str, ""),
                               ("Command", "command", _str, ""), ("Args", "args", _strings, None),
                               ("Path", "path", _str, ""), ("Protocol", "protocol", _str, ""),
                               ("PortLabel", "port", _str, ""), ("AddressMode", "address_mode", _str, ""),
                               ("Interval", "interval", _duration, 0), ("Timeout", "timeout", _duration, 0),
                               ("InitialStatus", "initial_status", _str, ""),
                               ("TLSSkipVerify", "tls_skip_verify", _bool, False)])
        check["Header"] = _sorted_maps(header)
        check["Method"] = _str(body.get("method")) or ""
        with _prefix(f"check: '{check['Name']}',"):
            check["CheckRestart"] = _check_restart(body.get("check_restart"))
        out.append(check)
    return out


def _services(value: Any) -> list[dict[str, Any]]:
    out = []
    for i, body in enumerate(_bodies(value)):
        _check_keys(body, ("name", "tags", "port", "check", "address_mode"), f"service ({i}) ->")
        service = _fields(body, [("Id", "id", _str, ""), ("Name", "name", _str, ""),
                                 ("Tags", "tags", _strings, None), ("PortLabel", "port", _str, ""),
                                 ("AddressMode", "address_mode", _str, "")])
        with _prefix(f"service: '{service['Name']}',"):
            service["Checks"] = _checks(body["check"]) if "check" in body else None
        service["CheckRestart"] = _check_restart(body.get("check_restart"))
        out.append(service)
    return out


def _artifacts(value: Any) -> list[dict[str, Any]]:
    out = []
    for body in _bodies(value):
        _check_keys(body, ("source", "options", "mode", "destination"))
        options = _bodies(body.get("options"))
        if len(options) > 1:
            raise JobspecError("options:  only one 'options' block allowed per artifact")
        out.append({"GetterSource": _str(body.get("source")), "GetterOptions": _string_map(options),
                    "GetterMode": _str(body.get("mode")), "RelativeDest": _str(body.get("destination"))})
    return out


def _templates(value: Any) -> list[dict[str, Any]]:
    out = []
    for body in _bodies(value):
        _check_keys(body, ("change_mode", "change_signal", "data", "destination", "left_delimiter", "perms",
                           "right_delimiter", "source", "splay", "env", "vault_grace"))
        out.append({
            "SourcePath": _str(body.get("source")), "DestPath": _str(body.get("destination")),
            "EmbeddedTmpl": _str(body.get("data")),
            "ChangeMode": _str(body["change_mode"]) if "change_mode" in body else "restart",
            "ChangeSignal": _str(body.get("change_signal")),
            "Splay": _duration(body["splay"]) if "splay" in body else 5_000_000_000,
            "Perms": _str(body["perms"]) if "perms" in body else "0644",
            "LeftDelim": _str(body.get("left_delimiter")), "RightDelim": _str(body.get("right_delimiter")),
            "Envvars": _bool(body.get("env")), "VaultGrace": _duration(body.get("vault_grace"))})
    return out


_TASK_KEYS = ("artifact", "config", "constraint", "dispatch_payload", "driver", "env", "kill_timeout", "leader",
              "logs", "meta", "resources", "service", "shutdown_delay", "template", "user", "vault", "kill_signal")


def _task(name: str, body: dict[str, Any]) -> dict[str, Any]:
    """parseTasks for one task, its checks in Go's order (the first error wins)."""
    _check_keys(body, _TASK_KEYS, f"'{name}' ->")
    # The scalar fields, decoded first.
    kill_timeout = _duration(body.get("kill_timeout"))
    shutdown_delay = _duration(body.get("shutdown_delay")) or 0
    leader = bool(_bool(body.get("leader")))
    env = _string_map(_bodies(body.get("env")))
    with _prefix(f"'{name}',"):
        services = _services(body["service"]) if "service" in body else None
    config: Optional[dict[str, Any]] = None
    for block in _bodies(body.get("config")):
        config = config or {}
        config.update({k: _decoded(v) for k, v in block.items()})
    with _prefix(f"'{name}', constraint ->"):
        constraints = _constraints(body["constraint"]) if "constraint" in body else None
    meta = _string_map(_bodies(body.get("meta")))
    with _prefix(f"'{name}',"):
        resources = _resources(body.get("resources"))
    logs = _bodies(body.get("logs"))
    if len(logs) > 1:
        raise JobspecError(f"only one logs block is allowed in a Task. Number of logs block found: {len(logs)}")
    log_config = None
    if logs:
        _check_keys(logs[0], ("max_files", "max_file_size"), f"'{name}', logs ->")
        log_config = {"MaxFiles": _int(logs[0].get("max_files"), "MaxFiles"),
                      "MaxFileSizeMB": _int(logs[0].get("max_file_size"), "MaxFileSizeMB")}
    with _prefix(f"'{name}', artifact ->"):
        artifacts = _artifacts(body["artifact"]) if "artifact" in body else None
    with _prefix(f"'{name}', template ->"):
        templates = _templates(body["template"]) if "template" in body else None
    with _prefix(f"'{name}', vault ->"):
        vault = _vault(body.get("vault"))
    payload = _bodies(body.get("dispatch_payload"))
    if len(payload) > 1:
        raise JobspecError("only one dispatch_payload block is allowed in a task. Number of dispatch_payload "
                           f"blocks found: {len(payload)}")
    if payload:
        _check_keys(payload[0], ("file",), f"'{name}', dispatch_payload ->")
    return {
        "Name": name,
        "Driver": _str(body.get("driver")) or "",
        "User": _str(body.get("user")) or "",
        "Config": _sorted_maps(config),
        "Constraints": constraints,
        "Env": env,
        "Services": services,
        "Resources": resources,
        "Meta": meta,
        "KillTimeout": kill_timeout,
        "LogConfig": log_config,
        "Artifacts": artifacts,
        "Vault": vault,
        "Templates": templates,
        "DispatchPayload": {"File": _str(payload[0].get("file")) or ""} if payload else None,
        "Leader": leader,
        "ShutdownDelay": shutdown_delay,
        "KillSignal": _str(body.get("kill_signal")) or "",
    }


def _tasks(value: Any) -> list[dict[str, Any]]:
    return [_task(name, body) for name, body in _labelled(value, "task")]


def _group(name: str, body: dict[str, Any]) -> dict[str, Any]:
    """parseGroups for one group, in Go's order."""
    _check_keys(body, ("count", "constraint", "restart", "meta", "task", "ephemeral_disk", "update", "vault"),
                f"'{name}' ->")
    count = _int(body.get("count"), "Count")
    with _prefix(f"'{name}', constraint ->"):
        constraints = _constraints(body["constraint"]) if "constraint" in body else None
    with _prefix(f"'{name}', restart ->"):
        restart = _restart(body["restart"]) if "restart" in body else None
    with _prefix(f"'{name}', ephemeral_disk ->"):
        disk = _ephemeral_disk(body["ephemeral_disk"]) if "ephemeral_disk" in body else None
    with _prefix("update ->"):
        update = _update(body["update"]) if "update" in body else None
    meta = _string_map(_bodies(body.get("meta")))
    with _prefix(f"'{name}', task:"):
        tasks = _tasks(body["task"]) if "task" in body else None
    with _prefix(f"'{name}', vault ->"):
        vault = _vault(body.get("vault"))
    if vault is not None:
        for task in tasks or []:
            if task["Vault"] is None:
                task["Vault"] = vault
    return {"Name": name, "Count": count, "Constraints": constraints, "Tasks": tasks, "RestartPolicy": restart,
            "EphemeralDisk": disk, "Update": update, "Meta": meta}


_JOB_KEYS = ("all_at_once", "constraint", "datacenters", "parameterized", "group", "id", "meta", "name",
             "namespace", "periodic", "priority", "region", "task", "type", "update", "vault", "vault_token")


def _job(name: str, body: dict[str, Any]) -> dict[str, Any]:
    """parseJob, in Go's order."""
    job_id = _str(body["id"]) if "id" in body else name
    priority = _int(body.get("priority"), "Priority")
    all_at_once = _bool(body.get("all_at_once"))
    _check_keys(body, _JOB_KEYS, "job:")
    with _prefix("constraint ->"):
        constraints = _constraints(body["constraint"]) if "constraint" in body else None
    with _prefix("update ->"):
        update = _update(body["update"]) if "update" in body else None
    with _prefix("periodic ->"):
        periodic = _periodic(body["periodic"]) if "periodic" in body else None
    with _prefix("parameterized ->"):
        parameterized = _parameterized(body["parameterized"]) if "parameterized" in body else None
    meta = _string_map(_bodies(body.get("meta")))
    groups: Optional[list[dict[str, Any]]] = None
    with _prefix("task:"):
        if "task" in body:  # tasks outside a group: one group each
            groups = [{"Name": t["Name"], "Count": None, "Constraints": None, "Tasks": [t], "RestartPolicy": None,
                       "EphemeralDisk": None, "Update": None, "Meta": None} for t in _tasks(body["task"])]
    with _prefix("group:"):
        if "group" in body:
            groups = (groups or []) + [_group(label, group) for label, group in _labelled(body["group"], "group")]
    with _prefix("vault ->"):
        vault = _vault(body.get("vault"))
    if vault is not None:
        for group in groups or []:
            for task in group["Tasks"] or []:
                if task["Vault"] is None:
                    task["Vault"] = vault
    return {
        "Stop": None, "Region": _str(body.get("region")), "Namespace": _str(body.get("namespace")),
        "ID": job_id, "ParentID": None, "Name": _str(body["name"]) if "name" in body else name,
        "Type": _str(body.get("type")), "Priority": priority, "AllAtOnce": all_at_once,
        "Datacenters": _strings(body.get("datacenters")), "Constraints": constraints, "TaskGroups": groups,
        "Update": update, "Periodic": periodic, "ParameterizedJob": parameterized, "Payload": None, "Meta": meta,
        "VaultToken": _str(body.get("vault_token")),
        "Status": None, "StatusDescription": None, "Stable": None, "Version": None, "SubmitTime": None,
        "CreateIndex": None, "ModifyIndex": None, "JobModifyIndex": None,
    }


def parse(text: str) -> dict[str, Any]:
    """The API job a job file describes (``jobspec.Parse``), or :class:`JobspecError`."""
    try:
        root = _load(text)
    except JobspecError:
        raise
    except ValueError as exc:
        message = str(exc)
        if message.startswith("Unexpected end of file; expected RIGHTBRACE"):
            message = "object expected closing RBRACE got: EOF"  # Go HCL's words
        raise JobspecError(f"error parsing: {message}") from None
    if not isinstance(root, dict):
        raise JobspecError("error parsing: root should be an object")
    _check_keys(root, ("job",))
    if "job" not in root:
        raise JobspecError("'job' stanza not found")
    jobs = root["job"]
    if isinstance(jobs, dict) and (not jobs or any(not isinstance(v, dict) for v in jobs.values())):
        # ``job { ... }``: its body's own keys (a value that is no block) came up a level.
        raise JobspecError("error parsing 'job': 'job' block missing name")
    if isinstance(jobs, list) or (isinstance(jobs, dict) and len(jobs) > 1):
        raise JobspecError("error parsing 'job': only one 'job' block allowed")
    if not isinstance(jobs, dict):
        raise JobspecError("error parsing 'job': 'job' block missing name")
    (name, body), = jobs.items()
    if not isinstance(body, dict):
        raise JobspecError(f"error parsing 'job': job '{name}' value: should be an object")
    try:
        return _job(name, body)
    except JobspecError as exc:
        raise JobspecError(f"error parsing 'job': {exc}") from None
    except (TypeError, ValueError, AttributeError, KeyError, IndexError, OverflowError) as exc:
        # A shape no rule above expected: still a refusal of the file, never a crash.
        raise JobspecError(f"error parsing 'job': {exc}") from None


def parse_dir(path: str | os.PathLike[str]) -> list[tuple[str, dict[str, Any]]]:
    """Every ``*.nomad`` and ``*.hcl`` file of a directory, by name: (file name, API
    job). A file the parser refuses raises :class:`JobspecError` naming it, as the CLI
    does (``Error parsing job file from NAME: ...``)."""
    directory = Path(path)
    if not directory.is_dir():
        raise JobspecError(f"{directory} is not a directory")
    out = []
    for file in sorted(p for p in directory.iterdir() if p.suffix in (".nomad", ".hcl") and p.is_file()):
        try:
            out.append((file.name, parse(file.read_text())))
        except JobspecError as exc:
            raise JobspecError(f"Error parsing job file from {file.name}: {exc}") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise JobspecError(f"Error reading job file {file.name}: {exc}") from None
    return out
