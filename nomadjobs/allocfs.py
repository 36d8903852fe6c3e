"""The allocation directory a simulated client would have made (v0.7.1
``client/allocdir``), built from the allocation as the state holds it.

Layout, as on a real client: ``alloc/`` (``data/``, ``logs/``, ``tmp/``) shared by the
group, and one directory per task (``local/``, ``secrets/``, ``tmp/``). A task that has
started has ``alloc/logs/<task>.stdout.0`` and ``.stderr.0``; what it writes there is
its meta ``nomadjobs.stdout`` / ``nomadjobs.stderr``, once per start (nothing by
default).
"""

from __future__ import annotations

import posixpath
from typing import Optional, Union

import attrs

from . import structs as s
from .golang.time import rfc3339

__all__ = ["Dir", "File", "alloc_tree", "resolve", "DATA_DIR", "META_STDOUT", "META_STDERR", "FsError"]

META_STDOUT = "nomadjobs.stdout"
META_STDERR = "nomadjobs.stderr"
#: Where the simulated client keeps allocation directories (named in error texts).
DATA_DIR = "/var/lib/nomad/alloc"


class FsError(Exception):
    """A request the client's filesystem refuses; ``str()`` is Nomad's text."""


@attrs.frozen
class File:
    name: str
    mtime: str
    data: bytes = b""
    mode: str = "-rw-r--r--"


@attrs.frozen
class Dir:
    name: str
    mtime: str
    children: dict[str, Union["Dir", File]] = attrs.Factory(dict)
    mode: str = "drwxrwxrwx"
    size: int = 4096


Node = Union[Dir, File]


def _output(alloc: s.Allocation, task: str, key: str) -> bytes:
    spec = None
    group = alloc.Job.lookup_task_group(alloc.TaskGroup) if alloc.Job is not None else None
    for t in (group.Tasks or ()) if group is not None else ():
        if t.Name == task:
            spec = t
    text = ((spec.Meta or {}).get(key, "") if spec is not None else "") or ""
    state = (alloc.TaskStates or {}).get(task)
    starts = sum(1 for e in (state.Events or ()) if e.Type == "Started") if state is not None else 0
    return text.encode() * starts


def alloc_tree(alloc: s.Allocation) -> Dir:
    states = alloc.TaskStates or {}
    # The directory is made when the client receives the allocation: its first event.
    received = [e.Time for st in states.values() for e in (st.Events or ()) if e.Time]
    created = rfc3339(min(received)) if received else s.ZERO_TIME
    logs: dict[str, Node] = {}
    tasks: dict[str, Node] = {}
    for name in sorted(states):
        state = states[name]
        started = state.StartedAt or created
        tasks[name] = Dir(name, started, {
            # secrets is a tmpfs mount on a real client: an empty one reports 60 bytes.
            "local": Dir("local", started), "secrets": Dir("secrets", started, size=60),
            "tmp": Dir("tmp", started, mode="dtrwxrwxrwx")})
        if started != s.ZERO_TIME:
            for kind, key in (("stderr", META_STDERR), ("stdout", META_STDOUT)):
                file = f"{name}.{kind}.0"
                logs[file] = File(file, started, _output(alloc, name, key))
    shared = Dir("alloc", created, {"data": Dir("data", created), "logs": Dir("logs", created, logs),
                                     "tmp": Dir("tmp", created)})
    return Dir("", created, {"alloc": shared, **tasks})


def resolve(root: Dir, alloc_id: str, path: str) -> tuple[str, Optional[Node]]:
    """(absolute path as the client names it, the node there or None)."""
    clean = posixpath.normpath("/" + path).lstrip("/") if path not in ("", "/") else ""
    if posixpath.normpath(path).startswith("..") or (path.startswith("/") and ".." in path.split("/")):
        raise FsError("Path escapes the alloc directory")
    absolute = posixpath.join(DATA_DIR, alloc_id, clean) if clean else posixpath.join(DATA_DIR, alloc_id)
    node: Optional[Node] = root
    for part in [p for p in clean.split("/") if p]:
        if not isinstance(node, Dir):
            return absolute, None
        node = node.children.get(part)
        if node is None:
            return absolute, None
    return absolute, node


def file_info(node: Node) -> dict[str, object]:
    """``AllocFileInfo``, keys in the order Nomad writes them."""
    size = node.size if isinstance(node, Dir) else len(node.data)
    return {"FileMode": node.mode, "IsDir": isinstance(node, Dir), "ModTime": node.mtime, "Name": node.name,
            "Size": size}
