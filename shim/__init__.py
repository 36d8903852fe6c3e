"""The HTTP shim: Nomad v0.7.1's HTTP API served by Falcon from an in-memory cluster."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .app import create_app

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    # Loaded on first use: ``nomadjobs-server`` (shim.server) decides when Falcon and
    # the library are imported (see its main()).
    if name == "create_app":
        from .app import create_app
        return create_app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
