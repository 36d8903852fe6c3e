"""The wire codec: golden answers and the documentation's samples round-trip, and
request bodies decode with Go's rules (case-insensitive keys, unknown keys ignored,
null = unset, strict types with Go's messages)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from hypothesis import given, strategies as st

from nomadjobs import codec
from nomadjobs import structs as s
from nomadjobs.golang.strconv import parse_bool
from nomadjobs.golang.time import format_duration, parse_duration, rfc3339

from conformance import GOLDEN_DIR, seed_samples

# Golden answer -> the model it is an instance of.
GOLDEN_MODELS: dict[str, Any] = {
    "04_list_jobs.json": list[s.JobListStub],
    "07_read_job.json": s.Job,
    "10_allocations.json": list[s.AllocListStub],
    "11_evaluations.json": list[s.Evaluation],
    "12_deployments.json": list[s.Deployment],
    "13_deployment_latest.json": s.Deployment,
    "14_summary.json": s.JobSummary,
    "15_plan_diff.json": s.JobPlanResponse,
    "16_plan_nodiff.json": s.JobPlanResponse,
    "26_update_enforce_index_ok.json": s.JobRegisterResponse,
    "29_versions_diffs.json": s.JobVersionsResponse,
    "40_stable_current_v2.json": s.JobStabilityResponse,
    "58_dispatch.json": s.JobDispatchResponse,
    "63_read_dispatched_child.json": s.Job,
    "64_allocations_dispatched_child.json": list[s.AllocListStub],
    "66_summary_param_parent.json": s.JobSummary,
    "70_periodic_force.json": s.PeriodicForceResponse,
    "76_allocations_raw_exec_service.json": list[s.AllocListStub],
    "78_deployment_raw_exec_service.json": s.Deployment,
    "86_deregister.json": s.JobDeregisterResponse,
}


def _golden(name: str) -> dict:
    return json.loads((GOLDEN_DIR / name).read_text())


@pytest.mark.parametrize("name", sorted(GOLDEN_MODELS))
def test_golden_answers_round_trip_byte_for_byte(name: str) -> None:
    raw = _golden(name)["response"]["body_raw"]
    model = codec.from_wire(json.loads(raw), GOLDEN_MODELS[name])
    out = codec.dumps(model).decode()
    assert json.loads(out) == json.loads(raw)
    if name not in ("07_read_job.json",):  # Config key order is not stable in Nomad
        assert out == raw


def _seed_samples() -> list[tuple[int, Any]]:
    out = []
    for i, block in enumerate(sample["json"] for sample in seed_samples()):
        if '"..."' in block or "A28C3==" in block:
            continue  # elided samples, and one whose payload Go itself refuses (below)
        try:
            out.append((i, json.loads(block)))
        except ValueError:
            continue  # the page elides some samples with "..." or trailing commas
    return out


def test_the_docs_dispatch_sample_payload_is_refused_like_go() -> None:
    # The page's sample payload "A28C3==" is not valid base64; Go's decoder says so.
    with pytest.raises(codec.DecodeError, match="illegal base64 data at input byte 5"):
        codec.decode_body('{"Payload": "A28C3==", "Meta": {"key": "Value"}}', s.JobDispatchRequest)


SEED_MODELS = {
    "list": [s.JobListStub, s.Job, s.AllocListStub, s.Evaluation, s.Deployment],
    "dict": [s.JobRegisterRequest, s.JobRegisterResponse, s.Job, s.Deployment, s.JobSummary,
             s.JobDispatchRequest, s.JobDispatchResponse, s.JobStabilityRequest, s.JobPlanRequest,
             s.JobPlanResponse, s.PeriodicForceResponse],
}


def _keys_of(value: Any) -> set:
    if isinstance(value, dict):
        return set(value)
    if isinstance(value, list) and value and isinstance(value[0], dict):
        return set(value[0])
    return set()


def _pick_model(sample: Any) -> Any:
    """The model whose fields cover the sample's keys best."""
    kind = "list" if isinstance(sample, list) else "dict"
    keys = _keys_of(sample)
    best = max(SEED_MODELS[kind], key=lambda cl: len(keys & {f.name for f in cl.__attrs_attrs__}))
    return list[best] if kind == "list" else best


def _contained(sample: Any, out: Any, path: str = "") -> list[str]:
    """Every key/value of the documentation sample appears unchanged in our output."""
    if isinstance(sample, dict):
        if not isinstance(out, dict):
            return [f"{path}: not an object"]
        problems = []
        for k, v in sample.items():
            if k in ("Id",):  # api-only input fields the server never prints
                continue
            if k not in out:
                problems.append(f"{path}.{k}: missing")
            else:
                problems += _contained(v, out[k], f"{path}.{k}")
        return problems
    if isinstance(sample, list):
        if not isinstance(out, list) or len(out) != len(sample):
            return [f"{path}: list differs"]
        return [p for a, b in zip(sample, out) for p in _contained(a, b, path + "[]")]
    if isinstance(sample, (int, float)) and not isinstance(sample, bool) and isinstance(out, (int, float)):
        return [] if sample == out else [f"{path}: {sample} != {out}"]
    return [] if sample == out else [f"{path}: {sample!r} != {out!r}"]


@pytest.mark.parametrize("index,sample", _seed_samples(), ids=lambda v: str(v) if isinstance(v, int) else "")
def test_seed_samples_round_trip(index: int, sample: Any) -> None:
    model = codec.from_wire(sample, _pick_model(sample))
    out = codec.to_wire(model)
    assert _contained(sample, json.loads(codec.dumps(model))) == []
    assert codec.to_wire(codec.from_wire(out, _pick_model(sample))) == out


