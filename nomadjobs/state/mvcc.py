"""A generic multi-version in-memory database (go-memdb in spirit).

The whole database state is one immutable :class:`_Root`.  A write
transaction builds a new root next to the current one, sharing everything it
did not change, and publishes it with a single attribute assignment.  Readers
grab the current root (``Database.snapshot()``) and can use it forever without
locks; writers are serialised by one lock.  See ``docs/state-store.md``.

Layout of a root::

    _Root.latest_index                     int, index of the last commit
    _Root.tables[name] -> _TableState
        .rows       immutables.Map  pk -> object
        .keys       SortedKeys      all pks, for ordered and prefix scans
        .indexes[n] immutables.Map  unique:     index key -> pk
                                    non-unique: index key -> Map(pk -> None)
                                    versioned:  index key -> VersionedGroup(pk -> row)
        .index      int             last commit index that touched the table

Nothing here knows about Nomad: tables, keys and indexes come from
:class:`TableSchema` objects supplied by the caller.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, final

import attrs
import immutables

from .sortedkeys import SortedKeys, SortedKeysEditor

__all__ = [
    "Database",
    "IndexSchema",
    "Snapshot",
    "TableSchema",
    "TxnClosedError",
    "UniqueConstraintError",
    "VersionedGroup",
    "WriteTxn",
]

Key = tuple[Any, ...]

_EMPTY: immutables.Map[Any, Any] = immutables.Map()

#: One change to a versioned group: (pk, row before or None, row after or None).
Change = tuple[Key, Any, Any]


class VersionedGroup:
    """The rows under one key of a versioned index: an immutable mapping pk -> row.

    Every write to one of its rows makes a new group that remembers the changes
    that made it from the group before (held weakly, so old versions are freed as
    usual). Derived data can then move forward in O(changes) with
    :meth:`changes_since` instead of re-reading every row."""

    __slots__ = ("rows", "_prev", "_changes", "_txn", "__weakref__")

    def __init__(self, rows: immutables.Map[Key, Any], prev: VersionedGroup | None,
                 changes: tuple[Change, ...], txn: int) -> None:
        self.rows = rows
        self._prev = weakref.ref(prev) if prev is not None else None
        self._changes = changes
        self._txn = txn  # the commit index of the transaction that made it

    def get(self, pk: Key, default: Any = None) -> Any:
        return self.rows.get(pk, default)

    def __getitem__(self, pk: Key) -> Any:
        return self.rows[pk]

    def __contains__(self, pk: object) -> bool:
        return pk in self.rows

    def __iter__(self) -> Iterator[Key]:
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)

    def items(self) -> Iterable[tuple[Key, Any]]:
        return self.rows.items()

    def values(self) -> Iterable[Any]:
        return self.rows.values()

    def changes_since(self, older: VersionedGroup, limit: int = 256) -> list[Change] | None:
        """The changes from ``older`` to this group, oldest first, or None when
        ``older`` is not an ancestor still in memory (then re-read the rows)."""
        chain: list[tuple[Change, ...]] = []
        group: VersionedGroup | None = self
        while group is not older:
            if group is None or group._prev is None or len(chain) == limit:
                return None
            chain.append(group._changes)
            group = group._prev()
        return [c for changes in reversed(chain) for c in changes]

    def changed(self, pk: Key, before: Any, after: Any, txn: int) -> VersionedGroup | None:
        """The group after one row change made by transaction ``txn``; None when it
        leaves the group empty. Repeated changes inside one transaction fold into
        one step from the last committed group."""
        rows = self.rows.delete(pk) if after is None else self.rows.set(pk, after)
        if not rows:
            return None
        if self._txn == txn:
            prev = self._prev() if self._prev is not None else None
            return VersionedGroup(rows, prev, self._changes + ((pk, before, after),), txn)
        return VersionedGroup(rows, self, ((pk, before, after),), txn)


# --------------------------------------------------------------------------
# Schema
# --------------------------------------------------------------------------


@attrs.frozen
class IndexSchema:
    """A secondary index.

    ``key(obj)`` returns the index key as a tuple, or ``None`` to leave the
    object out of the index.  A unique index maps each key to exactly one
    primary key; inserting a second object with the same key raises
    :class:`UniqueConstraintError`.
    """

    key: Callable[[Any], Key | None]
    unique: bool = False
    #: Non-unique only: the entry for a key is a :class:`VersionedGroup`, replaced
    #: whenever one of its rows is, so the entry object (``index_entry``) stands for
    #: those rows at one version; derived data can be memoized against it (see
    #: ``Database.memo``) and moved forward by its changes.
    versioned: bool = False

    def __attrs_post_init__(self) -> None:
        if self.versioned and self.unique:
            raise ValueError("a unique index cannot be versioned")


@attrs.frozen
class TableSchema:
    """A table: a name, a primary-key function and named secondary indexes.

    ``primary(obj)`` must return a tuple of str/int (components at the same
    position must have the same type so keys stay comparable).
    """

    name: str
    primary: Callable[[Any], Key]
    indexes: Mapping[str, IndexSchema] = attrs.field(factory=dict)


class UniqueConstraintError(ValueError):
    """An insert would give a unique index key to two different rows."""


class TxnClosedError(RuntimeError):
    """The write transaction was already committed or aborted."""


# --------------------------------------------------------------------------
# Immutable state
# --------------------------------------------------------------------------


class _TableState:
    """One table inside a root.  Never mutated once built."""

    __slots__ = ("schema", "rows", "keys", "indexes", "index")

    def __init__(
        self,
        schema: TableSchema,
        rows: immutables.Map[Key, Any],
        keys: SortedKeys,
        indexes: dict[str, immutables.Map[Any, Any]],
        index: int,
    ) -> None:
        self.schema = schema
        self.rows = rows
        self.keys = keys
        self.indexes = indexes
        self.index = index

    def with_index(self, index: int) -> _TableState:
        return _TableState(self.schema, self.rows, self.keys, self.indexes, index)


class _Root:
    """The whole database at one commit index.  Never mutated once built."""

    __slots__ = ("tables", "latest_index")

    def __init__(self, tables: dict[str, _TableState], latest_index: int) -> None:
        self.tables = tables
        self.latest_index = latest_index


# --------------------------------------------------------------------------
# Read API (shared by snapshots and write transactions)
# --------------------------------------------------------------------------


class _Reader:
    """Query methods over some table states.

    Subclasses provide ``_point(table)`` – a state used for lookups (it only
    needs ``rows.get``, ``indexes[..].get`` and ``len(rows)``) – and
    ``_frozen(table)`` – an immutable :class:`_TableState` used by scans so an
    iterator is never disturbed by later writes.
    """

    __slots__ = ()

    def _point(self, table: str) -> _TableState | _WorkTable:  # pragma: no cover - abstract
        raise NotImplementedError

    def _frozen(self, table: str) -> _TableState:  # pragma: no cover - abstract
        raise NotImplementedError

    def get(self, table: str, pk: Key) -> Any | None:
        """The object stored under primary key ``pk``, or None."""
        return self._point(table).rows.get(pk)

    def count(self, table: str) -> int:
        """Number of rows in ``table``."""
        return len(self._point(table).rows)

    def scan(self, table: str) -> Iterator[Any]:
        """All objects of ``table`` in primary-key order (lazy)."""
        st = self._frozen(table)
        rows = st.rows
        return (rows[pk] for pk in st.keys)

    def scan_prefix(
        self, table: str, tuple_prefix: Key, str_prefix: str | None = None
    ) -> Iterator[Any]:
        """Objects whose pk starts with ``tuple_prefix``, in pk order.

        With ``str_prefix``, the pk component right after ``tuple_prefix`` must
        also be a string starting with ``str_prefix``; e.g.
        ``scan_prefix("jobs", ("default",), "ex")`` finds ``("default", "example")``.
        """
        st = self._frozen(table)
        rows = st.rows
        if type(tuple_prefix) is not tuple:
            raise TypeError("tuple_prefix must be a tuple")
        if str_prefix is None:
            keys = st.keys.iter_prefix(tuple_prefix)
        else:
            keys = st.keys.iter_str_prefix(tuple_prefix, str_prefix)
        return (rows[pk] for pk in keys)

    def get_by(self, table: str, index: str, key: Key) -> Any | None:
        """The object whose ``index`` key equals ``key``, or None.

        Meant for unique indexes; on a non-unique index it returns the match
        with the smallest primary key.
        """
        st = self._point(table)
        hit = _index_map(st, table, index).get(key)
        if hit is None:
            return None
        if type(hit) is tuple:  # a unique index holds the pk itself
            return st.rows.get(hit)
        return st.rows.get(min(hit))

    def list_by(self, table: str, index: str, key: Key) -> list[Any]:
        """All objects whose ``index`` key equals ``key``, in pk order."""
        st = self._point(table)
        hit = _index_map(st, table, index).get(key)
        if hit is None:
            return []
        rows = st.rows
        if type(hit) is tuple:  # a unique index holds the pk itself
            return [rows[hit]]
        # The pk set is usually small; sorting at read time keeps writes cheap.
        return [rows[pk] for pk in sorted(hit)]

    def index_entry(self, table: str, index: str, key: Key) -> Any | None:
        """The :class:`VersionedGroup` of a versioned index for ``key`` (None when
        no row has it).

        The group is immutable and replaced whenever a row under ``key`` is
        inserted, replaced or deleted, so ``group is other_group`` means the same
        rows at the same versions, in snapshots and transactions alike."""
        return _index_map(self._point(table), table, index).get(key)

    @property
    def memo(self) -> dict[Any, Any]:
        """The database's shared memo of derived data (see ``Database.memo``)."""
        return self._memo_dict()

    def _memo_dict(self) -> dict[Any, Any]:  # pragma: no cover - abstract
        raise NotImplementedError

    def table_index(self, table: str) -> int:
        """Index of the last commit that wrote ``table`` (0 if never).

        Also available as ``Snapshot.index(table)``; on a :class:`WriteTxn`
        the name ``index`` is the transaction's own commit index (an int).
        """
        return self._point(table).index


