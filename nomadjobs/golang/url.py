"""Go's ``net/url`` query parsing, as Go 1.9 does it (``url.ParseQuery``, which
``Request.URL.Query()`` calls and whose error Nomad never looks at).

Pairs are separated by ``&`` or ``;``; ``+`` is a space; a key or value whose
percent-escapes are malformed makes Go drop that pair (and only that pair). Later Go
releases stopped accepting ``;``: Nomad 0.7.1 was built with Go 1.9.
"""

from __future__ import annotations

import re

__all__ = ["parse_query", "query_unescape"]

_BAD_ESCAPE = re.compile(r"%(?![0-9a-fA-F]{2})")
_ESCAPE = re.compile(rb"%([0-9a-fA-F]{2})")


def query_unescape(text: str) -> str | None:
    """``url.QueryUnescape``: the decoded text, or None where Go returns an error."""
    if _BAD_ESCAPE.search(text):
        return None
    raw = _ESCAPE.sub(lambda m: bytes([int(m.group(1), 16)]),
                      text.replace("+", " ").encode("utf-8", "surrogatepass"))
    return raw.decode("utf-8", "replace")


def parse_query(query: str) -> dict[str, list[str]]:
    """``url.ParseQuery``'s values (the pairs Go keeps, in order of appearance)."""
    values: dict[str, list[str]] = {}
    for pair in re.split(r"[&;]", query):
        if not pair:
            continue
        key, _, value = pair.partition("=")
        key_text = query_unescape(key)
        value_text = query_unescape(value)
        if key_text is None or value_text is None:
            continue
        values.setdefault(key_text, []).append(value_text)
    return values
