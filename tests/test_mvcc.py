"""Tests for nomadjobs.state.mvcc and nomadjobs.state.sortedkeys."""

from __future__ import annotations

import bisect
import contextlib
import random
import threading
import time
from collections.abc import Iterator

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from nomadjobs.state import sortedkeys
from nomadjobs.state.mvcc import (
    Database,
    IndexSchema,
    Snapshot,
    TableSchema,
    TxnClosedError,
    UniqueConstraintError,
    VersionedGroup,
)
from nomadjobs.state.sortedkeys import SortedKeys

# ---------------------------------------------------------------------------
# Fixtures / helpers
# ---------------------------------------------------------------------------


@attrs.frozen
class Row:
    ns: str
    name: str
    ver: int = 0
    status: str = "pending"  # "" means: not in the status index
    uid: str | None = None  # unique index; None means not indexed


def _status_key(r: Row) -> tuple | None:
    return (r.status,) if r.status else None


def _uid_key(r: Row) -> tuple | None:
    return (r.uid,) if r.uid is not None else None


def make_db(history: int = 64) -> Database:
    return Database(
        [
            TableSchema(
                "rows",
                lambda r: (r.ns, r.name, r.ver),
                {
                    "status": IndexSchema(_status_key),
                    "uid": IndexSchema(_uid_key, unique=True),
                    "ns": IndexSchema(lambda r: (r.ns,), versioned=True),
                },
            ),
            TableSchema("other", lambda r: (r.ns, r.name, r.ver)),
        ],
        history=history,
    )


