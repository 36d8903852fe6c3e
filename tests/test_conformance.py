"""Replay the 97 recorded requests of a real Nomad v0.7.1 agent, in order, against the
app on a fleet that mirrors the recording, and compare every answer (rules in
``tests/conformance.py``)."""

from __future__ import annotations

import pytest
from falcon import testing

import shim
from nomadjobs import Cluster

from conformance import Replayer, load_cases

CASES = load_cases()


@pytest.fixture(scope="module")
def replay_results() -> dict[int, list[str]]:
    cluster = Cluster(fleet="golden", seed=7)
    replayer = Replayer(testing.TestClient(shim.create_app(cluster)), cluster)
    results = {case["seq"]: replayer.run_case(case) for case in CASES}
    cluster.close()
    return results


def test_every_recorded_case_was_replayed(replay_results):
    assert len(CASES) == 97
    assert sorted(replay_results) == [c["seq"] for c in CASES]


# Answers that differ from the recording on purpose, with the reason (docs/differences.md).
KNOWN_DIFFERENCES: dict[int, dict[str, str]] = {}  # none: case 87's version overwrite is matched now


@pytest.mark.parametrize("case", CASES, ids=[f"{c['seq']:02d}_{c['case']}" for c in CASES])
def test_matches_nomad(case, replay_results):
    problems = [p for p in replay_results[case["seq"]] if p not in KNOWN_DIFFERENCES.get(case["seq"], {})]
    assert not problems, "\n".join(problems)


def test_known_differences_are_still_the_only_ones(replay_results):
    """A listed difference that disappears must be taken off the list."""
    for seq, known in KNOWN_DIFFERENCES.items():
        assert set(known) <= set(replay_results[seq])


def test_comparison_catches_a_wrong_answer():
    """The comparison itself must be able to fail: a changed value, a missing key and a
    broken index relation are all reported."""
    from conformance import compare_indexes, compare_json
    assert compare_json({"Status": "pending"}, {"Status": "running"}, set())
    assert compare_json({"A": 1, "B": 2}, {"A": 1}, set())
    idx: list = []
    compare_json({"CreateIndex": 7, "ModifyIndex": 7}, {"CreateIndex": 3, "ModifyIndex": 4}, set(), "", idx)
    assert compare_indexes(idx)