def _index_map(st: Any, table: str, index: str) -> Any:
    try:
        return st.indexes[index]
    except KeyError:
        raise KeyError(f"table {table!r} has no index {index!r}") from None


class Snapshot(_Reader):
    """A consistent, immutable read view of the database at one index.

    Cheap to create (O(1)), safe to share between threads, valid forever.
    """

    __slots__ = ("_root", "_memo")

    def __init__(self, root: _Root, memo: dict[Any, Any] | None = None) -> None:
        self._root = root
        self._memo = {} if memo is None else memo

    def _memo_dict(self) -> dict[Any, Any]:
        return self._memo

    @property
    def latest_index(self) -> int:
        """Index of the commit this snapshot shows."""
        return self._root.latest_index

    @property
    def tables(self) -> list[str]:
        return list(self._root.tables)

    def _point(self, table: str) -> _TableState:
        try:
            return self._root.tables[table]
        except KeyError:
            raise KeyError(f"no table {table!r}") from None

    _frozen = _point

    def rows_token(self, table: str) -> object:
        """An immutable object standing for the rows of ``table``: two snapshots
        whose tokens are the same object (``is``) hold exactly the same rows. Keep a
        reference to the token as long as you compare against it."""
        return self._point(table).rows

    #: go-memdb / brief spelling of :meth:`table_index`.
    index = _Reader.table_index

    def __repr__(self) -> str:
        return f"Snapshot(latest_index={self._root.latest_index})"


