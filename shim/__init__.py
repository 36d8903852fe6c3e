"""The HTTP shim: Nomad v0.7.1's HTTP API served by Falcon from an in-memory cluster."""

from .app import create_app

__all__ = ["create_app"]
