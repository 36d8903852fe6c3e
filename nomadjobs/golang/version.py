"""``github.com/hashicorp/go-version`` (2017): ``NewConstraint`` and its error texts."""

from __future__ import annotations

import re
from typing import Optional

from .strconv import ERR_RANGE, num_error

__all__ = ["constraint_error"]

# An optional operator, then a version.
_VERSION_RAW = (r"v?([0-9]+(\.[0-9]+)*?)"
                r"(-([0-9]+[0-9A-Za-z\-~]*(\.[0-9A-Za-z\-~]+)*)|(-?([A-Za-z\-~]+[0-9A-Za-z\-~]*(\.[0-9A-Za-z\-~]+)*)))?"
                r"(\+([0-9A-Za-z\-~]+(\.[0-9A-Za-z\-~]+)*))?"
                r"?")
_GO_SPACE = r"[\t\n\f\r ]"
_CONSTRAINT_RE = re.compile(rf"^{_GO_SPACE}*(~>|>=|<=|!=|=|>|<|){_GO_SPACE}*({_VERSION_RAW}){_GO_SPACE}*\Z")


def constraint_error(text: str) -> Optional[str]:
    """``version.NewConstraint`` error text, or None."""
    for single in text.split(","):
        m = _CONSTRAINT_RE.match(single)
        if m is None:
            return f"Malformed constraint: {single}"
        for segment in re.findall(r"[0-9]+", m.group(3).split("-")[0].split("+")[0]):
            if int(segment) >= 1 << 63:
                return f"Error parsing version: {num_error('ParseInt', segment, ERR_RANGE)}"
    return None