# --------------------------------------------------------------------------
# Write transactions
# --------------------------------------------------------------------------


@final  # lets ``type(work) is _WorkTable`` narrow both ways
class _WorkTable:
    """Working copy of one table inside a write transaction.

    Rows are an ``immutables`` mutation; each secondary index and the key sequence
    stay the committed (frozen) ones until a write changes them, then become a
    mutation / :class:`SortedKeysEditor`, so a batch of writes copies each touched
    node once, and an update that keeps its keys (a status change, a new
    ModifyIndex) copies no index at all.
    """

    __slots__ = ("schema", "rows", "keys", "indexes", "index", "_view", "_editing")

    def __init__(self, base: _TableState, index: int) -> None:
        # ``index`` becomes the txn index on the first successful write.
        self.schema = base.schema
        self.rows = base.rows.mutate()
        self.keys: SortedKeys | SortedKeysEditor = base.keys
        self.indexes: dict[str, Any] = dict(base.indexes)
        self.index = index
        self._view: _TableState | None = None
        self._editing: set[str] = set()  # indexes held as mutations

    def index_for_write(self, name: str) -> Any:
        if name in self._editing:
            return self.indexes[name]
        m = self.indexes[name] = self.indexes[name].mutate()
        self._editing.add(name)
        return m

    def keys_for_write(self) -> SortedKeysEditor:
        keys = self.keys
        if isinstance(keys, SortedKeys):
            keys = self.keys = keys.edit()
        return keys

    def _frozen_parts(self) -> tuple[SortedKeys, dict[str, Any]]:
        keys = self.keys
        if isinstance(keys, SortedKeysEditor):
            keys = self.keys = keys.freeze()
        idx = self.indexes
        if self._editing:
            idx = self.indexes = {name: (m.finish() if name in self._editing else m) for name, m in idx.items()}
            self._editing = set()
        return keys, idx

    def view(self) -> _TableState:
        """Freeze the current content for scanning; cached until the next write."""
        if self._view is None:
            rows = self.rows.finish()
            self.rows = rows.mutate()
            keys, idx = self._frozen_parts()
            self._view = _TableState(self.schema, rows, keys, idx, self.index)
        return self._view

    def finish(self) -> _TableState:
        keys, idx = self._frozen_parts()
        return _TableState(self.schema, self.rows.finish(), keys, idx, self.index)


