"""The raw MVCC Database against a dict reference, one transaction per step.

Complements tests/test_mvcc.py (rows and secondary indexes inside open
transactions) with the index bookkeeping the rest of the library leans on: every
commit takes the next index, an abort takes none, a table's index is the last
commit that inserted, deleted or touched it, ``snapshot_at`` keeps exactly the last
``history`` commits, and ``wait`` answers at once when a watched table already moved
past the index and otherwise times out with the latest snapshot."""

from __future__ import annotations

import os

import attrs
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from nomadjobs.state.mvcc import Database, TableSchema

HISTORY = 5
TABLES = ("a", "b", "c")


@attrs.frozen
class Item:
    key: str
    value: int


def make_db() -> Database:
    return Database([TableSchema(t, lambda r: (r.key,)) for t in TABLES], history=HISTORY)


Op = tuple[str, str, str, int]  # (action, table, key, value)
OPS = st.lists(st.tuples(st.sampled_from(["put", "del", "touch"]), st.sampled_from(TABLES),
                         st.sampled_from(["x", "y", "z"]), st.integers(0, 3)), max_size=4)


class MVCCMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.db = make_db()
        self.rows: dict[str, dict[str, int]] = {t: {} for t in TABLES}
        self.table_index = {t: 0 for t in TABLES}
        self.index = self.db.latest_index
        # index -> (rows, table indexes) as of that commit, for time travel.
        self.history: dict[int, tuple[dict, dict]] = {self.index: self._copy()}

    def _copy(self) -> tuple[dict, dict]:
        return {t: dict(r) for t, r in self.rows.items()}, dict(self.table_index)

    @rule(ops=OPS)
    def commit(self, ops: list[Op]) -> None:
        with self.db.write_txn() as txn:
            for action, table, key, value in ops:
                if action == "put":
                    txn.insert(table, Item(key, value))
                    self.rows[table][key] = value
                elif action == "del":
                    # Documented: the table counts as written even when the row is absent.
                    txn.delete(table, (key,))
                    self.rows[table].pop(key, None)
                else:
                    txn.touch(table)
                self.table_index[table] = txn.index
        self.index += 1  # every commit takes the next index, even an empty one
        assert self.db.latest_index == self.index
        self.history[self.index] = self._copy()

    @rule(ops=OPS)
    def abort(self, ops: list[Op]) -> None:
        txn = self.db.write_txn()
        for action, table, key, value in ops:
            if action == "put":
                txn.insert(table, Item(key, value))
            elif action == "del":
                txn.delete(table, (key,))
            else:
                txn.touch(table)
        txn.abort()
        assert self.db.latest_index == self.index  # an abort consumes nothing

    @rule(table=st.sampled_from(TABLES), behind=st.integers(0, 3))
    def wait(self, table: str, behind: int) -> None:
        seen = max(0, self.table_index[table] - behind)
        snap = self.db.wait([table], seen, timeout=0.001)
        assert snap.latest_index == self.index
        # Waiting for a table that already moved past ``seen`` must not sleep;
        # either way the answer is the latest state.
        assert (snap.table_index(table) > seen) == (behind > 0 and self.table_index[table] > seen)

    @invariant()
    def latest_agrees(self) -> None:
        snap = self.db.snapshot()
        assert snap.latest_index == self.index
        for t in TABLES:
            assert {r.key: r.value for r in snap.scan(t)} == self.rows[t]
            assert snap.table_index(t) == self.table_index[t]
            assert snap.table_index(t) <= snap.latest_index

    @invariant()
    def history_is_the_last_commits(self) -> None:
        for i, (rows, indexes) in self.history.items():
            snap = self.db.snapshot_at(i)
            if i <= self.index - HISTORY:
                assert snap is None, i
                continue
            assert snap is not None and snap.latest_index == i
            for t in TABLES:
                assert {r.key: r.value for r in snap.scan(t)} == rows[t]
                assert snap.table_index(t) == indexes[t]
        assert self.db.snapshot_at(self.index + 1) is None


TestMVCCModel = MVCCMachine.TestCase
TestMVCCModel.settings = settings(
    max_examples=int(os.environ.get("NOMADJOBS_MVCC_EXAMPLES", "40")), stateful_step_count=25, deadline=None,
    suppress_health_check=[HealthCheck.too_slow])
