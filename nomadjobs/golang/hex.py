"""Go's ``encoding/hex``: ``DecodeString`` and its error texts."""

from __future__ import annotations

from typing import Optional

from .strconv import quote_rune

__all__ = ["decode_string"]


def decode_string(text: str) -> tuple[bytes, Optional[str]]:
    """``hex.DecodeString``: ``(bytes, None)`` or ``(b"", error text)``."""
    if len(text) % 2 == 1:
        return b"", "encoding/hex: odd length hex string"
    for ch in text:
        if ch not in "0123456789abcdefABCDEF":
            return b"", f"encoding/hex: invalid byte: U+{ord(ch):04X} {quote_rune(ch)}"
    return bytes.fromhex(text), None