def test_request_keys_match_case_insensitively_and_unknown_keys_are_ignored() -> None:
    req = codec.decode_body('{"job": {"id": "web", "PRIORITY": 70, "Bogus": 1}, "enforceIndex": true}',
                            s.JobRegisterRequest)
    assert req.Job.ID == "web" and req.Job.Priority == 70 and req.EnforceIndex is True


def test_exact_key_wins_over_folded_key() -> None:
    job = codec.from_wire({"id": "folded", "ID": "exact"}, s.Job)
    assert job.ID == "exact"


def test_null_leaves_the_default() -> None:
    req = codec.decode_body('{"Job": {"ID": "x", "Priority": null, "TaskGroups": null}, "EnforceIndex": null}',
                            s.JobRegisterRequest)
    assert req.Job.Priority is None and req.Job.TaskGroups is None and req.EnforceIndex is False


@pytest.mark.parametrize("body,message", [
    ('{"Job": {"ID": "x", "Priority": "high"}}',
     "json: cannot unmarshal string into Go struct field Job.Priority of type int"),
    ('{"Job": {"ID": 5}}', "json: cannot unmarshal number into Go struct field Job.ID of type string"),
    ('{"Job": {"ID": "x", "TaskGroups": [{"Count": true}]}}',
     "json: cannot unmarshal bool into Go struct field TaskGroup.Count of type int"),
    ('{"Job": {"ID": "x", "Datacenters": "dc1"}}',
     "json: cannot unmarshal string into Go struct field Job.Datacenters of type []string"),
    ('{"EnforceIndex": "yes"}', "json: cannot unmarshal string into Go struct field JobRegisterRequest.EnforceIndex of type bool"),
    ('{"Job": {"ID": "x", "TaskGroups": [{"Tasks": [{"KillTimeout": "30s"}]}]}}',
     "json: cannot unmarshal string into Go struct field Task.KillTimeout of type int"),
])
def test_wrong_types_fail_with_go_messages_naming_the_field(body: str, message: str) -> None:
    with pytest.raises(codec.DecodeError) as err:
        codec.decode_body(body, s.JobRegisterRequest)
    assert str(err.value) == message


@pytest.mark.parametrize("body,message", [
    ("", "EOF"),
    ('{"Job": {"ID": "x",', "unexpected EOF"),
    ("{bad", "invalid character 'b' looking for beginning of object key string"),
    ('{"a": 1} x', "invalid character 'x' after top-level value"),
])
def test_malformed_bodies_fail_like_go(body: str, message: str) -> None:
    with pytest.raises(codec.DecodeError) as err:
        codec.decode_body(body, s.JobRegisterRequest)
    assert str(err.value) == message


def test_config_numbers_become_floats_like_go_interface() -> None:
    task = codec.from_wire({"Config": {"port_map": [{"db": 6379}], "n": 3, "s": "x"}}, s.Task)
    assert task.Config == {"port_map": [{"db": 6379.0}], "n": 3.0, "s": "x"}
    assert b'"db":6379.0' in codec.dumps(task)


def test_payload_is_base64_both_ways() -> None:
    req = codec.from_wire({"Payload": "aGVsbG8="}, s.JobDispatchRequest)
    assert req.Payload == b"hello"
    assert codec.to_wire(s.Job(Payload=b"hello"))["Payload"] == "aGVsbG8="
    with pytest.raises(codec.DecodeError):
        codec.from_wire({"Payload": "not base64!"}, s.JobDispatchRequest)


def test_input_only_fields_are_accepted_but_never_printed() -> None:
    svc = codec.from_wire({"Id": "abc", "Name": "web", "CheckRestart": {"Limit": 3}}, s.Service)
    out = codec.to_wire(svc)
    assert "Id" not in out and "CheckRestart" not in out and out["Name"] == "web"


def test_output_follows_nomads_field_order_and_nulls() -> None:
    out = codec.dumps(s.Evaluation(ID="e")).decode()
    keys = re.findall(r'"(\w+)":', out)
    assert keys[:6] == ["ID", "Namespace", "Priority", "Type", "TriggeredBy", "JobID"]
    assert '"FailedTGAllocs":null' in out and '"QueuedAllocations":null' in out


def test_pretty_output_indents_four_spaces_with_a_newline() -> None:
    out = codec.dumps(s.JobStabilityResponse(Index=3), pretty=True).decode()
    assert out == '{\n    "Index": 3\n}\n'


@given(st.integers(min_value=0, max_value=10**15))
def test_go_durations_round_trip(ns: int) -> None:
    assert parse_duration(format_duration(ns)) == ns


@pytest.mark.parametrize("ns,text", [(0, "0s"), (5 * 60 * 10**9, "5m0s"), (1500 * 10**6, "1.5s"),
                                     (168 * 3600 * 10**9, "168h0m0s"), (250 * 10**6, "250ms")])
def test_go_duration_format(ns: int, text: str) -> None:
    assert format_duration(ns) == text


def test_go_parse_bool_and_times() -> None:
    assert parse_bool("T") is True and parse_bool("0") is False
    with pytest.raises(ValueError, match='parsing "maybe": invalid syntax'):
        parse_bool("maybe")
    assert rfc3339(0) == "0001-01-01T00:00:00Z"
    assert rfc3339(1795768208482560571) == "2026-11-27T08:30:08.482560571Z"
    assert rfc3339(1795768208000000000) == "2026-11-27T08:30:08Z"
