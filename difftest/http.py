"""A minimal HTTP client for one side (stdlib only: the harness must not depend on
what it tests)."""

from __future__ import annotations

import http.client
import json
from typing import Any, Optional

import attrs


#: The status recorded when the server closed the connection without answering.
NO_ANSWER = 0


@attrs.frozen
class Answer:
    """One HTTP answer: status, headers (names lower-cased) and the raw body."""

    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def is_json(self) -> bool:
        return self.headers.get("content-type", "").startswith("application/json")

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status, "headers": self.headers, "body": self.body.decode("utf-8", "replace")}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Answer":
        return cls(int(data["status"]), dict(data["headers"]), str(data["body"]).encode())


def request(host: str, port: int, method: str, path: str, body: Optional[bytes] = None,
            headers: Optional[dict[str, str]] = None, timeout: float = 30.0) -> Answer:
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        data = resp.read()
        return Answer(resp.status, {k.lower(): v for k, v in resp.getheaders()}, data)
    except (http.client.RemoteDisconnected, ConnectionResetError):
        # The handler crashed (Go's server closes the connection after a panic).
        return Answer(NO_ANSWER, {}, b"")
    finally:
        conn.close()