class WriteTxn(_Reader):
    """The single open write transaction (see :meth:`Database.write_txn`).

    Reads see this transaction's own uncommitted writes.  :attr:`index` is
    the int this transaction will commit at, so the per-table index is read
    with ``table_index(table)``: it returns :attr:`index` for tables touched
    so far.  :attr:`latest_index` is the last *committed* index
    (``index - 1``).

    Scans iterate a frozen view taken when they start, so writing while
    iterating is safe (the iterator does not see those writes).
    """

    __slots__ = ("_db", "_base", "index", "_work", "_touched", "_changed", "_open")

    def __init__(self, db: Database, base: _Root) -> None:
        self._db = db
        self._base = base
        #: The commit index this transaction will publish.
        self.index: int = base.latest_index + 1
        self._work: dict[str, _WorkTable] = {}
        self._touched: set[str] = set()
        # (table, pk) pairs written, to fire per-key watches on commit.
        self._changed: set[tuple[str, Key]] = set()
        self._open = True

    # -- reads ------------------------------------------------------------

    @property
    def latest_index(self) -> int:
        return self._base.latest_index

    def _point(self, table: str) -> _TableState | _WorkTable:
        if not self._open:
            raise TxnClosedError("transaction is closed")
        work = self._work.get(table)
        if work is not None:
            return work
        st = self._base_table(table)
        if table in self._touched:
            return st.with_index(self.index)
        return st

    def _memo_dict(self) -> dict[Any, Any]:
        return self._db.memo

    def _frozen(self, table: str) -> _TableState:
        work = self._point(table)
        return work.view() if type(work) is _WorkTable else work

    def _base_table(self, table: str) -> _TableState:
        try:
            return self._base.tables[table]
        except KeyError:
            raise KeyError(f"no table {table!r}") from None

    def _work_table(self, table: str) -> _WorkTable:
        if not self._open:
            raise TxnClosedError("transaction is closed")
        work = self._work.get(table)
        if work is None:
            base = self._base_table(table)
            # Keep the committed index until a write succeeds, so a failed
            # insert does not mark the table touched.
            work = self._work[table] = _WorkTable(base, base.index)
        return work

    # -- writes -----------------------------------------------------------

    def insert(self, table: str, obj: Any) -> None:
        """Insert or replace (by primary key) ``obj``, updating every index.

        Raises :class:`UniqueConstraintError` (leaving the transaction
        unchanged) if a unique index key already belongs to another row.
        """
        work = self._work_table(table)
        schema = work.schema
        pk = schema.primary(obj)
        if type(pk) is not tuple:
            raise TypeError(f"primary key of {table!r} must be a tuple, got {pk!r}")
        rows = work.rows
        old = rows.get(pk)

        # Compute every index change first and validate unique keys, so a
        # failing insert leaves no half-updated index behind.
        changes: list[tuple[str, bool, Key | None, Key | None]] = []
        for name, ix in schema.indexes.items():
            new_key = ix.key(obj)
            if new_key is not None:
                if type(new_key) is not tuple:
                    raise TypeError(
                        f"index {table}.{name} key must be a tuple or None, got {new_key!r}"
                    )
                hash(new_key)  # fail now, not halfway through the update
            old_key = ix.key(old) if old is not None else None
            if old_key == new_key and old is not None:
                if ix.versioned and new_key is not None:
                    changes.append((name, False, old_key, new_key))  # same key, new row version
                continue
            if ix.unique and new_key is not None:
                owner = work.indexes[name].get(new_key)
                if owner is not None and owner != pk:
                    raise UniqueConstraintError(
                        f"{table}.{name} key {new_key!r} already belongs to {owner!r}"
                    )
            changes.append((name, ix.unique, old_key, new_key))

        # The key sequence compares pks and may raise TypeError for a pk of the
        # wrong shape: do it before anything else is modified.
        if old is None:
            work.keys_for_write().insert(pk)
        indexes = schema.indexes
        for name, unique, old_key, new_key in changes:
            m = work.index_for_write(name)
            if indexes[name].versioned:
                if old_key is not None and old_key != new_key:
                    _group_change(m, old_key, pk, old, None, self.index)
                if new_key is not None:
                    _group_change(m, new_key, pk, old if old_key == new_key else None, obj, self.index)
                continue
            if old_key is not None:
                _index_remove(m, unique, old_key, pk)
            if new_key is not None:
                if unique:
                    m[new_key] = pk
                else:
                    m[new_key] = m.get(new_key, _EMPTY).set(pk, None)

        rows[pk] = obj
        self._mark(table)
        self._changed.add((table, pk))

    def delete(self, table: str, pk: Key) -> Any | None:
        """Delete the row with primary key ``pk``; return it, or None if absent.

        The table counts as written either way.
        """
        if not self._open:
            raise TxnClosedError("transaction is closed")
        work = self._work.get(table)
        current = work.rows if work is not None else self._base_table(table).rows
        if pk not in current:
            self._mark(table)
            return None
        work = self._work_table(table)
        old = work.rows.pop(pk)
        for name, ix in work.schema.indexes.items():
            old_key = ix.key(old)
            if old_key is None:
                continue
            if ix.versioned:
                _group_change(work.index_for_write(name), old_key, pk, old, None, self.index)
            else:
                _index_remove(work.index_for_write(name), ix.unique, old_key, pk)
        work.keys_for_write().discard(pk)
        self._mark(table)
        self._changed.add((table, pk))
        return old

    def touch(self, table: str) -> None:
        """Mark ``table`` written by this transaction without changing rows."""
        if not self._open:
            raise TxnClosedError("transaction is closed")
        self._base_table(table)  # validate the name
        self._mark(table)

    def _mark(self, table: str) -> None:
        self._touched.add(table)
        work = self._work.get(table)
        if work is not None:
            work.index = self.index
            work._view = None  # the cached view carries the old index

    # -- end of life ------------------------------------------------------

    def commit(self) -> int:
        """Publish the writes; returns the index consumed (always ``self.index``)."""
        if not self._open:
            raise TxnClosedError("transaction is closed")
        self._open = False
        fire: list[threading.Event] = []
        try:
            tables = dict(self._base.tables)
            index = self.index
            for name in self._touched:
                work = self._work.get(name)
                tables[name] = work.finish() if work is not None else tables[name].with_index(index)
            fire = self._db._publish(_Root(tables, index), self._touched, self._changed)
        finally:
            self._db._end_write()
        # Wake waiters after releasing the write lock: with hundreds of
        # waiters the wake-up storm must not hold up the next writer.
        for ev in fire:
            ev.set()
        return index

    def abort(self) -> None:
        """Discard the writes; no index is consumed.  Idempotent."""
        if self._open:
            self._open = False
            self._work.clear()
            self._db._end_write()

    def __enter__(self) -> WriteTxn:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is not None:
            self.abort()  # a transaction that raises leaves no trace
        elif self._open:
            self.commit()


