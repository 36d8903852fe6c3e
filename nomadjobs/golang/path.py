"""Go's ``path`` and ``path/filepath`` on Unix (slash-separated, purely lexical):
``Clean``, ``Join`` and ``Base``."""

from __future__ import annotations

__all__ = ["clean", "join", "base"]


def clean(path: str) -> str:
    """``path.Clean`` (also ``filepath.Clean`` on Unix)."""
    if path == "":
        return "."
    rooted = path.startswith("/")
    parts: list[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if parts and parts[-1] != "..":
                parts.pop()
            elif not rooted:
                parts.append("..")
            continue
        parts.append(part)
    joined = "/".join(parts)
    if rooted:
        return "/" + joined
    return joined or "."


def join(*elems: str) -> str:
    """``filepath.Join`` on Unix: absolute later elements do not reset the path."""
    nonempty = [e for e in elems if e != ""]
    if not nonempty:
        return ""
    return clean("/".join(nonempty))


def base(path: str) -> str:
    """``path.Base``."""
    if path == "":
        return "."
    stripped = path.rstrip("/")
    if stripped == "":
        return "/"
    return stripped.rsplit("/", 1)[-1]
