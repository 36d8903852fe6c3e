"""The client agent's allocation filesystem and logs (v0.7.1
``command/agent/fs_endpoint.go``), over the simulated allocation directory of
:mod:`nomadjobs.allocfs`. Every answer is computed from the allocation in the state.
"""

from __future__ import annotations

import base64
import json
from typing import Any, Optional

from . import acl as aclmod
from .allocfs import Dir, File, FsError, alloc_tree, file_info, resolve
from .core.protocol import Core
from .errors import NomadError, not_found, permission_denied
from .golang.strconv import parse_bool
from .query import QueryOptions
from . import structs as s

__all__ = ["ClientService"]

FRAME_BYTES = 64 * 1024  # the stream framer's largest frame


def _go_parse_int(field: str, text: str) -> int:
    try:
        if text.strip() != text or not text.lstrip("+-").isdigit():
            raise ValueError
        return int(text)
    except ValueError:
        raise NomadError(f'error parsing {field}: strconv.ParseInt: parsing "{text}": invalid syntax') from None


class ClientService:
    """``/v1/client/fs/<op>/<alloc>`` (no method check, as in Nomad)."""

    def __init__(self, core: Core) -> None:
        self.core = core

    def _alloc(self, alloc_id: str, q: QueryOptions, *capabilities: str) -> s.Allocation:
        if self.core.acl_enabled:
            acl = aclmod.resolve(self.core.snapshot(), True, q.token)
            if not any(acl.allow(q.namespace, cap) for cap in capabilities):
                raise permission_denied()
        alloc = self.core.snapshot().alloc_by_id(alloc_id) if alloc_id else None
        if alloc is None:
            raise NomadError(f'unknown allocation ID "{alloc_id}"')
        return alloc

    @staticmethod
    def _require_path(alloc_id: str, path: str) -> None:
        if not alloc_id:
            raise NomadError("must provide a valid alloc id")
        if not path:
            raise NomadError("must provide a file name")

    def _node(self, alloc_id: str, path: str, q: QueryOptions) -> tuple[str, Optional[Dir | File]]:
        if not alloc_id:
            raise NomadError("must provide a valid alloc id")
        alloc = self._alloc(alloc_id, q, aclmod.CAP_READ_FS)
        try:
            return resolve(alloc_tree(alloc), alloc_id, path)
        except FsError as exc:
            raise NomadError(str(exc)) from None

    def ls(self, alloc_id: str, path: str, q: QueryOptions) -> list[dict[str, Any]]:
        absolute, node = self._node(alloc_id, path or "/", q)
        if node is None:
            raise NomadError(f"open {absolute}: no such file or directory")
        if not isinstance(node, Dir):
            raise NomadError(f"readdirent {absolute}: not a directory")
        return [file_info(child) for _, child in sorted(node.children.items())]

    def stat(self, alloc_id: str, path: str, q: QueryOptions) -> dict[str, Any]:
        self._require_path(alloc_id, path)
        absolute, node = self._node(alloc_id, path, q)
        if node is None:
            raise NomadError(f"stat {absolute}: no such file or directory")
        return file_info(node)

    def _file(self, alloc_id: str, path: str, q: QueryOptions) -> File:
        self._require_path(alloc_id, path)
        absolute, node = self._node(alloc_id, path, q)
        if node is None:
            raise NomadError(f"stat {absolute}: no such file or directory")
        if isinstance(node, Dir):
            raise NomadError(f'file "{path}" is a directory')
        return node

    def cat(self, alloc_id: str, path: str, q: QueryOptions) -> bytes:
        return self._file(alloc_id, path, q).data

    def readat(self, alloc_id: str, path: str, offset: Optional[str], limit: Optional[str],
               q: QueryOptions) -> bytes:
        self._require_path(alloc_id, path)  # before the offset, as Nomad checks them
        start = _go_parse_int("offset", offset or "")
        count = _go_parse_int("limit", limit) if limit else 0
        data = self._file(alloc_id, path, q).data
        if start < 0:
            raise NomadError(f"can't seek to offset '{start}': invalid argument")
        return data[start:start + count] if count > 0 else data[start:]

    def logs(self, alloc_id: str, task: str, log_type: str, plain: Optional[str], follow: Optional[str],
             offset: Optional[str], origin: Optional[str], q: QueryOptions) -> bytes:
        """What ``/v1/client/fs/logs`` sends before it ends (it does not follow: the
        simulated task writes everything at its start)."""
        if not alloc_id:
            raise NomadError("must provide a valid alloc id")
        if not task:
            raise NomadError("must provide task name")
        for name, value in (("follow", follow), ("plain", plain)):
            if value:
                try:
                    parse_bool(value)
                except ValueError:
                    raise NomadError(f"Failed to parse {name} field to boolean: strconv.ParseBool: "
                                     f'parsing "{value}": invalid syntax') from None
        if log_type not in ("stdout", "stderr"):
            raise NomadError("must provide log type (stdout/stderr)")
        skip = _go_parse_int("offset", offset) if offset else 0
        where = origin or "start"
        if where not in ("start", "end"):
            raise NomadError("origin must be start or end")
        alloc = self._alloc(alloc_id, q, aclmod.CAP_READ_FS, aclmod.CAP_READ_LOGS)
        group = alloc.Job.lookup_task_group(alloc.TaskGroup) if alloc.Job is not None else None
        if group is None or not any(t.Name == task for t in group.Tasks or ()):
            raise not_found(f'task group "{alloc.TaskGroup}" does not have task with name "{task}"')
        state = (alloc.TaskStates or {}).get(task)
        if state is None or state.StartedAt in (None, s.ZERO_TIME):
            raise not_found(f'task "{task}" not started yet. No logs available')
        name = f"alloc/logs/{task}.{log_type}.0"
        _, node = resolve(alloc_tree(alloc), alloc_id, name)
        data = node.data if isinstance(node, File) else b""
        start = max(0, len(data) - skip) if where == "end" else min(skip, len(data))
        chunk = data[start:]
        if plain and parse_bool(plain):
            return chunk
        frames = []
        for at in range(0, len(chunk), FRAME_BYTES):
            piece = chunk[at:at + FRAME_BYTES]
            frames.append(json.dumps({"Offset": start + at + len(piece), "Data": base64.b64encode(piece).decode(),
                                      "File": name}, separators=(",", ":")))
        return "".join(frames).encode()