def _build_table(schema: TableSchema, rows: Iterable[Any], index: int) -> _TableState:
    """A table holding ``rows``, built in one go (what inserting them one by one in a
    fresh database gives, in a fraction of the time): the rows keyed by primary key,
    the sorted keys, and each index grouped at once. Raises like ``insert`` for a
    primary key that is not a tuple or a unique key given to two rows."""
    by_pk: dict[Key, Any] = {}
    for obj in rows:
        pk = schema.primary(obj)
        if type(pk) is not tuple:
            raise TypeError(f"primary key of {schema.name!r} must be a tuple, got {pk!r}")
        by_pk[pk] = obj  # a later row with the same key replaces, as insert does
    indexes: dict[str, immutables.Map[Any, Any]] = {}
    for name, ix in schema.indexes.items():
        if ix.unique:
            owners: dict[Key, Key] = {}
            for pk, obj in by_pk.items():
                key = ix.key(obj)
                if key is None:
                    continue
                owner = owners.setdefault(key, pk)
                if owner != pk:
                    raise UniqueConstraintError(f"{schema.name}.{name} key {key!r} already belongs to {owner!r}")
            indexes[name] = immutables.Map(owners)
            continue
        groups: dict[Key, dict[Key, Any]] = {}
        for pk, obj in by_pk.items():
            key = ix.key(obj)
            if key is not None:
                groups.setdefault(key, {})[pk] = obj if ix.versioned else None
        if ix.versioned:
            indexes[name] = immutables.Map({key: VersionedGroup(immutables.Map(members), None, (), index)
                                            for key, members in groups.items()})
        else:
            indexes[name] = immutables.Map({key: immutables.Map(members) for key, members in groups.items()})
    return _TableState(schema, immutables.Map(by_pk), SortedKeys.from_keys(list(by_pk)), indexes, index)


