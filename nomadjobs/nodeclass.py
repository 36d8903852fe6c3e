"""Computed node classes (``nomad/structs/node_class.go``).

Outside the scheduler package because building a node needs it, and creating a
cluster should not have to import the scheduler.

Nodes that look alike to the scheduler share a computed class, so one feasibility
verdict can be reused for all of them. Nomad hashes the node with hashstructure; we
hash a canonical JSON rendering of the same fields instead, which is just as stable.
Like Nomad's ``HashInclude``, only Datacenter, Attributes, Meta and NodeClass count,
and attributes/meta whose key starts with ``unique.`` are left out.
"""

from __future__ import annotations

import hashlib
import json
from typing import Optional

from .structs import Node

_UNIQUE = "unique."


def _without_unique(m: Optional[dict[str, str]]) -> dict[str, str]:
    return {k: v for k, v in sorted((m or {}).items()) if not k.startswith(_UNIQUE)}


def computed_class(node: Node) -> str:
    """``v1:<uint64>`` for the node's scheduling-relevant fields."""
    doc = {
        "Datacenter": node.Datacenter,
        "Attributes": _without_unique(node.Attributes),
        "Meta": _without_unique(node.Meta),
        "NodeClass": node.NodeClass,
    }
    raw = json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()
    value = int.from_bytes(hashlib.sha256(raw).digest()[:8], "big")
    return f"v1:{value}"
