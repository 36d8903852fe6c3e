"""The client agent's endpoints (v0.7.1 ``command/agent/fs_endpoint.go``,
``alloc_endpoint.go``, ``stats_endpoint.go``) over the simulated allocation directory
of :mod:`nomadjobs.allocfs` and the usage of :mod:`nomadjobs.client_stats`. Every
answer is computed from the allocation in the state.

The simulated clients share one agent address, so ``/v1/client/stats`` reports the
agent's own node (:func:`~nomadjobs.fleet.agent_node`).
"""

from __future__ import annotations

import io
import tarfile
import threading
from typing import Any, Callable, Iterable, Optional, Union

from . import acl as aclmod
from .allocfs import DATA_DIR, Dir, File, FsError, alloc_tree, file_info, resolve
from .client_stats import alloc_usage, host_stats, running_tasks, task_names
from .client_stream import Follower, frames
from .core.protocol import Core
from .fleet import agent_node
from .errors import NomadError, not_found, permission_denied
from .golang.strconv import parse_bool
from .golang.time import rfc3339_seconds
from .query import QueryOptions
from .state.store import StateReader
from . import structs as s

__all__ = ["ClientService", "Answer"]

#: A client answer's body: bytes, or an endless stream of them.
Answer = Union[bytes, Iterable[bytes]]

NO_CLIENT = "node is not running a Nomad Client"


def _go_parse_int(field: str, text: str) -> int:
    try:
        if text.strip() != text or not text.lstrip("+-").isdigit():
            raise ValueError
        return int(text)
    except ValueError:
        raise NomadError(f'error parsing {field}: strconv.ParseInt: parsing "{text}": invalid syntax') from None


def _parse_flag(name: str, value: Optional[str]) -> bool:
    if not value:
        return False
    try:
        return parse_bool(value)
    except ValueError:
        raise NomadError(f"Failed to parse {name} field to boolean: strconv.ParseBool: "
                         f'parsing "{value}": invalid syntax') from None


def _origin(origin: Optional[str]) -> str:
    where = origin or "start"
    if where not in ("start", "end"):
        raise NomadError("origin must be start or end")
    return where


def _seek_error(offset: int, absolute: str) -> NomadError:
    # Go formats the int64 with %q: a negative one is no rune, so U+FFFD.
    return NomadError(f"can't seek to offset '\ufffd': seek {absolute}: invalid argument")