def _group_change(m: Any, key: Key, pk: Key, before: Any, after: Any, txn: int) -> None:
    group = m.get(key)
    if group is None:
        if after is not None:
            m[key] = VersionedGroup(_EMPTY.set(pk, after), None, ((pk, before, after),), txn)
        return
    new = group.changed(pk, before, after, txn)
    if new is None:
        del m[key]
    else:
        m[key] = new


def _index_remove(m: Any, unique: bool, key: Key, pk: Key) -> None:
    if unique:
        if m.get(key) == pk:
            del m[key]
        return
    pks = m.get(key)
    if pks is None or pk not in pks:
        return
    pks = pks.delete(pk)
    if len(pks):
        m[key] = pks
    else:
        del m[key]


# --------------------------------------------------------------------------
# Database
# --------------------------------------------------------------------------


class Database:
    """Multi-version in-memory database.

    * ``snapshot()``: O(1) immutable read view.
    * ``write_txn()``: the one write transaction (others block until it ends).
    * ``wait()``: block until tables change, without polling.
    """

    def __init__(self, schemas: Iterable[TableSchema], history: int = 64) -> None:
        tables: dict[str, _TableState] = {}
        for s in schemas:
            if s.name in tables:
                raise ValueError(f"duplicate table {s.name!r}")
            indexes = {name: _EMPTY for name in s.indexes}
            tables[s.name] = _TableState(s, _EMPTY, SortedKeys(), indexes, 0)
        self._root = _Root(tables, 0)
        self._history_len = max(1, history)
        # Oldest first; replaced (never mutated) on commit so readers need no lock.
        self._history: tuple[_Root, ...] = (self._root,)
        self._write_lock = threading.Lock()
        self._writer: int | None = None  # thread ident of the open txn's owner
        # Watch channels: table -> waiter Events, (table, pk) -> waiter Events.
        self._watch_lock = threading.Lock()
        self._table_waiters: dict[str, set[threading.Event]] = {t: set() for t in tables}
        self._key_waiters: dict[tuple[str, Key], set[threading.Event]] = {}
        #: Derived data shared by every snapshot and transaction of this database,
        #: each value stored with the token(s) it was computed from (for example an
        #: ``index_entry``) and trusted only while they are the same objects. Values
        #: must never be mutated; entries are replaced, never edited in place.
        self.memo: dict[Any, Any] = {}

    # -- reading ----------------------------------------------------------

    @property
    def latest_index(self) -> int:
        return self._root.latest_index

    @property
    def tables(self) -> list[str]:
        return list(self._root.tables)

    def snapshot(self) -> Snapshot:
        """A consistent read view of the latest commit (O(1))."""
        return Snapshot(self._root, self.memo)

    def snapshot_at(self, index: int) -> Snapshot | None:
        """The read view as of commit ``index``, if still retained, else None.

        The last ``history`` roots are kept; commits use consecutive indexes,
        so the lookup is arithmetic.
        """
        hist = self._history
        pos = index - hist[0].latest_index
        if 0 <= pos < len(hist):
            return Snapshot(hist[pos], self.memo)
        return None

    # -- writing ----------------------------------------------------------

    def write_txn(self) -> WriteTxn:
        """Begin the write transaction, blocking while another one is open.

        Use as ``with db.write_txn() as txn: ...`` (commits on normal exit,
        aborts if the block raises), or call ``commit()``/``abort()`` yourself.
        Opening a second one from the thread that holds the first raises
        ``RuntimeError`` instead of deadlocking.
        """
        me = threading.get_ident()
        if self._writer == me:
            raise RuntimeError("this thread already has an open write transaction")
        self._write_lock.acquire()
        self._writer = me
        return WriteTxn(self, self._root)

    def restore(
        self, rows: Mapping[str, Iterable[Any]], table_indexes: Mapping[str, int], index: int
    ) -> None:
        """Replace the whole content (the model is Nomad's FSM Restore).

        ``rows`` holds every row of each named table (missing tables end up empty),
        ``table_indexes`` each table's index and ``index`` the global one. The new
        content is built (and its unique constraints checked) before anything is
        swapped, so a failure leaves the database as it was. The history restarts at
        the restored state, and every blocked reader wakes to see it.
        """
        unknown = (set(rows) | set(table_indexes)) - set(self._root.tables)
        if unknown:
            raise KeyError(f"no tables {sorted(unknown)!r}")
        tables = {name: _build_table(st.schema, rows.get(name, ()), int(table_indexes.get(name, 0)))
                  for name, st in self._root.tables.items()}
        self._replace_root(_Root(tables, int(index)))

    def rewind(self, view: Snapshot) -> None:
        """Go back to an earlier commit of this database, given as a snapshot of it:
        the commits after it are dropped (a Raft leader's writes that were applied
        before they were committed, when its leadership is lost). O(1); the history
        restarts there and every blocked reader wakes to see it."""
        self._replace_root(view._root)

    def _replace_root(self, root: _Root) -> None:
        txn = self.write_txn()  # held only to keep a commit from interleaving
        try:
            self._history = (root,)
            self._root = root
            fire = self._waiters_for(root.tables, ())
        finally:
            txn.abort()  # nothing was written through it
        for ev in fire:
            ev.set()

    def _end_write(self) -> None:
        self._writer = None
        self._write_lock.release()

    def _publish(
        self, root: _Root, touched: Iterable[str], changed: Iterable[tuple[str, Key]]
    ) -> list[threading.Event]:
        # Called with the write lock held.  Publish first, then collect the
        # waiters to wake: anyone registering after the collection already
        # sees the new root, so no wake-up is lost.
        hist = self._history
        if len(hist) >= self._history_len:
            hist = hist[len(hist) - self._history_len + 1 :]
        self._history = hist + (root,)
        self._root = root
        return self._waiters_for(touched, changed)

    # -- watches ----------------------------------------------------------

    def _waiters_for(
        self, touched: Iterable[str], changed: Iterable[tuple[str, Key]]
    ) -> list[threading.Event]:
        fire: list[threading.Event] = []
        with self._watch_lock:
            for t in touched:
                fire.extend(self._table_waiters[t])
            if self._key_waiters:
                for tk in changed:
                    ws = self._key_waiters.get(tk)
                    if ws:
                        fire.extend(ws)
        return fire

    def wait(
        self,
        tables: Iterable[str],
        min_index: int,
        timeout: float | None,
        keys: Iterable[tuple[str, Key]] = (),
    ) -> Snapshot:
        """Block until something watched changed after ``min_index``.

        Returns the current snapshot as soon as any table in ``tables`` has
        ``index(table) > min_index``, or any ``(table, pk)`` in ``keys`` holds a
        different object than it did at ``min_index``, or ``timeout`` seconds
        have passed (``None``: no limit) – whichever comes first.  Returns immediately if the
        condition already holds.  Uses no CPU while blocked.
        """
        tables = list(dict.fromkeys(tables))
        keys = list(dict.fromkeys(keys))
        for t in tables:
            if t not in self._table_waiters:
                raise KeyError(f"no table {t!r}")
        for t, _ in keys:
            if t not in self._table_waiters:
                raise KeyError(f"no table {t!r}")

        ev = threading.Event()
        # Register before checking so a commit landing between the check and
        # the wait still sets our event (no lost wake-ups).
        with self._watch_lock:
            for t in tables:
                self._table_waiters[t].add(ev)
            for tk in keys:
                self._key_waiters.setdefault(tk, set()).add(ev)
        try:
            deadline = None if timeout is None else time.monotonic() + timeout
            # The rows as of min_index, for per-key comparison.
            then = self.snapshot_at(min_index) if keys else None
            while True:
                snap = self.snapshot()
                if self._fired(snap, then, tables, keys, min_index):
                    return snap
                if deadline is None:
                    ev.wait()
                else:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return snap
                    ev.wait(remaining)
                # Clear before re-checking: a commit after this point sets it again.
                ev.clear()
        finally:
            with self._watch_lock:
                for t in tables:
                    self._table_waiters[t].discard(ev)
                for tk in keys:
                    ws = self._key_waiters.get(tk)
                    if ws is not None:
                        ws.discard(ev)
                        if not ws:
                            del self._key_waiters[tk]

    @staticmethod
    def _fired(
        snap: Snapshot,
        then: Snapshot | None,
        tables: list[str],
        keys: list[tuple[str, Key]],
        min_index: int,
    ) -> bool:
        for t in tables:
            if snap.table_index(t) > min_index:
                return True
        for t, pk in keys:
            if then is None:
                # min_index fell out of history: fall back to the table index
                # (may wake early, never late).
                if snap.table_index(t) > min_index:
                    return True
            elif snap.get(t, pk) is not then.get(t, pk):
                return True
        return False
