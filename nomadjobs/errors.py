"""Typed errors carrying Nomad's message and the HTTP status Nomad answers with."""

from __future__ import annotations

from typing import Optional

PERMISSION_DENIED = "Permission denied"
TOKEN_NOT_FOUND = "ACL token not found"


class NomadError(Exception):
    """An error a client of Nomad would see: ``str(err)`` is the exact body text.

    ``code`` follows Nomad's HTTP agent: explicit codes for the HTTP-layer checks,
    403 for the two ACL messages, 500 for everything the servers return.
    ``index`` is set when Nomad still sends ``X-Nomad-Index`` with the error (reads
    answer 404 after computing their index).
    """

    def __init__(self, message: str, code: Optional[int] = None, index: Optional[int] = None) -> None:
        super().__init__(message)
        self.message = message
        if code is None:
            code = 403 if message in (PERMISSION_DENIED, TOKEN_NOT_FOUND) else 500
        self.code = code
        self.index = index

    def __str__(self) -> str:
        return self.message


def bad_request(message: str) -> NomadError:
    return NomadError(message, 400)


def not_found(message: str, index: Optional[int] = None) -> NomadError:
    return NomadError(message, 404, index)


def method_not_allowed() -> NomadError:
    return NomadError("Invalid method", 405)


def permission_denied() -> NomadError:
    return NomadError(PERMISSION_DENIED, 403)
