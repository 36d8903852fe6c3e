"""``github.com/hashicorp/go-multierror`` (2017) as Nomad renders it: the default list
format for errors, and Nomad's warnings format built on it
(``structs.MergeMultierrorWarnings``)."""

from __future__ import annotations

from typing import Sequence

__all__ = ["multierror", "warnings_text"]


def multierror(errors: Sequence[object]) -> str:
    """go-multierror's ``ListFormatFunc``: ``N error(s) occurred:\\n\\n* a\\n* b``."""
    points = [f"* {e}" for e in errors]
    return f"{len(errors)} error(s) occurred:\n\n" + "\n".join(points)


def warnings_text(warnings: Sequence[object]) -> str:
    """Nomad's warnings rendering: ``N warning(s):\\n\\n* a``; empty string when there
    are none."""
    if not warnings:
        return ""
    points = [f"* {w}" for w in warnings]
    return f"{len(warnings)} warning(s):\n\n" + "\n".join(points)
