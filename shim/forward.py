"""A follower's requests go to the leader, as Nomad's servers forward RPCs.

On a replicated server, a request is answered here only if this server leads, if it
is a read that allows stale answers (``?stale``), or if it is about this agent
(``/v1/agent/``, ``/v1/regions``, ``/v1/metrics``, the admin routes).
Every other request is sent on to the leader's HTTP address, which its ``lead`` entry
in the Raft log announced, and the leader's answer streams back as it comes (logs that
follow, long polls). While there is no leader the request waits for one as long as
Nomad holds an RPC (5 s), then fails with Nomad's ``500 No cluster leader``.
"""

from __future__ import annotations

import http.client
import logging
from typing import TYPE_CHECKING, Callable, Iterable, Iterator, Optional
from urllib.parse import quote

from falcon.util.uri import parse_query_string

from nomadjobs.core.raft import NO_LEADER, Replica

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIEnvironment

__all__ = ["should_forward", "forward", "HOLD_S"]

log = logging.getLogger("nomadjobs.shim")

#: How long a request waits for a leader (Nomad's rpcHoldTimeout).
HOLD_S = 5.0
#: Answers the leader may take: a blocking query waits up to 10 minutes plus jitter.
PROXY_TIMEOUT_S = 11 * 60.0
# /v1/status/leader and /peers are forwarded: Nomad's Status RPCs need a leader too.
_LOCAL_PREFIXES = ("/v1/agent/", "/_nomadjobs/")
_LOCAL_PATHS = frozenset({"/v1/regions", "/v1/metrics"})
# Hop-by-hop headers (RFC 7230 6.1) stay with each connection.
_HOP = frozenset({"connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding",
                  "upgrade", "host", "content-length"})
_CHUNK = 64 * 1024


def should_forward(replica: Replica, method: str, path: str, query: str) -> bool:
    """Whether this request goes through :func:`forward` (see the module docstring): it
    is the leader's, and this server is not a leader ready for it. A server just
    elected answers reads at once and holds writes until its leadership is
    established (then :func:`forward` answers them here)."""
    if path.startswith(_LOCAL_PREFIXES) or path in _LOCAL_PATHS:
        return False
    if replica.serving_term is not None:
        return False
    reads = method in ("GET", "HEAD")
    if reads and replica.is_leader():
        return False
    return not (reads and "stale" in query and "stale" in parse_query_string(query, True))


def forward(replica: Replica, env: WSGIEnvironment, start_response: StartResponse,
            local: Callable[[WSGIEnvironment, StartResponse], Iterable[bytes]], max_body: int) -> Iterable[bytes]:
    """Answer through the leader, or through ``local(env, start_response)`` if this
    server turns out to lead once one is known. A body is sent on up to one byte past
    ``max_body``: the leader refuses it as too big."""
    target = replica.wait_for_leader(HOLD_S)
    if target is None:
        return _error(start_response, NO_LEADER)
    if target == "":
        return local(env, start_response)  # elected meanwhile
    method = env["REQUEST_METHOD"]
    body = _read_body(env, max_body + 1)
    headers = {_header_name(key): value for key, value in env.items()
               if key.startswith("HTTP_") and _header_name(key).lower() not in _HOP}
    if env.get("CONTENT_TYPE"):
        headers["Content-Type"] = env["CONTENT_TYPE"]
    uri = quote(env.get("PATH_INFO") or "/", safe="/$&+,:;=@!*'()~")
    if env.get("QUERY_STRING"):
        uri += "?" + env["QUERY_STRING"]
    host, _, port = target.rpartition(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=PROXY_TIMEOUT_S)
    try:
        conn.request(method, uri, body=body, headers=headers)
        answer = conn.getresponse()
    except OSError as exc:
        conn.close()
        # Nomad's words when the RPC to the leader fails.
        return _error(start_response, f"rpc error: {exc}")
    out = [(name, value) for name, value in answer.getheaders() if name.lower() not in _HOP]
    if method != "HEAD" and answer.getheader("Content-Length") is not None:
        out.append(("Content-Length", answer.getheader("Content-Length") or "0"))
    start_response(f"{answer.status} {answer.reason}", out)
    return _relay(conn, answer)


def _relay(conn: http.client.HTTPConnection, answer: http.client.HTTPResponse) -> Iterator[bytes]:
    try:
        while True:
            chunk = answer.read1(_CHUNK)
            if not chunk:
                return
            yield chunk
    except OSError as exc:  # the leader went away mid-answer: the client sees it end
        log.warning("forwarded answer cut: %s", exc)
    finally:
        conn.close()


def _read_body(env: WSGIEnvironment, limit: int) -> Optional[bytes]:
    stream = env.get("wsgi.input")
    if stream is None:
        return None
    length = env.get("CONTENT_LENGTH") or ""
    if length.isdigit():
        return stream.read(min(int(length), limit)) if int(length) else b""
    data = stream.read(limit)  # a de-chunked body: read to its end (or the limit)
    return data or None


def _header_name(key: str) -> str:
    return "-".join(part.capitalize() for part in key[5:].split("_"))


def _error(start_response: StartResponse, text: str) -> list[bytes]:
    """A 500 with Nomad's plain-text error body."""
    data = text.encode()
    start_response("500 Internal Server Error", [("Content-Type", "text/plain; charset=utf-8"),
                                                 ("Content-Length", str(len(data)))])
    return [data]