class ClientService:
    """``/v1/client/fs/<op>/<alloc>``, ``/v1/client/allocation/<alloc>/<action>`` and
    ``/v1/client/stats`` (no method checks, as in Nomad)."""

    def __init__(self, core: Core) -> None:
        self.core = core
        self._started_ns = core.now_ns()  # the simulated hosts' boot
        #: Allocations whose directories the client has destroyed (alloc GC): client
        #: state, outside the replicated FSM as on a real client.
        self._collected: set[str] = set()
        self._lock = threading.Lock()
        #: Set on close: open streams end.
        self.closed = threading.Event()

    def close(self) -> None:
        self.closed.set()

    # --- shared checks -----------------------------------------------------------------
    def _check(self, q: QueryOptions, *capabilities: str) -> None:
        if self.core.acl_enabled:
            acl = aclmod.resolve(self.core.snapshot(), True, q.token)
            if not any(acl.allow(q.namespace, cap) for cap in capabilities):
                raise permission_denied()

    def _client_node(self, state: StateReader) -> s.Node:
        node = agent_node(state.nodes())
        if node is None:
            raise NomadError(NO_CLIENT)
        return node

    def _alloc(self, alloc_id: str, q: QueryOptions, *capabilities: str) -> s.Allocation:
        self._check(q, *capabilities)
        state = self.core.snapshot()
        self._client_node(state)
        alloc = state.alloc_by_id(alloc_id) if alloc_id else None
        if alloc is None:
            raise NomadError(f'unknown allocation ID "{alloc_id}"')
        return alloc

    def _resolve(self, alloc: s.Allocation, path: str) -> tuple[str, Optional[Dir | File]]:
        try:
            absolute, node = resolve(alloc_tree(alloc), alloc.ID, path)
        except FsError as exc:
            raise NomadError(str(exc)) from None
        # A collected allocation's directory is gone, root included.
        return absolute, None if alloc.ID in self._collected else node

    @staticmethod
    def _require_path(alloc_id: str, path: str) -> None:
        if not alloc_id:
            raise NomadError("must provide a valid alloc id")
        if not path:
            raise NomadError("must provide a file name")

    def _node(self, alloc_id: str, path: str, q: QueryOptions) -> tuple[s.Allocation, str, Optional[Dir | File]]:
        if not alloc_id:
            raise NomadError("must provide a valid alloc id")
        alloc = self._alloc(alloc_id, q, aclmod.CAP_READ_FS)
        return (alloc, *self._resolve(alloc, path))

    def _stat_file(self, alloc_id: str, path: str, q: QueryOptions) -> tuple[s.Allocation, str, File]:
        """cat's and stream's checks: the path names a file that exists."""
        alloc, absolute, node = self._node(alloc_id, path, q)
        if node is None:
            raise NomadError(f"stat {absolute}: no such file or directory")
        if isinstance(node, Dir):
            raise NomadError(f'file "{path}" is a directory')
        return alloc, absolute, node

    def _reader(self, alloc_id: str, path: str) -> Callable[[StateReader], Optional[bytes]]:
        def read(state: StateReader) -> Optional[bytes]:
            alloc = state.alloc_by_id(alloc_id)
            if alloc is None:
                return None
            _, node = self._resolve(alloc, path)
            return node.data if isinstance(node, File) else None
        return read

    # --- /v1/client/fs ------------------------------------------------------------------
    def ls(self, alloc_id: str, path: str, q: QueryOptions) -> list[dict[str, Any]]:
        _, absolute, node = self._node(alloc_id, path or "/", q)
        if node is None:
            raise NomadError(f"open {absolute}: no such file or directory")
        if not isinstance(node, Dir):
            raise NomadError(f"readdirent {absolute}: not a directory")
        return [file_info(child) for _, child in sorted(node.children.items())]

    def stat(self, alloc_id: str, path: str, q: QueryOptions) -> dict[str, Any]:
        self._require_path(alloc_id, path)
        _, absolute, node = self._node(alloc_id, path, q)
        if node is None:
            raise NomadError(f"stat {absolute}: no such file or directory")
        return file_info(node)

    def cat(self, alloc_id: str, path: str, q: QueryOptions) -> bytes:
        self._require_path(alloc_id, path)
        return self._stat_file(alloc_id, path, q)[2].data

    def readat(self, alloc_id: str, path: str, offset: Optional[str], limit: Optional[str],
               q: QueryOptions) -> bytes:
        self._require_path(alloc_id, path)  # before the offset, as Nomad checks them
        start = _go_parse_int("offset", offset or "")
        count = _go_parse_int("limit", limit) if limit else 0
        alloc, absolute, node = self._node(alloc_id, path, q)
        # AllocDir.ReadAt: a string prefix test against each task's secrets directory.
        if any(absolute.startswith(f"{DATA_DIR}/{alloc.ID}/{task}/secrets") for task in task_names(alloc)):
            raise NomadError(f"Reading secret file prohibited: {path}")
        if node is None:
            raise NomadError(f"open {absolute}: no such file or directory")
        if start < 0:
            raise _seek_error(start, absolute)
        if isinstance(node, Dir):
            return b""  # reading a directory fails, and Nomad ignores the error
        return node.data[start:start + count] if count > 0 else node.data[start:]

    def stream(self, alloc_id: str, path: str, offset: Optional[str], origin: Optional[str], q: QueryOptions,
               alive: Optional[Callable[[], bool]] = None) -> Iterable[bytes]:
        """``/v1/client/fs/stream``: the file from ``offset``, then whatever is
        appended to it, framed, with heartbeats; it does not end on its own."""
        if not alloc_id:
            raise NomadError("must provide a valid alloc id")
        if not path:
            raise NomadError("must provide a file name")
        skip = _go_parse_int("offset", offset) if offset else 0
        where = _origin(origin)
        _, absolute, node = self._stat_file(alloc_id, path, q)
        start = len(node.data) - skip if where == "end" else skip
        if start < 0:
            raise _seek_error(start, absolute)
        return Follower(self.core.db, alloc_id, self._reader(alloc_id, path), path, start, False, self.closed,
                        alive)

    def logs(self, alloc_id: str, task: str, log_type: str, plain: Optional[str], follow: Optional[str],
             offset: Optional[str], origin: Optional[str], q: QueryOptions,
             alive: Optional[Callable[[], bool]] = None) -> Answer:
        """``/v1/client/fs/logs``: the task's log to its current end (bytes), or with
        ``follow``, an endless stream of it."""
        if not alloc_id:
            raise NomadError("must provide a valid alloc id")
        if not task:
            raise NomadError("must provide task name")
        following = _parse_flag("follow", follow)
        raw = _parse_flag("plain", plain)
        if log_type not in ("stdout", "stderr"):
            raise NomadError("must provide log type (stdout/stderr)")
        skip = _go_parse_int("offset", offset) if offset else 0
        where = _origin(origin)
        alloc = self._alloc(alloc_id, q, aclmod.CAP_READ_FS, aclmod.CAP_READ_LOGS)
        group = alloc.Job.lookup_task_group(alloc.TaskGroup) if alloc.Job is not None else None
        if group is None or not any(t.Name == task for t in group.Tasks or ()):
            raise not_found(f'task group "{alloc.TaskGroup}" does not have task with name "{task}"')
        state = (alloc.TaskStates or {}).get(task)
        if state is None or state.StartedAt in (None, s.ZERO_TIME):
            raise not_found(f'task "{task}" not started yet. No logs available')
        name = f"alloc/logs/{task}.{log_type}.0"
        data = self._reader(alloc_id, name)(self.core.snapshot()) or b""
        # findClosest clamps an offset past either end of the log.
        start = max(0, len(data) - skip) if where == "end" else min(skip, len(data))
        if following:
            return Follower(self.core.db, alloc_id, self._reader(alloc_id, name), name, start, raw, self.closed,
                            alive)
        # Streamed as Nomad streams it (chunked, the end in a write of its own); with
        # nothing to send, an empty answer with a length, as Nomad's is.
        sent = frames(data[start:], start, name, raw)
        return iter(sent) if sent else b""

    # --- /v1/client/allocation ----------------------------------------------------------
    def alloc_stats(self, alloc_id: str, task: str, q: QueryOptions) -> dict[str, Any]:
        alloc = self._alloc(alloc_id, q, aclmod.CAP_READ_JOB)
        if alloc.ID in self._collected:
            return alloc_usage([], None, 0)  # the destroyed runner has no tasks
        if task and task not in task_names(alloc):
            raise NomadError(f'allocation "{alloc_id}" has no task "{task}"')
        tasks = [t for t in running_tasks(alloc) if not task or t.Name == task]
        return alloc_usage(tasks, self.core.snapshot().node_by_id(alloc.NodeID), self.core.now_ns())

    def alloc_gc(self, alloc_id: str, q: QueryOptions) -> None:
        """The client destroys a finished allocation's directory; a running one, or one
        already collected, is not in its collector."""
        self._check(q, aclmod.CAP_SUBMIT_JOB)
        state = self.core.snapshot()
        self._client_node(state)
        alloc = state.alloc_by_id(alloc_id)
        with self._lock:
            if alloc is None or alloc.ClientStatus not in s.ALLOC_CLIENT_TERMINAL or alloc_id in self._collected:
                raise NomadError("unable to collect allocation: not present")
            self._collected.add(alloc_id)

    def alloc_snapshot(self, alloc_id: str, q: QueryOptions) -> bytes:
        """A tar of the directories a migrating allocation carries: the shared
        ``alloc/data`` and each task's ``local``."""
        self._client_node(self.core.snapshot())
        alloc = self.core.snapshot().alloc_by_id(alloc_id)
        if alloc is None:
            raise NomadError("allocation not found")
        if self.core.acl_enabled:
            raise permission_denied()  # the migrate token is the node's, which no caller holds
        out = io.BytesIO()
        tree = Dir("", s.ZERO_TIME) if alloc.ID in self._collected else alloc_tree(alloc)
        for top, child in [("alloc", "data")] + [(name, "local") for name in sorted(tree.children)
                                                   if name != "alloc"]:
            parent = tree.children.get(top)
            node = parent.children.get(child) if isinstance(parent, Dir) else None
            if not isinstance(node, Dir):
                continue
            info = tarfile.TarInfo(f"{top}/{child}")
            info.type, info.mode = tarfile.DIRTYPE, 0o777
            info.uid = info.gid = 65534
            info.uname, info.gname = "nobody", "nogroup"
            info.mtime = rfc3339_seconds(node.mtime)
            out.write(info.tobuf(tarfile.USTAR_FORMAT))
        out.write(b"\0" * 1024)  # Go's tar writer ends with two zero blocks, unpadded
        return out.getvalue()

    # --- /v1/client/stats ----------------------------------------------------------------
    def host_stats(self, q: QueryOptions) -> dict[str, Any]:
        state = self.core.snapshot()
        node = self._client_node(state)
        if self.core.acl_enabled and not aclmod.resolve(state, True, q.token).allow_node_read():
            raise permission_denied()
        now = self.core.now_ns()
        return host_stats(node, state.allocs_by_node(node.ID), max(0, (now - self._started_ns) // 10**9), now)

