"""A persistent (copy-on-write) sorted sequence of unique keys.

The keys are kept in a list of *chunks*: sorted Python lists of at most
``2 * LOAD`` keys each, plus a parallel list holding each chunk's largest key.
Locating a key is two bisects (over the chunk maxima, then inside one chunk).

A published :class:`SortedKeys` is never mutated.  A change builds a new
instance that shares every untouched chunk with the old one, so the cost of an
insert or delete is one copy of the outer lists (``n / LOAD`` references) plus
one copy of the touched chunk (``<= 2 * LOAD`` references), not a copy of all
``n`` keys.  At 100k keys that is about 200 + 512 pointer copies.

For batches, :meth:`SortedKeys.edit` returns a :class:`SortedKeysEditor`, a
transient builder that copies each chunk at most once and then mutates its own
copy in place; :meth:`SortedKeysEditor.freeze` turns the result back into a
persistent :class:`SortedKeys` in ``O(n / LOAD)``.

Keys must be mutually comparable (in practice: tuples whose components at a
given position all have the same type).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator
from typing import Any

__all__ = ["LOAD", "SortedKeys", "SortedKeysEditor"]

#: Target chunk size.  Chunks split when they exceed ``2 * LOAD`` keys and are
#: merged with a neighbour when they drop under ``LOAD // 4``.  512 keeps both
#: the outer list (n / 512) and the per-write chunk copy small at 100k keys.
LOAD = 512
_MAX = 2 * LOAD
_MIN = LOAD // 4


class _SortedBase:
    """Read-only operations shared by the persistent sequence and its editor."""

    __slots__ = ("_chunks", "_maxes", "_len")

    _chunks: list[list[Any]]
    _maxes: list[Any]
    _len: int

    def __len__(self) -> int:
        return self._len

    def __bool__(self) -> bool:
        return self._len > 0

    def __iter__(self) -> Iterator[Any]:
        for chunk in self._chunks:
            yield from chunk

    def __reversed__(self) -> Iterator[Any]:
        for chunk in reversed(self._chunks):
            yield from reversed(chunk)

    def __contains__(self, key: Any) -> bool:
        maxes = self._maxes
        i = bisect_left(maxes, key)
        if i == len(maxes):
            return False
        chunk = self._chunks[i]
        j = bisect_left(chunk, key)
        return j < len(chunk) and chunk[j] == key

    def __repr__(self) -> str:
        return f"{type(self).__name__}(len={self._len}, chunks={len(self._chunks)})"

    def first(self) -> Any:
        """Smallest key; ``IndexError`` when empty."""
        if not self._len:
            raise IndexError("empty sequence")
        return self._chunks[0][0]

    def last(self) -> Any:
        """Largest key; ``IndexError`` when empty."""
        if not self._len:
            raise IndexError("empty sequence")
        return self._maxes[-1]

    def iter_from(self, key: Any, inclusive: bool = True) -> Iterator[Any]:
        """Yield keys ``>= key`` (``> key`` when not inclusive) in order."""
        chunks = self._chunks
        maxes = self._maxes
        # The first chunk whose max can hold the start position.
        i = bisect_left(maxes, key) if inclusive else bisect_right(maxes, key)
        if i == len(maxes):
            return
        chunk = chunks[i]
        j = bisect_left(chunk, key) if inclusive else bisect_right(chunk, key)
        # Slicing copies at most one chunk; later chunks are yielded directly.
        yield from chunk[j:] if j else chunk
        for k in range(i + 1, len(chunks)):
            yield from chunks[k]

    def iter_prefix(self, prefix: tuple[Any, ...]) -> Iterator[tuple[Any, ...]]:
        """Yield tuple keys whose first ``len(prefix)`` components equal ``prefix``.

        A tuple sorts before all of its extensions, so the matches are the
        contiguous run that starts at ``prefix`` itself.
        """
        n = len(prefix)
        if not n:
            yield from self
            return
        for key in self.iter_from(prefix):
            if key[:n] != prefix:
                return
            yield key

    def iter_str_prefix(
        self, prefix: tuple[Any, ...], str_prefix: str
    ) -> Iterator[tuple[Any, ...]]:
        """Yield keys that start with ``prefix`` and whose next component is a
        string starting with ``str_prefix``.

        All strings starting with ``s`` form one contiguous range beginning at
        ``s``, so the scan starts at ``prefix + (str_prefix,)`` and stops at the
        first key that leaves the range.
        """
        n = len(prefix)
        for key in self.iter_from(prefix + (str_prefix,)):
            if n and key[:n] != prefix:
                return
            part = key[n]
            if not (isinstance(part, str) and part.startswith(str_prefix)):
                return
            yield key


class SortedKeys(_SortedBase):
    """Immutable sorted set of keys with cheap copy-on-write updates.

    ``insert``/``discard``/``remove`` return a new instance (or ``self`` when
    nothing changes); the receiver is left untouched and may be shared freely
    between threads.
    """

    __slots__ = ()

    def __init__(self, keys: Iterable[Any] = ()) -> None:
        ordered = sorted(set(keys))
        self._chunks = [ordered[i : i + LOAD] for i in range(0, len(ordered), LOAD)]
        self._maxes = [c[-1] for c in self._chunks]
        self._len = len(ordered)

    @classmethod
    def from_keys(cls, keys: list[Any]) -> SortedKeys:
        """The set of ``keys``; a list already strictly ascending (as a scan gives
        them) is taken as it is, in one pass."""
        if all(a < b for a, b in zip(keys, keys[1:])):
            chunks = [keys[i : i + LOAD] for i in range(0, len(keys), LOAD)]
            return cls._make(chunks, [c[-1] for c in chunks], len(keys))
        return cls(keys)

    @classmethod
    def _make(cls, chunks: list[list[Any]], maxes: list[Any], n: int) -> SortedKeys:
        self = cls.__new__(cls)
        self._chunks = chunks
        self._maxes = maxes
        self._len = n
        return self

    def edit(self) -> SortedKeysEditor:
        """A transient builder starting from this sequence (``self`` is unaffected)."""
        return SortedKeysEditor(self)

    def insert(self, key: Any) -> SortedKeys:
        if key in self:
            return self
        ed = SortedKeysEditor(self)
        ed.insert(key)
        return ed.freeze()

    def discard(self, key: Any) -> SortedKeys:
        if key not in self:
            return self
        ed = SortedKeysEditor(self)
        ed.discard(key)
        return ed.freeze()

    def remove(self, key: Any) -> SortedKeys:
        if key not in self:
            raise KeyError(key)
        return self.discard(key)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, _SortedBase):
            return self._len == other._len and all(a == b for a, b in zip(self, other))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]


class SortedKeysEditor(_SortedBase):
    """Transient, single-threaded builder over a :class:`SortedKeys`.

    The editor copies the outer lists on its first write and each chunk on the
    first write that touches it; later writes to the same chunk are in place.
    ``freeze()`` publishes the current content as a :class:`SortedKeys` and
    makes the editor copy-on-write again, so the editor stays usable and the
    frozen value is never disturbed by later edits.
    """

    __slots__ = ("_outer_owned", "_owned")

    def __init__(self, base: SortedKeys) -> None:
        self._chunks = base._chunks
        self._maxes = base._maxes
        self._len = base._len
        self._outer_owned = False
        # ids of chunks this editor created and may mutate.  Every chunk that is
        # not owned was alive (shared) before any owned chunk was created, so an
        # id can never be confused with a shared chunk.
        self._owned: set[int] = set()

    def _own_outer(self) -> None:
        if not self._outer_owned:
            self._chunks = list(self._chunks)
            self._maxes = list(self._maxes)
            self._outer_owned = True

    def _own_chunk(self, i: int) -> list[Any]:
        chunk = self._chunks[i]
        if id(chunk) not in self._owned:
            chunk = list(chunk)
            self._chunks[i] = chunk
            self._owned.add(id(chunk))
        return chunk

    def _new_chunk(self, items: list[Any]) -> list[Any]:
        self._owned.add(id(items))
        return items

    def insert(self, key: Any) -> bool:
        """Add ``key``; return False if it was already present."""
        maxes = self._maxes
        if not maxes:
            self._own_outer()
            self._chunks.append(self._new_chunk([key]))
            self._maxes.append(key)
            self._len = 1
            return True
        i = bisect_left(maxes, key)
        if i == len(maxes):
            i -= 1  # larger than everything: goes at the end of the last chunk
        chunk = self._chunks[i]
        j = bisect_left(chunk, key)
        if j < len(chunk) and chunk[j] == key:
            return False
        self._own_outer()
        chunk = self._own_chunk(i)
        chunk.insert(j, key)
        self._maxes[i] = chunk[-1]
        self._len += 1
        if len(chunk) > _MAX:
            self._owned.discard(id(chunk))
            left = self._new_chunk(chunk[:LOAD])
            right = self._new_chunk(chunk[LOAD:])
            self._chunks[i : i + 1] = [left, right]
            self._maxes[i : i + 1] = [left[-1], right[-1]]
        return True

    def discard(self, key: Any) -> bool:
        """Remove ``key``; return False if it was absent."""
        maxes = self._maxes
        i = bisect_left(maxes, key)
        if i == len(maxes):
            return False
        chunk = self._chunks[i]
        j = bisect_left(chunk, key)
        if j == len(chunk) or chunk[j] != key:
            return False
        self._own_outer()
        chunks = self._chunks
        self._len -= 1
        if len(chunk) == 1:
            self._owned.discard(id(chunk))
            del chunks[i]
            del self._maxes[i]
            return True
        chunk = self._own_chunk(i)
        del chunk[j]
        self._maxes[i] = chunk[-1]
        if len(chunk) < _MIN and len(chunks) > 1:
            self._merge(i)
        return True

    def remove(self, key: Any) -> None:
        if not self.discard(key):
            raise KeyError(key)

    def _merge(self, i: int) -> None:
        # Fold an undersized chunk into a neighbour so the outer list stays
        # about n / LOAD long even after heavy deletion.
        a = i if i + 1 < len(self._chunks) else i - 1
        chunks = self._chunks
        merged = chunks[a] + chunks[a + 1]
        self._owned.discard(id(chunks[a]))
        self._owned.discard(id(chunks[a + 1]))
        if len(merged) > _MAX:
            half = len(merged) // 2
            parts = [self._new_chunk(merged[:half]), self._new_chunk(merged[half:])]
        else:
            parts = [self._new_chunk(merged)]
        chunks[a : a + 2] = parts
        self._maxes[a : a + 2] = [p[-1] for p in parts]

    def freeze(self) -> SortedKeys:
        """Return the current content as an immutable :class:`SortedKeys`."""
        frozen = SortedKeys._make(self._chunks, self._maxes, self._len)
        # Everything is now shared with ``frozen``: copy again before writing.
        self._outer_owned = False
        self._owned = set()
        return frozen
