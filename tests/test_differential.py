"""The differential harness (difftest/): its comparison, generation, settling and
shrinking on their own; the transcripts recorded from a real Nomad v0.7.1 agent replayed
against nomadjobs (always); and live sequences against ``$NOMAD_BIN`` (skipped without)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Optional

import pytest

from difftest.compare import Normalizer, compare_answers
from difftest.http import Answer
from difftest.ops import JOB_KINDS, Op, generate
from difftest.runner import Divergence, _busy, replay, shrink

TRANSCRIPTS = sorted((Path(__file__).resolve().parent / "golden" / "differential").glob("*.json"))
JSON = {"content-type": "application/json", "x-nomad-knownleader": "true"}


def answer(body: Any, status: int = 200, headers: Optional[dict[str, str]] = None) -> Answer:
    if isinstance(body, str):
        return Answer(status, headers or {"content-type": "text/plain; charset=utf-8"}, body.encode())
    return Answer(status, dict(JSON, **(headers or {})), json.dumps(body).encode())


def differences(real: Answer, ours: Answer) -> list[str]:
    return compare_answers(real, ours, Normalizer(), Normalizer())


# --- comparison ---------------------------------------------------------------------------------

def test_random_ids_times_and_ports_are_not_differences() -> None:
    real = answer({"ID": "6a1e2b3c-0000-4000-8000-000000000001", "SubmitTime": 1796581097218013331,
                   "DynamicPorts": [{"Label": "http", "Value": 23111}], "HTTPAddr": "127.0.0.1:14646"})
    ours = answer({"ID": "0f0f0f0f-1111-4111-8111-111111111111", "SubmitTime": 1767225600000000000,
                   "DynamicPorts": [{"Label": "http", "Value": 28001}], "HTTPAddr": "127.0.0.1:40001"})
    assert differences(real, ours) == []


def test_a_changed_value_a_missing_key_and_a_status_are_differences() -> None:
    assert differences(answer({"Status": "pending"}), answer({"Status": "running"}))
    assert differences(answer({"A": 1, "B": 2}), answer({"A": 1}))
    assert differences(answer("job not found", 404), answer("job not found", 500))
    assert differences(answer("job not found", 404), answer("job not found!", 404))


def test_ids_keep_their_identity_across_answers() -> None:
    one, two = "11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222"
    real_norm, ours_norm = Normalizer(), Normalizer()
    assert compare_answers(answer({"EvalID": one}), answer({"EvalID": two}), real_norm, ours_norm) == []
    # The real side names the same eval again; ours names another one: a difference.
    other = "33333333-3333-4333-8333-333333333333"
    assert compare_answers(answer({"ID": one}), answer({"ID": other}), real_norm, ours_norm)


def test_index_relations_are_compared_not_values() -> None:
    same = differences(answer({"CreateIndex": 10, "ModifyIndex": 12}), answer({"CreateIndex": 3, "ModifyIndex": 9}))
    assert same == []
    broken = differences(answer({"CreateIndex": 10, "ModifyIndex": 10}), answer({"CreateIndex": 3, "ModifyIndex": 4}))
    assert broken and "relation" in broken[0]
    zero = differences(answer({"JobModifyIndex": 0}), answer({"JobModifyIndex": 5}))
    assert zero and "zero-ness" in zero[0]
    # X-Nomad-Index takes part: here it is below the body's index on one side only.
    header = differences(answer({"ModifyIndex": 10}, headers={"x-nomad-index": "12"}),
                         answer({"ModifyIndex": 10}, headers={"x-nomad-index": "9"}))
    assert header and "relation" in header[0]


def test_an_allocations_client_reported_index_takes_no_part_in_relations() -> None:
    alloc = {"ID": "11111111-1111-4111-8111-111111111111", "TaskGroup": "g", "ClientStatus": "running",
             "CreateIndex": 5}
    real = answer([dict(alloc, ModifyIndex=9), dict(alloc, ID="22222222-2222-4222-8222-222222222222", Name="b",
                                                    ModifyIndex=10)])
    ours = answer([dict(alloc, ModifyIndex=7), dict(alloc, ID="33333333-3333-4333-8333-333333333333", Name="b",
                                                    ModifyIndex=7)])
    assert differences(real, ours) == []
    health = {**alloc, "ModifyIndex": 9, "DeploymentStatus": {"Healthy": True, "ModifyIndex": 9}}
    assert differences(answer([health]), answer([dict(health, DeploymentStatus={"Healthy": True,
                                                                                "ModifyIndex": 3})])) == []
    evals = [{"ID": "11111111-1111-4111-8111-111111111111", "CreateIndex": 5, "ModifyIndex": 9},
             {"ID": "22222222-2222-4222-8222-222222222222", "CreateIndex": 6, "ModifyIndex": 10}]
    flat = [dict(e, ModifyIndex=7) for e in evals]
    assert differences(answer(evals), answer(flat))  # other objects keep theirs


def test_lists_are_paired_in_creation_order() -> None:
    a = {"ID": "11111111-1111-4111-8111-111111111111", "CreateIndex": 5, "Name": "x"}
    b = {"ID": "22222222-2222-4222-8222-222222222222", "CreateIndex": 6, "Name": "y"}
    a2 = dict(a, ID="99999999-9999-4999-8999-999999999999")
    b2 = dict(b, ID="00000000-0000-4000-8000-000000000000")
    assert differences(answer([a, b]), answer([b2, a2])) == []


def test_an_index_quoted_in_an_error_text_is_masked() -> None:
    real = answer("Enforcing job modify index 12: job exists with conflicting job modify index: 13", 500)
    ours = answer("Enforcing job modify index 7: job exists with conflicting job modify index: 8", 500)
    assert differences(real, ours) == []


def test_a_request_that_crashes_nomad_may_be_refused_but_not_accepted() -> None:
    from difftest.http import NO_ANSWER

    crashed = Answer(NO_ANSWER, {}, b"")
    assert differences(crashed, answer("1 error(s) occurred:\n\n* Missing job task groups", 500)) == []
    assert differences(crashed, answer({"EvalID": "11111111-1111-4111-8111-111111111111"}))


def test_a_later_go_field_path_is_read_as_go_1_9_words_it() -> None:
    later = "json: cannot unmarshal number into Go struct field TaskGroup.Job.TaskGroups.Count of type int"
    release = "json: cannot unmarshal number into Go struct field TaskGroup.Count of type int"
    real = Normalizer(go_field_paths=True)
    assert compare_answers(answer(later, 400), answer(release, 400), real, Normalizer()) == []
    # Without the adjustment (a Go 1.9 build) the texts must be equal as they are.
    assert differences(answer(later, 400), answer(release, 400))


# --- generation, settling, shrinking ----------------------------------------------------------

def test_sequences_are_reproducible_and_cover_the_api() -> None:
    assert generate(42, 30) == generate(42, 30)
    assert generate(42, 30) != generate(43, 30)
    kinds = {op.kind for seed in range(60) for op in generate(seed, 25)}
    for expected in ("register", "plan", "revert", "stable", "evaluate", "dispatch", "periodic-force", "stop",
                     "purge", "deployment-promote", "deployment-pause", "deployment-fail", "deployment-health",
                     "blocking-read", "read-versions", "read-summary", "read-list-prefix", "malformed-json",
                     "wrong-type", "unknown-field", "method", "bad-query"):
        assert expected in kinds, expected
    acl_tokens = {op.token for op in generate(7, 200, acl=True)}
    assert {"management", "reader", "writer", "anonymous", "bogus"} <= acl_tokens
    assert set(JOB_KINDS.values()) >= {"service", "batch", "system", "periodic", "parameterized", "docker"}


def test_op_round_trips_through_a_transcript() -> None:
    op = Op("register", "PUT", "/v1/jobs", body={"Job": {"ID": "web"}}, token="reader", write=True)
    assert Op.from_dict(json.loads(json.dumps(op.to_dict()))) == op


def test_settling_waits_for_evals_clients_and_deployments() -> None:
    assert _busy([{"Status": "pending"}], [], [])
    assert _busy([], [{"DesiredStatus": "run", "ClientStatus": "pending"}], [])
    assert _busy([], [{"DesiredStatus": "stop", "ClientStatus": "running"}], [])
    waiting = {"Status": "running", "TaskGroups": {"g": {"PlacedAllocs": 2, "HealthyAllocs": 1, "DesiredTotal": 2}}}
    assert _busy([], [], [waiting])
    canaries = {"Status": "running", "TaskGroups": {"g": {"PlacedAllocs": 1, "HealthyAllocs": 1, "DesiredTotal": 3,
                                                          "DesiredCanaries": 1, "Promoted": False}}}
    assert not _busy([{"Status": "complete"}], [{"DesiredStatus": "run", "ClientStatus": "running"}], [canaries])
    # All healthy, nothing to promote: the watcher has yet to mark it successful.
    healthy = {"Status": "running", "TaskGroups": {"g": {"PlacedAllocs": 2, "HealthyAllocs": 2, "DesiredTotal": 2}}}
    assert _busy([], [], [healthy])
    assert not _busy([], [], [dict(healthy, Status="successful")])
    # A batch allocation (its task is /bin/true) is running only on its way to complete.
    batch_alloc = {"JobID": "cron/periodic-1", "DesiredStatus": "run", "ClientStatus": "running"}
    jobs = [{"ID": "cron/periodic-1", "Type": "batch"}, {"ID": "web", "Type": "service"}]
    assert _busy([], [batch_alloc], [], jobs)
    assert not _busy([], [dict(batch_alloc, JobID="web")], [], jobs)
    assert not _busy([], [dict(batch_alloc, ClientStatus="complete")], [], jobs)


def test_settling_waits_for_the_watchers_evaluation_of_a_health_report() -> None:
    # A canary healthy and awaiting promotion: the deployment is not moving, but the
    # watcher's evaluation of the report is due a second after it.
    canaries = {"Status": "running", "JobID": "web",
                "TaskGroups": {"g": {"PlacedAllocs": 1, "HealthyAllocs": 1, "DesiredTotal": 3,
                                     "DesiredCanaries": 1, "Promoted": False}}}
    alloc = {"JobID": "web", "DesiredStatus": "run", "ClientStatus": "running",
             "DeploymentStatus": {"Healthy": True, "ModifyIndex": 20}}
    register = {"JobID": "web", "Status": "complete", "CreateIndex": 15, "SnapshotIndex": 15}
    assert _busy([register], [alloc], [canaries])
    watcher = {"JobID": "web", "Status": "complete", "CreateIndex": 22, "SnapshotIndex": 22}
    assert not _busy([register, watcher], [alloc], [canaries])
    other_job = dict(watcher, JobID="api")
    assert _busy([register, other_job], [alloc], [canaries])


def test_the_reapers_race_takes_no_part_in_relations() -> None:
    # Seed 80100117: the worker's "complete" and the reaper's "canceled" landed in one
    # order on the real agent and the other in nomadjobs (and both ways within one run).
    def pair(complete: int, canceled: int) -> Answer:
        made = {"ID": "11111111-1111-4111-8111-111111111111", "CreateIndex": 20, "ModifyIndex": complete,
                "TriggeredBy": "job-register", "Status": "complete",
                "BlockedEval": "22222222-2222-4222-8222-222222222222"}
        dup = {"ID": "33333333-3333-4333-8333-333333333333", "CreateIndex": 21, "ModifyIndex": canceled,
               "TriggeredBy": "job-register", "Status": "canceled",
               "StatusDescription": 'existing blocked evaluation exists for job "dock"'}
        return answer([made, dup], headers={"x-nomad-index": str(max(complete, canceled))})
    assert differences(pair(23, 22), pair(22, 23)) == []
    # Any other evaluation's ModifyIndex still counts.
    plain = [{"ID": "44444444-4444-4444-8444-444444444444", "CreateIndex": 5, "ModifyIndex": m,
              "TriggeredBy": "job-register", "Status": "complete"} for m in (6, 7)]
    plain[1].update(CreateIndex=6, ID="55555555-5555-4555-8555-555555555555")
    swapped = [dict(plain[0], ModifyIndex=7), dict(plain[1], ModifyIndex=6)]
    assert differences(answer(plain), answer(swapped))


def test_placement_metrics_of_a_several_group_job_are_not_compared() -> None:
    # Seed 81500143: Nomad placed g1 before g0 (Go map order), so g0's alloc scored
    # job anti-affinity; nomadjobs walks the groups in job order.
    def alloc(scores: dict[str, float], groups: int) -> Answer:
        return answer({"ID": "11111111-1111-4111-8111-111111111111", "TaskGroup": "g0", "ClientStatus": "running",
                       "Job": {"TaskGroups": [{"Name": f"g{i}"} for i in range(groups)]},
                       "Metrics": {"Scores": scores}})
    assert differences(alloc({"binpack": 1.6, "job-anti-affinity": -20.0}, 2), alloc({"binpack": 0.5}, 2)) == []
    assert differences(alloc({"binpack": 1.6}, 1), alloc({"binpack": 0.5}, 1))


def test_a_run_of_watcher_evaluations_reads_as_one() -> None:
    def ev(n: int, job: str, trigger: str, deployment: str = "", modify: int = 0) -> dict[str, Any]:
        return {"ID": f"{n:08d}-0000-4000-8000-000000000000", "CreateIndex": n * 10,
                "ModifyIndex": modify or n * 10 + 1, "JobID": job, "TriggeredBy": trigger,
                "DeploymentID": deployment, "Status": "complete"}
    dep = "d0000000-0000-4000-8000-000000000000"
    one = [ev(1, "web", "job-register"), ev(2, "web", "deployment-watcher", dep, modify=51),
           ev(3, "api", "job-register")]
    three = [ev(1, "web", "job-register"), ev(2, "web", "deployment-watcher", dep),
             ev(3, "api", "job-register"), ev(4, "web", "deployment-watcher", dep),
             ev(5, "web", "deployment-watcher", dep)]
    # Two more watcher evaluations of one deployment, another job's in between: the same.
    assert differences(answer(one), answer(three)) == []
    # One of the job's own evaluations in between breaks the run.
    broken = [ev(1, "web", "job-register"), ev(2, "web", "deployment-watcher", dep),
              ev(3, "web", "job-register"), ev(4, "web", "deployment-watcher", dep, modify=51)]
    assert differences(answer(three), answer(broken))


def test_shrinking_keeps_only_what_the_divergence_needs() -> None:
    ops = [Op(f"op{i}", "GET", f"/v1/x{i}") for i in range(12)]
    needed = {"op3", "op8"}

    def fails(candidate: list[Op]) -> Optional[Divergence]:
        if needed <= {op.kind for op in candidate}:
            return Divergence(0, candidate[-1], ["x"], answer({}), answer({}))
        return None

    assert [op.kind for op in shrink(ops, fails)] == ["op3", "op8"]


def test_a_side_that_stops_answering_is_reported_not_raised() -> None:
    from difftest.runner import run_sequence

    class Gone:
        name = "nomad"

        def request(self, *args: Any, **kwargs: Any) -> Answer:
            raise ConnectionRefusedError(111, "Connection refused")

        def secret(self, role: str) -> str:
            return ""

        def close(self) -> None:
            pass

    result = run_sequence([Op("read-list", "GET", "/v1/jobs")], Gone(), Gone())
    assert not result.ok and "stopped answering" in result.divergences[0].problems[0]


def test_no_generated_count_can_exhaust_the_reference() -> None:
    for seed in range(300):
        for op in generate(seed, 30):
            groups = op.body["Job"].get("TaskGroups") if op.kind == "wrong-type" else None
            for group in groups if isinstance(groups, list) else []:
                count = group.get("Count") if isinstance(group, dict) else None
                assert not (type(count) is int and 1000 <= count < 2**63), (seed, op.describe())


# --- recorded transcripts, replayed against nomadjobs ---------------------------------------------

def test_there_are_recorded_transcripts() -> None:
    assert len(TRANSCRIPTS) >= 5


@pytest.mark.parametrize("path", TRANSCRIPTS, ids=[p.stem for p in TRANSCRIPTS])
def test_recorded_sequence_matches(path: Path) -> None:
    result = replay(json.loads(path.read_text()))
    assert result.ok, "\n".join(d.report() for d in result.divergences)


def test_replay_reports_an_answer_that_differs() -> None:
    transcripts = [json.loads(p.read_text()) for p in sorted(TRANSCRIPTS, key=lambda p: p.stat().st_size)]
    transcript = next(t for t in transcripts if any(e["answer"]["status"] == 200 for e in t["exchanges"]))
    exchange = next(e for e in transcript["exchanges"] if e["answer"]["status"] == 200)
    exchange["answer"]["status"] = 201
    step = transcript["exchanges"].index(exchange)
    result = replay(transcript)
    assert not result.ok and result.divergences[0].step == step
    assert any("status" in p for p in result.divergences[0].problems)


# --- live, against a real agent ------------------------------------------------------------------

@pytest.mark.skipif(not os.environ.get("NOMAD_BIN"), reason="NOMAD_BIN (a Nomad v0.7.1 binary) is not set")
@pytest.mark.parametrize("seed", [101, 202, 303])
def test_live_sequence_matches_nomad(seed: int) -> None:
    from difftest.__main__ import run_live

    result = run_live(os.environ["NOMAD_BIN"], generate(seed, 20), acl=False, seed=seed)
    assert result.ok, "\n".join(d.report() for d in result.divergences)