@contextlib.contextmanager
def small_chunks(load: int = 4) -> Iterator[None]:
    """Shrink the chunk size so tiny inputs exercise splits and merges."""
    saved = sortedkeys.LOAD, sortedkeys._MAX, sortedkeys._MIN
    sortedkeys.LOAD, sortedkeys._MAX, sortedkeys._MIN = load, 2 * load, max(1, load // 4)
    try:
        yield
    finally:
        sortedkeys.LOAD, sortedkeys._MAX, sortedkeys._MIN = saved


def check_chunks(sk: SortedKeys) -> None:
    """Structural invariants of the chunked list."""
    assert len(sk._chunks) == len(sk._maxes)
    assert all(chunk for chunk in sk._chunks)
    assert [c[-1] for c in sk._chunks] == list(sk._maxes)
    assert sum(map(len, sk._chunks)) == len(sk)
    assert all(len(c) <= sortedkeys._MAX for c in sk._chunks)


# ---------------------------------------------------------------------------
# SortedKeys against a plain sorted list
# ---------------------------------------------------------------------------

names = st.text(alphabet="abc", max_size=3)
keys2 = st.tuples(st.sampled_from(["a", "b", "c"]), names)
ops = st.lists(st.tuples(st.booleans(), keys2), max_size=200)


def ref_prefix(ref: list, prefix: tuple, s: str | None) -> list:
    n = len(prefix)
    out = [k for k in ref if k[:n] == prefix]
    if s is not None:
        out = [k for k in out if len(k) > n and k[n].startswith(s)]
    return out


@settings(max_examples=300, deadline=None)
@given(ops=ops, probe=keys2, s=names)
def test_sortedkeys_matches_sorted_list(ops, probe, s):
    with small_chunks():
        sk = SortedKeys()
        ref: list = []
        versions = []
        for add, key in ops:
            before = list(ref)
            if add:
                new = sk.insert(key)
                if key not in ref:
                    bisect.insort(ref, key)
            else:
                new = sk.discard(key)
                if key in ref:
                    ref.remove(key)
            assert list(sk) == before  # persistence: old version untouched
            sk = new
            check_chunks(sk)
            versions.append((sk, list(ref)))
        assert list(sk) == ref
        assert list(reversed(sk)) == ref[::-1]
        assert len(sk) == len(ref)
        assert (probe in sk) == (probe in ref)
        assert list(sk.iter_from(probe)) == [k for k in ref if k >= probe]
        assert list(sk.iter_from(probe, inclusive=False)) == [k for k in ref if k > probe]
        for prefix in [(), (probe[0],), probe]:
            assert list(sk.iter_prefix(prefix)) == ref_prefix(ref, prefix, None)
        assert list(sk.iter_str_prefix((probe[0],), s)) == ref_prefix(ref, (probe[0],), s)
        assert list(sk.iter_str_prefix((), s[:1])) == ref_prefix(ref, (), s[:1])
        for old, old_ref in versions:
            assert list(old) == old_ref


@settings(max_examples=150, deadline=None)
@given(start=st.lists(keys2, max_size=60), ops=ops)
def test_sortedkeys_editor_and_freeze(start, ops):
    with small_chunks():
        base = SortedKeys(start)
        base_list = sorted(set(start))
        check_chunks(base)
        ed = base.edit()
        ref = list(base_list)
        frozen = []
        for i, (add, key) in enumerate(ops):
            if add:
                assert ed.insert(key) == (key not in ref)
                if key not in ref:
                    bisect.insort(ref, key)
            else:
                assert ed.discard(key) == (key in ref)
                if key in ref:
                    ref.remove(key)
            assert list(ed) == ref
            if i % 7 == 0:
                fz = ed.freeze()
                check_chunks(fz)
                frozen.append((fz, list(ref)))
        assert list(base) == base_list  # the source is never mutated
        for fz, r in frozen:
            assert list(fz) == r  # frozen values survive later edits


def test_sortedkeys_real_chunk_size_random():
    # Default chunk size, enough keys for many splits and merges.
    rnd = random.Random(7)
    sk = SortedKeys()
    ref: set = set()
    for _ in range(20000):
        k = (rnd.randrange(5), rnd.randrange(3000))
        if rnd.random() < 0.6:
            sk = sk.insert(k)
            ref.add(k)
        else:
            sk = sk.discard(k)
            ref.discard(k)
    check_chunks(sk)
    assert list(sk) == sorted(ref)
    assert len(sk._chunks) <= len(ref) // sortedkeys._MIN + 1
    with pytest.raises(KeyError):
        sk.remove((99, 99))
    assert list(sk.iter_prefix((3,))) == sorted(k for k in ref if k[0] == 3)


def test_sortedkeys_merges_chunks_after_mass_delete():
    sk = SortedKeys()
    for i in range(5000):
        sk = sk.insert((i,))
    assert len(sk._chunks) >= 9
    ed = sk.edit()
    for i in range(5000):
        if i % 50:
            ed.remove((i,))
    small = ed.freeze()
    check_chunks(small)
    assert list(small) == [(i,) for i in range(0, 5000, 50)]
    assert len(small._chunks) <= 2  # undersized chunks were folded together
    assert len(sk) == 5000 and list(sk)[:3] == [(0,), (1,), (2,)]


# ---------------------------------------------------------------------------
# Database: rule-based model check against plain dicts
# ---------------------------------------------------------------------------

row_strategy = st.builds(
    Row,
    ns=st.sampled_from(["a", "b", "default"]),
    name=names,
    ver=st.integers(0, 2),
    status=st.sampled_from(["", "pending", "running", "dead"]),
    uid=st.none(),
)


def with_uid(r: Row, flag: bool) -> Row:
    # uid derived from the pk so the unique index never conflicts here.
    return attrs.evolve(r, uid=f"{r.ns}:{r.name}:{r.ver}" if flag else None)


class DatabaseMachine(RuleBasedStateMachine):
    """Random writes, commits, aborts and snapshots versus a dict model."""

    @initialize()
    def setup(self) -> None:
        self.db = make_db(history=8)
        self.committed: dict = {}
        self.pending: dict | None = None
        self.txn = None
        self.index = 0
        self.table_index = {"rows": 0, "other": 0}
        self.touched: set = set()
        self.snaps: list[tuple[Snapshot, dict, int]] = []
        self.by_index: dict[int, dict] = {0: {}}
        self.groups: list[tuple[str, VersionedGroup, dict]] = []  # (ns, group, its rows)

    # -- transaction lifecycle -------------------------------------------

    @precondition(lambda self: self.txn is None)
    @rule()
    def begin(self) -> None:
        self.txn = self.db.write_txn()
        self.pending = dict(self.committed)
        self.touched = set()
        assert self.txn.index == self.index + 1

    @precondition(lambda self: self.txn is not None)
    @rule(row=row_strategy, flag=st.booleans())
    def insert(self, row: Row, flag: bool) -> None:
        row = with_uid(row, flag)
        self.txn.insert("rows", row)
        self.pending[(row.ns, row.name, row.ver)] = row
        self.touched.add("rows")

    @precondition(lambda self: self.txn is not None)
    @rule(row=row_strategy)
    def delete(self, row: Row) -> None:
        pk = (row.ns, row.name, row.ver)
        assert self.txn.delete("rows", pk) == self.pending.pop(pk, None)
        self.touched.add("rows")

    @precondition(lambda self: self.txn is not None)
    @rule()
    def touch_other(self) -> None:
        self.txn.touch("other")
        self.touched.add("other")

    @precondition(lambda self: self.txn is not None)
    @rule()
    def commit(self) -> None:
        assert self.txn.commit() == self.index + 1
        self.index += 1
        for t in self.touched:
            self.table_index[t] = self.index
        self.committed = self.pending
        self.by_index[self.index] = dict(self.committed)
        self.txn = self.pending = None

    @precondition(lambda self: self.txn is not None)
    @rule()
    def abort(self) -> None:
        self.txn.abort()
        self.txn = self.pending = None

    @precondition(lambda self: self.txn is None)
    @rule(rows=st.lists(row_strategy, max_size=5))
    def raising_txn(self, rows: list[Row]) -> None:
        with pytest.raises(ZeroDivisionError):
            with self.db.write_txn() as txn:
                for r in rows:
                    txn.insert("rows", r)
                txn.delete("rows", ("a", "", 0))
                1 / 0

    @rule()
    def take_snapshot(self) -> None:
        snap = self.db.snapshot()
        self.snaps.append((snap, dict(self.committed), self.index))
        for ns in ("a", "b", "c"):
            group = snap.index_entry("rows", "ns", (ns,))
            if group is not None:
                self.groups.append((ns, group, dict(group.items())))

    # -- checks ----------------------------------------------------------

    def check_view(self, view, model: dict) -> None:
        ordered = [model[k] for k in sorted(model)]
        assert list(view.scan("rows")) == ordered
        assert view.count("rows") == len(model)
        for pk, r in list(model.items())[:5]:
            assert view.get("rows", pk) is r
        assert view.get("rows", ("zz", "", 0)) is None
        # Tuple prefixes and string prefixes on the last given component.
        for prefix, s in [(("a",), None), (("b", "ab"), None), (("default",), "a"), ((), "d"), (("a",), "")]:
            want = [model[k] for k in sorted(model) if k[: len(prefix)] == prefix
                    and (s is None or k[len(prefix)].startswith(s))]
            assert list(view.scan_prefix("rows", prefix, s)) == want
        # Secondary indexes, including removal of stale entries.
        for status in ["pending", "running", "dead", "gone"]:
            want = [r for r in ordered if r.status == status]
            assert view.list_by("rows", "status", (status,)) == want
            assert view.get_by("rows", "status", (status,)) == (want[0] if want else None)
        uids = {r.uid: r for r in ordered if r.uid is not None}
        for r in ordered[:10]:
            assert view.get_by("rows", "uid", (f"{r.ns}:{r.name}:{r.ver}",)) == uids.get(
                f"{r.ns}:{r.name}:{r.ver}"
            )
        # Versioned groups hold each namespace's rows (the row objects themselves).
        for ns in ("a", "b", "c", "default"):
            want = {pk: r for pk, r in model.items() if r.ns == ns}
            group = view.index_entry("rows", "ns", (ns,))
            if not want:
                assert group is None
            else:
                assert type(group) is VersionedGroup and len(group) == len(want)
                assert all(group.get(pk) is r for pk, r in want.items())
            assert view.list_by("rows", "ns", (ns,)) == [want[k] for k in sorted(want)]
        # Every stored index entry points at a live row with that key.
        st_ = view._frozen("rows")
        assert len(st_.indexes["uid"]) == len(uids)
        assert sum(len(v) for v in st_.indexes["status"].values()) == sum(
            1 for r in ordered if r.status
        )

    @invariant()
    def views_agree(self) -> None:
        if not hasattr(self, "db"):
            return
        snap = self.db.snapshot()
        assert snap.latest_index == self.index == self.db.latest_index
        for t, i in self.table_index.items():
            assert snap.index(t) == i
        self.check_view(snap, self.committed)
        if self.txn is not None:
            self.check_view(self.txn, self.pending)
            for t in ("rows", "other"):
                expect = self.txn.index if t in self.touched else self.table_index[t]
                assert self.txn.table_index(t) == expect

    @invariant()
    def old_snapshots_unchanged(self) -> None:
        for snap, model, idx in getattr(self, "snaps", [])[-3:]:
            assert snap.latest_index == idx
            self.check_view(snap, model)

    @invariant()
    def group_changes_replay(self) -> None:
        """Replaying changes_since(older) over the older group's rows gives the
        current group's rows, whenever the changes are known."""
        if not hasattr(self, "db"):
            return
        snap = self.db.snapshot()
        for ns, older, rows in self.groups[-6:]:
            group = snap.index_entry("rows", "ns", (ns,))
            if group is None:
                continue
            changes = group.changes_since(older)
            if group is older:
                assert changes == []
            if changes is None:
                continue
            replay = dict(rows)
            for pk, before, after in changes:
                assert replay.get(pk) is before
                if after is None:
                    del replay[pk]
                else:
                    replay[pk] = after
            assert replay.keys() == dict(group.items()).keys()
            assert all(replay[pk] is row for pk, row in group.items())

    @invariant()
    def time_travel(self) -> None:
        if not hasattr(self, "db"):
            return
        for i, model in self.by_index.items():
            s = self.db.snapshot_at(i)
            if i > self.index - 8:  # history=8 roots
                assert s is not None and s.latest_index == i
                assert list(s.scan("rows")) == [model[k] for k in sorted(model)]
            else:
                assert s is None

    def teardown(self) -> None:
        if getattr(self, "txn", None) is not None:
            self.txn.abort()


TestDatabaseMachine = DatabaseMachine.TestCase
TestDatabaseMachine.settings = settings(max_examples=60, stateful_step_count=40, deadline=None)


# ---------------------------------------------------------------------------
# Database: targeted tests
# ---------------------------------------------------------------------------


def test_index_monotonic_and_consumed_per_commit():
    db = make_db()
    assert db.latest_index == 0 and db.snapshot().index("rows") == 0
    seen = []
    for i in range(5):
        with db.write_txn() as txn:
            if i % 2:
                txn.insert("rows", Row("a", str(i)))
        seen.append(db.latest_index)
    assert seen == [1, 2, 3, 4, 5]  # empty transactions consume an index too
    assert db.snapshot().index("rows") == 4
    assert db.snapshot().index("other") == 0
    txn = db.write_txn()
    txn.insert("rows", Row("a", "x"))
    txn.abort()
    txn.abort()  # idempotent
    assert db.latest_index == 5  # abort consumes nothing
    with db.write_txn() as txn:
        txn.touch("other")
        assert txn.table_index("other") == 6
    snap = db.snapshot()
    assert snap.index("other") == 6 and snap.index("rows") == 4
    with pytest.raises(TxnClosedError):
        txn.insert("rows", Row("a", "y"))


def test_raising_transaction_leaves_no_trace():
    db = make_db()
    with db.write_txn() as txn:
        txn.insert("rows", Row("a", "keep", status="running", uid="u1"))
    before = db.snapshot()
    with pytest.raises(RuntimeError, match="boom"):
        with db.write_txn() as txn:
            txn.insert("rows", Row("a", "new", status="running"))
            txn.delete("rows", ("a", "keep", 0))
            txn.touch("other")
            assert txn.count("rows") == 1
            raise RuntimeError("boom")
    after = db.snapshot()
    assert after.latest_index == before.latest_index == 1
    assert after.index("rows") == 1 and after.index("other") == 0
    assert list(after.scan("rows")) == [Row("a", "keep", status="running", uid="u1")]
    assert after.list_by("rows", "status", ("running",)) == [Row("a", "keep", status="running", uid="u1")]
    # The write lock was released: the next transaction gets index 2.
    with db.write_txn() as txn:
        assert txn.index == 2


def test_secondary_index_maintenance_on_update_and_delete():
    db = make_db()
    with db.write_txn() as txn:
        txn.insert("rows", Row("a", "j1", status="pending", uid="u1"))
        txn.insert("rows", Row("a", "j2", status="pending", uid="u2"))
        txn.insert("rows", Row("a", "j0", status="pending"))
    s = db.snapshot()
    assert [r.name for r in s.list_by("rows", "status", ("pending",))] == ["j0", "j1", "j2"]
    with db.write_txn() as txn:
        # Update moves j1 between status keys and renames its unique key.
        txn.insert("rows", Row("a", "j1", status="running", uid="u1b"))
        # Read-your-writes inside the transaction.
        assert txn.get_by("rows", "uid", ("u1",)) is None
        assert txn.get_by("rows", "uid", ("u1b",)).name == "j1"
        assert [r.name for r in txn.list_by("rows", "status", ("pending",))] == ["j0", "j2"]
        assert txn.delete("rows", ("a", "j2", 0)).uid == "u2"
        assert txn.delete("rows", ("a", "nope", 0)) is None
        # Dropping out of an index (key function returns None).
        txn.insert("rows", Row("a", "j0", status=""))
    s2 = db.snapshot()
    assert s2.list_by("rows", "status", ("pending",)) == []
    assert [r.name for r in s2.list_by("rows", "status", ("running",))] == ["j1"]
    assert s2.get_by("rows", "uid", ("u1",)) is None
    assert s2.get_by("rows", "uid", ("u2",)) is None
    assert s2.get_by("rows", "uid", ("u1b",)) == Row("a", "j1", status="running", uid="u1b")
    assert s2.list_by("rows", "uid", ("u1b",)) == [Row("a", "j1", status="running", uid="u1b")]
    idx = s2._frozen("rows").indexes
    assert set(idx["status"]) == {("running",)}  # empty pk sets are removed
    assert set(idx["uid"]) == {("u1b",)}
    # The old snapshot still sees the old index content.
    assert [r.name for r in s.list_by("rows", "status", ("pending",))] == ["j0", "j1", "j2"]
    with pytest.raises(KeyError):
        s2.list_by("rows", "nope", ("x",))
    with pytest.raises(KeyError):
        s2.get("nope", ("x",))


def test_versioned_group_identity_and_changes():
    db = make_db()
    with db.write_txn() as txn:
        txn.insert("rows", Row("a", "j1"))
        txn.insert("rows", Row("a", "j2"))
        txn.insert("rows", Row("b", "j3"))
    s1 = db.snapshot()
    g1 = s1.index_entry("rows", "ns", ("a",))
    # A write elsewhere keeps the group: the same object in the next snapshot.
    with db.write_txn() as txn:
        txn.insert("rows", Row("b", "j4"))
    assert db.snapshot().index_entry("rows", "ns", ("a",)) is g1
    # Several writes in one transaction fold into one step from g1.
    j1_running = Row("a", "j1", status="running")
    with db.write_txn() as txn:
        txn.insert("rows", j1_running)
        txn.insert("rows", Row("a", "j5"))
        txn.delete("rows", ("a", "j2", 0))
    g2 = db.snapshot().index_entry("rows", "ns", ("a",))
    assert g2 is not g1
    changes = g2.changes_since(g1)
    assert [(pk, b is not None, a is not None) for pk, b, a in changes] == [
        (("a", "j1", 0), True, True), (("a", "j5", 0), False, True), (("a", "j2", 0), True, False)]
    assert changes[0][1] is g1.get(("a", "j1", 0)) and changes[0][2] is j1_running
    # An unrelated group, or a group no longer in memory, gives None (recompute).
    assert g2.changes_since(s1.index_entry("rows", "ns", ("b",))) is None
    # Deleting every row removes the key; a new row starts a group with no past.
    with db.write_txn() as txn:
        for pk in list(g2):
            txn.delete("rows", pk)
    assert db.snapshot().index_entry("rows", "ns", ("a",)) is None
    with db.write_txn() as txn:
        txn.insert("rows", Row("a", "j9"))
    assert db.snapshot().index_entry("rows", "ns", ("a",)).changes_since(g2) is None
    # An aborted transaction leaves the committed group in place.
    g3 = db.snapshot().index_entry("rows", "ns", ("a",))
    txn = db.write_txn()
    txn.insert("rows", Row("a", "j10"))
    assert txn.index_entry("rows", "ns", ("a",)).changes_since(g3) is not None
    txn.abort()
    assert db.snapshot().index_entry("rows", "ns", ("a",)) is g3
    with pytest.raises(ValueError):
        IndexSchema(lambda r: (r.ns,), unique=True, versioned=True)


def test_unique_violation_leaves_txn_unchanged():
    db = make_db()
    with db.write_txn() as txn:
        txn.insert("rows", Row("a", "j1", uid="u"))
    with db.write_txn() as txn:
        with pytest.raises(UniqueConstraintError):
            txn.insert("rows", Row("a", "j2", status="dead", uid="u"))
        assert txn.get("rows", ("a", "j2", 0)) is None
        assert txn.list_by("rows", "status", ("dead",)) == []
        txn.insert("rows", Row("a", "j1", uid="u"))  # same row may keep its key
        with pytest.raises(TypeError):
            txn.insert("rows", Row("a", 5, uid="v"))  # type: ignore[arg-type]
        assert txn.count("rows") == 1
    assert db.snapshot().get_by("rows", "uid", ("u",)).name == "j1"


def test_txn_scan_is_stable_while_writing():
    db = make_db()
    with db.write_txn() as txn:
        for i in range(50):
            txn.insert("rows", Row("a", f"{i:02d}"))
    with db.write_txn() as txn:
        seen = []
        for r in txn.scan("rows"):  # delete everything while iterating
            seen.append(r.name)
            txn.delete("rows", (r.ns, r.name, r.ver))
            txn.insert("rows", Row("b", r.name))
        assert len(seen) == 50
        assert [r.ns for r in txn.scan("rows")] == ["b"] * 50
    assert db.snapshot().count("rows") == 50


def test_nested_write_txn_in_same_thread_raises():
    db = make_db()
    with db.write_txn():
        with pytest.raises(RuntimeError):
            db.write_txn()


def test_snapshot_at_time_travel():
    db = make_db(history=4)
    for i in range(1, 7):
        with db.write_txn() as txn:
            txn.insert("rows", Row("a", f"r{i}"))
    assert db.snapshot_at(6).count("rows") == 6
    assert db.snapshot_at(3).count("rows") == 3
    assert db.snapshot_at(3).latest_index == 3
    assert db.snapshot_at(2) is None  # fell out of the 4 retained roots
    assert db.snapshot_at(7) is None  # future
    assert db.snapshot().latest_index == 6


def test_snapshot_isolation_under_concurrent_writers():
    db = make_db()
    with db.write_txn() as txn:
        for i in range(100):
            txn.insert("rows", Row("a", f"{i:03d}", status="pending"))
    frozen = db.snapshot()
    expected = list(frozen.scan("rows"))
    errors: list[BaseException] = []
    stop = threading.Event()

    def writer(w: int) -> None:
        try:
            rnd = random.Random(w)
            for n in range(400):
                with db.write_txn() as txn:
                    i = rnd.randrange(100)
                    txn.insert("rows", Row("a", f"{i:03d}", status="running", ver=0))
                    txn.delete("rows", ("a", f"{rnd.randrange(100):03d}", 0))
                    # Paired rows: a consistent snapshot always has both or neither.
                    txn.insert("other", Row(f"w{w}", str(n)))
                    txn.insert("other", Row(f"w{w}", str(n), ver=1))
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    def reader() -> None:
        try:
            while not stop.is_set():
                s = db.snapshot()
                rows = list(s.scan("other"))
                assert len(rows) % 2 == 0
                assert s.count("other") == len(rows)
                assert list(frozen.scan("rows")) == expected
        except BaseException as e:  # pragma: no cover
            errors.append(e)

    writers = [threading.Thread(target=writer, args=(w,)) for w in range(4)]
    readers = [threading.Thread(target=reader) for _ in range(3)]
    for t in readers + writers:
        t.start()
    for t in writers:
        t.join()
    stop.set()
    for t in readers:
        t.join()
    assert not errors, errors
    assert db.latest_index == 1 + 4 * 400
    assert list(frozen.scan("rows")) == expected
    assert frozen.list_by("rows", "status", ("pending",)) == expected
    assert frozen.latest_index == 1
    assert db.snapshot().count("other") == 4 * 400 * 2


# ---------------------------------------------------------------------------
# Watches
# ---------------------------------------------------------------------------


def _commit(db: Database, table: str, name: str) -> int:
    with db.write_txn() as txn:
        txn.insert(table, Row("a", name))
    return db.latest_index


def test_wait_returns_immediately_if_already_newer():
    db = make_db()
    _commit(db, "rows", "x")
    t0 = time.monotonic()
    snap = db.wait(["rows"], min_index=0, timeout=5)
    assert time.monotonic() - t0 < 1
    assert snap.latest_index == 1


def test_wait_times_out():
    db = make_db()
    _commit(db, "rows", "x")
    t0 = time.monotonic()
    snap = db.wait(["rows"], min_index=1, timeout=0.2)
    elapsed = time.monotonic() - t0
    assert 0.15 <= elapsed < 2
    assert snap.latest_index == 1


def test_wait_wakes_on_commit():
    db = make_db()
    result: list[Snapshot] = []
    th = threading.Thread(target=lambda: result.append(db.wait(["rows", "other"], 0, timeout=None)))
    th.start()
    time.sleep(0.1)
    _commit(db, "other", "x")
    th.join(2)
    assert not th.is_alive()
    assert result[0].index("other") == 1
    assert db._table_waiters["rows"] == set() and db._table_waiters["other"] == set()


def test_wait_key_watch():
    db = make_db()
    _commit(db, "rows", "x")
    _commit(db, "rows", "y")
    idx = db.latest_index
    # The row changed after min_index=1: immediate.
    snap = db.wait([], 1, timeout=5, keys=[("rows", ("a", "y", 0))])
    assert snap.latest_index == idx
    result: list[Snapshot] = []
    th = threading.Thread(
        target=lambda: result.append(db.wait([], idx, timeout=10, keys=[("rows", ("a", "x", 0))]))
    )
    th.start()
    time.sleep(0.1)
    _commit(db, "rows", "z")  # another row of the same table: no wake
    time.sleep(0.1)
    assert th.is_alive()
    _commit(db, "rows", "x")
    th.join(2)
    assert not th.is_alive()
    assert result[0].latest_index == idx + 2
    assert db._key_waiters == {}


def test_many_waiters_woken_by_one_commit_and_not_by_unrelated():
    db = make_db()
    n = 400
    started = threading.Barrier(n + 1)
    results: list[float] = []
    lock = threading.Lock()

    def waiter() -> None:
        started.wait()
        snap = db.wait(["rows"], 0, timeout=30)
        with lock:
            results.append(time.monotonic())
        assert snap.index("rows") >= 1

    threads = [threading.Thread(target=waiter) for _ in range(n)]
    for t in threads:
        t.start()
    started.wait()
    deadline = time.monotonic() + 10
    while len(db._table_waiters["rows"]) < n and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(db._table_waiters["rows"]) == n

    # A commit to another table sets none of the waiters' events.
    _commit(db, "other", "x")
    time.sleep(0.2)
    assert not any(ev.is_set() for ev in list(db._table_waiters["rows"]))
    assert results == []

    t0 = time.monotonic()
    _commit(db, "rows", "x")
    for t in threads:
        t.join(timeout=max(0.0, t0 + 5 - time.monotonic()))
    assert len(results) == n
    assert max(results) - t0 < 2
    assert db._table_waiters["rows"] == set()


# ---------------------------------------------------------------------------
# restore: built in one go, equal to inserting row by row
# ---------------------------------------------------------------------------

def _table_contents(db: Database) -> dict:
    """Every table's rows, key order, index entries and index, as plain data."""
    out = {}
    for name, table in db._root.tables.items():
        indexes = {}
        for ix_name, m in table.indexes.items():
            indexes[ix_name] = {k: (v if not hasattr(v, "items") else dict(v.items())) for k, v in m.items()}
        out[name] = (dict(table.rows.items()), list(table.keys), indexes, table.index)
    return out


def test_restore_builds_what_row_by_row_inserts_build() -> None:
    from nomadjobs import Cluster
    from nomadjobs.state.store import SCHEMA
    cluster = Cluster(seed=3)
    for i in range(12):
        cluster.register({"ID": f"j{i % 7}", "Type": "batch" if i % 7 > 3 else "service", "Datacenters": ["dc1"],
                          "Meta": {"i": str(i)}, "TaskGroups": [{"Name": "g", "Count": 1 + i % 3, "Tasks": [{
                              "Name": "t", "Driver": "exec", "Config": {"command": "/bin/sh"},
                              "Resources": {"CPU": 100, "MemoryMB": 32}}]}]})
        cluster.advance(3)
    snap = cluster.core.db.snapshot()
    rows = {name: list(snap.scan(name)) for name in snap.tables}
    indexes = {name: snap.table_index(name) for name in snap.tables}
    inserted = Database(SCHEMA, history=1)
    with inserted.write_txn() as txn:
        for name, table_rows in rows.items():
            for row in table_rows:
                txn.insert(name, row)
    for name, table in list(inserted._root.tables.items()):
        inserted._root.tables[name] = table.with_index(indexes[name])
    built = Database(SCHEMA, history=1)
    built.restore(rows, indexes, snap.latest_index)
    assert _table_contents(built) == _table_contents(inserted)
    assert built.latest_index == snap.latest_index
    for name in snap.tables:  # and every read answers alike
        assert list(Snapshot(built._root).scan(name)) == list(snap.scan(name))


def test_restore_refuses_a_unique_key_given_twice_and_changes_nothing() -> None:
    schema = TableSchema("t", lambda o: (o["id"],), {"name": IndexSchema(lambda o: (o["name"],), unique=True)})
    db = Database([schema])
    with db.write_txn() as txn:
        txn.insert("t", {"id": 1, "name": "a"})
    with pytest.raises(UniqueConstraintError):
        db.restore({"t": [{"id": 2, "name": "b"}, {"id": 3, "name": "b"}]}, {"t": 5}, 5)
    assert [row["id"] for row in Snapshot(db._root).scan("t")] == [1]


@given(st.lists(st.integers(-50, 50)))
def test_sorted_keys_from_keys_equals_building_them(keys: list[int]) -> None:
    expected = SortedKeys(keys)
    assert list(SortedKeys.from_keys(keys)) == list(expected)
    ascending = sorted(set(keys))
    built = SortedKeys.from_keys(ascending)  # the one-pass path
    assert list(built) == list(expected) and len(built) == len(expected)
    assert all(k in built for k in keys)


def test_rewind_drops_later_commits_and_commits_go_on_from_there() -> None:
    schema = TableSchema("t", lambda o: (o["id"],), {})
    db = Database([schema], history=4)
    with db.write_txn() as txn:
        txn.insert("t", {"id": 1})
    kept = db.snapshot()
    for n in (2, 3):
        with db.write_txn() as txn:
            txn.insert("t", {"id": n})
    db.rewind(kept)
    assert db.latest_index == 1 and [row["id"] for row in db.snapshot().scan("t")] == [1]
    assert db.snapshot_at(3) is None  # the dropped commits are gone from the history too
    woke: list[int] = []
    waiter = threading.Thread(target=lambda: woke.append(db.wait(("t",), 1, 10).latest_index))
    waiter.start()
    time.sleep(0.05)
    with db.write_txn() as txn:  # the next commit takes the next index and wakes readers
        txn.insert("t", {"id": 9})
    waiter.join(timeout=5)
    assert woke == [2]
    assert [row["id"] for row in db.snapshot().scan("t")] == [1, 9]
