"""Request options shared by every endpoint, parsed like Nomad's HTTP agent does.

The shim hands raw query parameters and headers to :meth:`QueryOptions.parse` and
:meth:`WriteOptions.parse`; library callers build the options directly.
"""

from __future__ import annotations

from typing import Mapping

import attrs

from .errors import NomadError, bad_request
from .golang.strconv import parse_bool, parse_uint
from .golang.time import parse_duration

MAX_BLOCKING_WAIT_S = 300.0  # Nomad caps blocking queries at 5 minutes in code
DEFAULT_BLOCKING_WAIT_S = 300.0


@attrs.frozen
class QueryOptions:
    namespace: str = "default"
    region: str = ""
    prefix: str = ""
    min_index: int = 0
    wait_s: float = 0.0
    stale: bool = False
    token: str = ""

    @classmethod
    def parse(cls, params: Mapping[str, str], headers: Mapping[str, str] | None = None) -> "QueryOptions":
        token = _token(headers)
        if not params and not token and cls is QueryOptions:
            return _NO_QUERY_OPTIONS  # the common bare GET: options are immutable, share them
        wait_s = 0.0
        if "wait" in params:
            try:
                wait_s = parse_duration(params["wait"]) / 1e9
            except ValueError:
                raise bad_request("Invalid wait time") from None
        min_index = 0
        if "index" in params:
            min_index, error = parse_uint(params["index"])
            if error:
                raise bad_request("Invalid index")
        return cls(namespace=params.get("namespace") or "default", region=params.get("region", ""),
                   prefix=params.get("prefix", ""), min_index=min_index, wait_s=wait_s,
                   stale="stale" in params, token=token)

    def blocking_wait(self) -> float:
        """Seconds a blocking query may wait: absent, non-positive or over the cap -> cap."""
        if self.wait_s <= 0 or self.wait_s > MAX_BLOCKING_WAIT_S:
            return DEFAULT_BLOCKING_WAIT_S
        return self.wait_s


_NO_QUERY_OPTIONS = QueryOptions()


@attrs.frozen
class WriteOptions:
    namespace: str = ""
    region: str = ""
    token: str = ""

    @classmethod
    def parse(cls, params: Mapping[str, str], headers: Mapping[str, str] | None = None) -> "WriteOptions":
        return cls(namespace=params.get("namespace", ""), region=params.get("region", ""), token=_token(headers))


@attrs.frozen
class QueryMeta:
    index: int
    last_contact: int = 0
    known_leader: bool = True


def _token(headers: Mapping[str, str] | None) -> str:
    if not headers:
        return ""
    for key in ("X-Nomad-Token", "x-nomad-token", "X-NOMAD-TOKEN"):
        if key in headers:
            return headers[key] or ""
    return ""


def parse_bool_param(params: Mapping[str, str], name: str) -> bool:
    """``purge``/``diffs``: Go's ParseBool, failing with Nomad's 500 message."""
    text = params.get(name, "")
    if text == "":
        return False
    try:
        return parse_bool(text)
    except ValueError as exc:
        raise NomadError(f'Failed to parse value of "{name}" ({text}) as a bool: {exc}') from None


def parse_bool_lenient(params: Mapping[str, str], name: str) -> bool:
    """``all``: a value Go cannot parse silently counts as false."""
    try:
        return parse_bool(params.get(name, ""))
    except ValueError:
        return False


def pretty(params: Mapping[str, str]) -> bool:
    """Present with an empty value or any value but "0" (``?pretty=false`` is pretty)."""
    return "pretty" in params and params["pretty"] != "0"
