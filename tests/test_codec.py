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
     "json: cannot unmarshal string into Go struct field Task.KillTimeout of type time.Duration"),
])
def test_wrong_types_fail_with_go_messages_naming_the_field(body: str, message: str) -> None:
    with pytest.raises(codec.DecodeError) as err:
        codec.decode_body(body, s.JobRegisterRequest)
    assert str(err.value) == message


def _task_body(task: dict[str, Any]) -> str:
    return json.dumps({"Job": {"ID": "x", "TaskGroups": [{"Name": "g", "Tasks": [task]}]}})


# Each field is named with its Go type as reflect prints it, from v0.7.1's api package
# (api/jobs.go, api/tasks.go, api/resources.go) and, for the bodies Nomad decodes
# straight into them, nomad/structs: time.Duration, uint64 and int64 where Go has them.
@pytest.mark.parametrize("body,cl,message", [
    (_task_body({"KillTimeout": {"a": 1}}), s.JobRegisterRequest,
     "json: cannot unmarshal object into Go struct field Task.KillTimeout of type time.Duration"),
    (_task_body({"ShutdownDelay": "1s"}), s.JobRegisterRequest,
     "json: cannot unmarshal string into Go struct field Task.ShutdownDelay of type time.Duration"),
    (_task_body({"Services": [{"Checks": [{"Interval": "10s"}]}]}), s.JobRegisterRequest,
     "json: cannot unmarshal string into Go struct field ServiceCheck.Interval of type time.Duration"),
    (_task_body({"Services": [{"Checks": [{"Timeout": [1]}]}]}), s.JobRegisterRequest,
     "json: cannot unmarshal array into Go struct field ServiceCheck.Timeout of type time.Duration"),
    (_task_body({"Services": [{"Checks": [{"CheckRestart": {"Grace": "5s"}}]}]}), s.JobRegisterRequest,
     "json: cannot unmarshal string into Go struct field CheckRestart.Grace of type time.Duration"),
    (_task_body({"Templates": [{"Splay": "5s"}]}), s.JobRegisterRequest,
     "json: cannot unmarshal string into Go struct field Template.Splay of type time.Duration"),
    (_task_body({"Templates": [{"VaultGrace": True}]}), s.JobRegisterRequest,
     "json: cannot unmarshal bool into Go struct field Template.VaultGrace of type time.Duration"),
    ('{"Job": {"TaskGroups": [{"RestartPolicy": {"Interval": "1m"}}]}}', s.JobRegisterRequest,
     "json: cannot unmarshal string into Go struct field RestartPolicy.Interval of type time.Duration"),
    ('{"Job": {"TaskGroups": [{"RestartPolicy": {"Delay": "1m"}}]}}', s.JobRegisterRequest,
     "json: cannot unmarshal string into Go struct field RestartPolicy.Delay of type time.Duration"),
    ('{"Job": {"Update": {"Stagger": "30s"}}}', s.JobRegisterRequest,
     "json: cannot unmarshal string into Go struct field UpdateStrategy.Stagger of type time.Duration"),
    ('{"Job": {"Update": {"MinHealthyTime": "30s"}}}', s.JobRegisterRequest,
     "json: cannot unmarshal string into Go struct field UpdateStrategy.MinHealthyTime of type time.Duration"),
    ('{"Job": {"Update": {"HealthyDeadline": "5m"}}}', s.JobRegisterRequest,
     "json: cannot unmarshal string into Go struct field UpdateStrategy.HealthyDeadline of type time.Duration"),
    ('{"Job": {"Version": "1"}}', s.JobRegisterRequest,
     "json: cannot unmarshal string into Go struct field Job.Version of type uint64"),
    ('{"Job": {"SubmitTime": "now"}}', s.JobRegisterRequest,
     "json: cannot unmarshal string into Go struct field Job.SubmitTime of type int64"),
    ('{"Job": {"TaskGroups": {}}}', s.JobRegisterRequest,
     "json: cannot unmarshal object into Go struct field Job.TaskGroups of type []*api.TaskGroup"),
    ('{"Job": {"Meta": []}}', s.JobRegisterRequest,
     "json: cannot unmarshal array into Go struct field Job.Meta of type map[string]string"),
    ('{"Job": {"Payload": {}}}', s.JobRegisterRequest,
     "json: cannot unmarshal object into Go struct field Job.Payload of type []uint8"),
    (_task_body({"Config": []}), s.JobRegisterRequest,
     "json: cannot unmarshal array into Go struct field Task.Config of type map[string]interface {}"),
    (_task_body({"Services": [{"Checks": {}}]}), s.JobRegisterRequest,
     "json: cannot unmarshal object into Go struct field Service.Checks of type []api.ServiceCheck"),
    (_task_body({"Services": [{"Checks": [{"Header": []}]}]}), s.JobRegisterRequest,
     "json: cannot unmarshal array into Go struct field ServiceCheck.Header of type map[string][]string"),
    (_task_body({"Resources": {"Networks": [{"ReservedPorts": {}}]}}), s.JobRegisterRequest,
     "json: cannot unmarshal object into Go struct field NetworkResource.ReservedPorts of type []api.Port"),
    (_task_body({"Resources": "big"}), s.JobRegisterRequest,
     "json: cannot unmarshal string into Go struct field Task.Resources of type api.Resources"),
    ('{"JobModifyIndex": "3"}', s.JobRegisterRequest,
     "json: cannot unmarshal string into Go struct field JobRegisterRequest.JobModifyIndex of type uint64"),
    ('{"JobVersion": "3"}', s.JobRevertRequest,
     "json: cannot unmarshal string into Go struct field JobRevertRequest.JobVersion of type uint64"),
    ('{"EnforcePriorVersion": true}', s.JobRevertRequest,
     "json: cannot unmarshal bool into Go struct field JobRevertRequest.EnforcePriorVersion of type uint64"),
    ('{"Context": ["jobs"]}', s.SearchRequest,
     "json: cannot unmarshal array into Go struct field SearchRequest.Context of type structs.Context"),
    # Fields of the embedded structs.QueryOptions the model does not keep: still decoded.
    ('{"MaxQueryTime": "5s"}', s.SearchRequest,
     "json: cannot unmarshal string into Go struct field SearchRequest.MaxQueryTime of type time.Duration"),
    ('{"MinQueryIndex": -1}', s.SearchRequest,
     "json: cannot unmarshal number -1 into Go struct field SearchRequest.MinQueryIndex of type uint64"),
    ('{"AuthToken": false}', s.DeploymentPauseRequest,
     "json: cannot unmarshal bool into Go struct field DeploymentPauseRequest.AuthToken of type string"),
])
def test_go_types_are_named_as_go_names_them(body: str, cl: Any, message: str) -> None:
    with pytest.raises(codec.DecodeError) as err:
        codec.decode_body(body, cl)
    assert str(err.value) == message


def test_the_go_table_agrees_with_the_models() -> None:
    """Every field of a Go struct in the table is a model attribute of a matching kind
    (or one the model drops), and every model attribute is a Go field."""
    import attrs
    import typing
    from nomadjobs.golang import json as gojson

    def kind(hint: Any) -> Any:
        origin = typing.get_origin(hint)
        if origin is typing.Union:
            (hint,) = [a for a in typing.get_args(hint) if a is not type(None)]
            return kind(hint)
        return {list: gojson.SLICE, dict: gojson.MAP}.get(origin) or (
            gojson.STRUCT if attrs.has(hint) else
            {str: gojson.STRING, bool: gojson.BOOL, int: gojson.INT, bytes: gojson.SLICE,
             Any: gojson.INTERFACE}[hint])

    dropped = {("structs.SearchRequest", name) for name in ("MinQueryIndex", "MaxQueryTime", "AllowStale")}
    for name in codec._GO_STRUCTS:
        go_type = codec._go_struct(name)
        hints = typing.get_type_hints(go_type.model)
        assert {f.attr for f in go_type.fields if f.attr} == set(hints), name
        for f in go_type.fields:
            if f.attr is None:
                assert (name, f.name) in dropped
                continue
            t = f.type.elem if f.type.kind == gojson.PTR else f.type
            assert t is not None
            expected = gojson.INT if t.kind == gojson.UINT else t.kind
            assert kind(hints[f.attr]) == expected, (name, f.name)


# Keys are decoded in order, each into the field it names exactly or else
# case-insensitively; a later key for the same field decodes into what is there.
def test_a_later_key_for_the_same_field_wins() -> None:
    job = codec.decode_body(b'{"Job": {"ID": "a", "ID": "b"}}', s.JobRegisterRequest).Job
    assert job.ID == "b"
    assert codec.from_wire({"ID": "exact", "id": "folded"}, s.Job).ID == "folded"
    assert codec.decode_body(b'{"Job": {"id": "a", "ID": null}}', s.JobRegisterRequest).Job.ID is None
    body = {"Job": {"ID": "web", "TaskGroups": [{"Name": "g", "Tasks": [{"Name": "t"}]}], "taskgroups": None}}
    assert codec.decode_body(json.dumps(body), s.JobRegisterRequest).Job.TaskGroups is None
    assert codec.from_wire(body, s.JobRegisterRequest).Job.TaskGroups is None


def test_null_clears_pointers_slices_and_maps_and_leaves_the_rest() -> None:
    task = codec.decode_body(b'{"Job": {"TaskGroups": [{"Tasks": [{"Name": "t", "name": null, "Leader": true, '
                             b'"Leader": null, "Meta": {"a": "b"}, "meta": null, "KillTimeout": 5, '
                             b'"KillTimeout": null}]}]}}', s.JobRegisterRequest).Job.TaskGroups[0].Tasks[0]
    assert (task.Name, task.Leader, task.Meta, task.KillTimeout) == ("t", True, None, None)
    # A null element or map value is the element type's zero value.
    job = codec.decode_body(b'{"Job": {"Datacenters": ["dc1", null], "Meta": {"k": null}}}', s.JobRegisterRequest).Job
    assert job.Datacenters == ["dc1", ""] and job.Meta == {"k": ""}


def test_a_later_key_decodes_into_what_is_there() -> None:
    # Structs behind pointers, maps and slice elements are merged into, not replaced.
    job = codec.decode_body(json.dumps({"Job": {
        "Update": {"MaxParallel": 2}, "update": {"Stagger": 5},
        "Meta": {"a": "1"}, "META": {"b": "2"},
        "TaskGroups": [{"Name": "a", "Count": 2}, {"Name": "x"}], "taskGroups": [{"Name": "b"}]}}),
        s.JobRegisterRequest).Job
    assert job.Update == s.UpdateStrategy(MaxParallel=2, Stagger=5)
    assert job.Meta == {"a": "1", "b": "2"}
    assert job.TaskGroups == [s.TaskGroup(Name="b", Count=2)]
    # Go reuses the slice's array: an element beyond the last array's length comes back.
    groups = codec.decode_body(b'{"Job": {"TaskGroups": [{"Name": "a"}, {"Name": "b", "Count": 1}], '
                               b'"TaskGroups": [{}], "TaskGroups": [{}, {"Name": "c"}]}}',
                               s.JobRegisterRequest).Job.TaskGroups
    assert groups == [s.TaskGroup(Name="a"), s.TaskGroup(Name="c", Count=1)]
    # An empty array is a new empty slice; Config (interface{} values) is replaced per key.
    job = codec.decode_body(b'{"Job": {"Datacenters": ["a"], "datacenters": [], "TaskGroups": [{"Tasks": [{'
                            b'"Config": {"a": {"x": 1}}, "config": {"a": {"y": 2}}}]}]}}', s.JobRegisterRequest).Job
    assert job.Datacenters == [] and job.TaskGroups[0].Tasks[0].Config == {"a": {"y": 2.0}}


def test_keys_fold_as_go_folds_them() -> None:
    # U+017F (long s) folds to "s" and U+212A (Kelvin) to "k" in Go's fold.go.
    job = codec.decode_body('{"Job": {"\u017ftop": true, "Region": "r", "\u212aillTimeout": 1}}'.encode(),
                            s.JobRegisterRequest).Job
    assert job.Stop is True
    task = codec.decode_body('{"Job": {"TaskGroups": [{"Tasks": [{"\u212aillTimeout": 7}]}]}}'.encode(),
                             s.JobRegisterRequest).Job.TaskGroups[0].Tasks[0]
    assert task.KillTimeout == 7
    assert codec.decode_body('{"Job": {"\u0130D": "x"}}'.encode(), s.JobRegisterRequest).Job.ID is None


@pytest.mark.parametrize("body,message", [
    # A number only fits numbers; the literal is quoted where it does not parse.
    ('{"Job": {"Priority": 1e2}}', "json: cannot unmarshal number 1e2 into Go struct field Job.Priority of type int"),
    ('{"Job": {"Priority": 1.0}}', "json: cannot unmarshal number 1.0 into Go struct field Job.Priority of type int"),
    ('{"Job": {"Priority": 9223372036854775808}}',
     "json: cannot unmarshal number 9223372036854775808 into Go struct field Job.Priority of type int"),
    ('{"JobModifyIndex": -1}',
     "json: cannot unmarshal number -1 into Go struct field JobRegisterRequest.JobModifyIndex of type uint64"),
    ('{"JobModifyIndex": -0}',
     "json: cannot unmarshal number -0 into Go struct field JobRegisterRequest.JobModifyIndex of type uint64"),
    ('{"Job": {"TaskGroups": [{"Tasks": [{"Config": {"n": 1e400}}]}]}}',
     "json: cannot unmarshal number 1e400 into Go struct field Task.Config of type float64"),
    # Go 1.9 keeps the first type error and goes on, but a number where no number fits
    # stops it at once: that one is reported.
    ('{"Job": {"ID": true, "Name": "x", "Priority": "p"}}',
     "json: cannot unmarshal bool into Go struct field Job.ID of type string"),
    ('{"Job": {"ID": true, "Name": 5}}', "json: cannot unmarshal number into Go struct field Job.Name of type string"),
    # Go 1.9's error context: set by a key that names a field, cleared after each
    # key/value pair but an object's last, and left as it was by an element or a map key.
    ('{"Job": {"Meta": {"a": 1}}}', "json: cannot unmarshal number into Go struct field Job.Meta of type string"),
    ('{"Job": {"Meta": {"a": "x", "b": 1}}}', "json: cannot unmarshal number into Go value of type string"),
    ('{"Job": {"TaskGroups": [{"Name": "a"}, 5]}}',
     "json: cannot unmarshal number into Go struct field TaskGroup.Name of type api.TaskGroup"),
    ('{"Job": {"TaskGroups": [{"Name": "a", "Count": 1}, "x"]}}',
     "json: cannot unmarshal string into Go struct field TaskGroup.Count of type api.TaskGroup"),
    ('{"Job": {"Bogus": 1, "Datacenters": "dc1"}}',
     "json: cannot unmarshal string into Go struct field Job.Datacenters of type []string"),
    ('{"Payload": "aGVsbG8=!"}', "illegal base64 data at input byte 8"),
])
def test_errors_are_reported_as_go_19_reports_them(body: str, message: str) -> None:
    cl = s.JobDispatchRequest if "Payload" in body else s.JobRegisterRequest
    with pytest.raises(codec.DecodeError) as err:
        codec.decode_body(body, cl)
    assert str(err.value) == message


def test_numbers_keep_what_go_keeps() -> None:
    config = codec.decode_body(b'{"Job": {"TaskGroups": [{"Tasks": [{"Config": {"z": -0, "big": 18446744073709551616, '
                               b'"tiny": 1e-400}}]}]}}', s.JobRegisterRequest).Job.TaskGroups[0].Tasks[0].Config
    assert str(config["z"]) == "-0.0" and config["big"] == 2.0 ** 64 and config["tiny"] == 0.0
    assert codec.decode_body(b'{"Job": {"Priority": -0}}', s.JobRegisterRequest).Job.Priority == 0
    # Go's base64 skips newlines.
    assert codec.decode_body(b'{"Payload": "aGVs\\nbG8="}', s.JobDispatchRequest).Payload == b"hello"
    # A JSON array of numbers is a []byte too.
    assert codec.decode_body(b'{"Payload": [104, 105]}', s.JobDispatchRequest).Payload == b"hi"


@pytest.mark.parametrize("body,message", [
    ("", "EOF"),
    (" \n\t", "EOF"),
    ('{"Job": {"ID": "x",', "unexpected EOF"),
    ("{bad", "invalid character 'b' looking for beginning of object key string"),
])
def test_malformed_bodies_fail_like_go(body: str, message: str) -> None:
    with pytest.raises(codec.DecodeError) as err:
        codec.decode_body(body, s.JobRegisterRequest)
    assert str(err.value) == message


# Go's scanner (encoding/json/scanner.go, Go 1.9) checks every byte; its messages name
# the byte with quoteChar and the state it was met in. A value cut short is
# "unexpected EOF".
@pytest.mark.parametrize("body,message", [
    (b"not json", "invalid character 'o' in literal null (expecting 'u')"),
    (b"nul", "unexpected EOF"),
    (b"trux", "invalid character 'x' in literal true (expecting 'e')"),
    (b"fals", "unexpected EOF"),
    (b"fase", "invalid character 's' in literal false (expecting 'l')"),
    (b"-", "unexpected EOF"),
    (b"-x", "invalid character 'x' in numeric literal"),
    (b"1.", "unexpected EOF"),
    (b"[1.]", "invalid character ']' after decimal point in numeric literal"),
    (b"1e", "unexpected EOF"),
    (b"[1e+]", "invalid character ']' in exponent of numeric literal"),
    (b"[01]", "invalid character '1' after array element"),
    (b'{"a":01}', "invalid character '1' after object key:value pair"),
    (b'"\\q"', "invalid character 'q' in string escape code"),
    (b'"\\u12g4"', "invalid character 'g' in \\u hexadecimal character escape"),
    (b'"a\nb"', "invalid character '\\n' in string literal"),
    (b'{"a" 1}', "invalid character '1' after object key"),
    (b'{"a":1 "b":2}', "invalid character '\"' after object key:value pair"),
    (b"[1 2]", "invalid character '2' after array element"),
    (b"{,}", "invalid character ',' looking for beginning of object key string"),
    (b"[,]", "invalid character ',' looking for beginning of value"),
    (b"'x'", "invalid character '\\'' looking for beginning of value"),
    (b'{"Job": {"ID": "x"}]', "invalid character ']' after object key:value pair"),
])
def test_scanner_errors_are_gos(body: bytes, message: str) -> None:
    with pytest.raises(codec.DecodeError) as err:
        codec.decode_body(body, s.JobRegisterRequest)
    assert str(err.value) == message


@pytest.mark.parametrize("body,message", [
    # quoteChar spells the byte out with Go 1.9's strconv.Quote (the rune of the byte's value).
    (b"\x00", "invalid character '\\x00' looking for beginning of value"),
    (b"\x1b", "invalid character '\\x1b' looking for beginning of value"),
    (b"\t\x0b", "invalid character '\\v' looking for beginning of value"),
    (b"\x7f", "invalid character '\\u007f' looking for beginning of value"),
    (b"\x85", "invalid character '\\u0085' looking for beginning of value"),
    (b"\xa0", "invalid character '\\u00a0' looking for beginning of value"),
    (b"\xef\xbb\xbf{}", "invalid character 'ï' looking for beginning of value"),  # a BOM: Latin-1 'ï'
    (b'"tab\there"', "invalid character '\\t' in string literal"),
    (b'{"a":1}\x00', None),  # after the first value: never read
])
def test_unprintable_characters_are_escaped_in_messages(body: bytes, message: Any) -> None:
    if message is None:
        codec.decode_body(body, s.JobRegisterRequest)
        return
    with pytest.raises(codec.DecodeError) as err:
        codec.decode_body(body, s.JobRegisterRequest)
    assert str(err.value) == message
    assert str(err.value).isprintable()


@pytest.mark.parametrize("body", [b'{"Job": {}} trailing', b'{"Job": {}}}', b'{"Job": {}}{"Job": null}',
                                  b'{"Job": {}}\x00\xff', b'  {"Job": {}}\n[1 2'])
def test_only_the_first_value_is_read(body: bytes) -> None:
    # json.Decoder.Decode reads one value and leaves the rest of the body unread.
    req = codec.decode_body(body, s.JobRegisterRequest)
    assert req.Job == s.Job()


def test_loads_reads_the_first_value_as_go_does() -> None:
    assert codec.loads(b'{"a": [1, 2.5, -0]} trailing') == {"a": [1, 2.5, 0]}
    assert codec.loads(b'{"k": "\\ud800", "k": "\xff"}') == {"k": "\ufffd"}
    assert codec.loads(b"18446744073709551616 x") == 2.0 ** 64
    for body, message in ((b"", "EOF"), (b"[1,", "unexpected EOF"), (b"\x00", "invalid character '\\x00' looking "
                                                                            "for beginning of value")):
        with pytest.raises(codec.DecodeError) as err:
            codec.loads(body)
        assert str(err.value) == message


def test_top_level_values_of_other_kinds() -> None:
    assert codec.decode_body(b"null", s.JobRegisterRequest) == s.JobRegisterRequest()
    for body, kind in ((b"[]", "array"), (b'"x"', "string"), (b"true", "bool"), (b"5", "number"), (b"01", "number")):
        with pytest.raises(codec.DecodeError) as err:
            codec.decode_body(body, s.JobRegisterRequest)
        assert str(err.value) == f"json: cannot unmarshal {kind} into Go value of type api.JobRegisterRequest"
    with pytest.raises(codec.DecodeError) as err:
        codec.decode_body(b"[]", s.JobDispatchRequest)
    assert str(err.value) == "json: cannot unmarshal array into Go value of type structs.JobDispatchRequest"


@pytest.mark.parametrize("raw,expected", [
    (b'"\\ud800"', "\ufffd"),                       # a lone high surrogate escape
    (b'"\\udc00x"', "\ufffdx"),                     # a lone low one
    (b'"\\ud800\\u0041"', "\ufffdA"),               # a high one not followed by a low one
    (b'"\\ud800\\ud800\\udc00"', "\ufffd\U00010000"),  # the second pair is whole
    (b'"\\ud83d\\ude00"', "\U0001f600"),
    (b'"a\xffb"', "a\ufffdb"),                      # invalid UTF-8: one U+FFFD a byte
    (b'"\xe2\x82x"', "\ufffd\ufffdx"),             # a truncated sequence
    (b'"\xed\xa0\x80"', "\ufffd\ufffd\ufffd"),      # an encoded surrogate
    (b'"\xc3\xa9\\u00e9"', "\u00e9\u00e9"),
])
def test_strings_are_unquoted_as_go_does(raw: bytes, expected: str) -> None:
    req = codec.decode_body(b'{"Job": {"ID": ' + raw + b', "Meta": {' + raw + b': "v"}}}', s.JobRegisterRequest)
    assert req.Job.ID == expected
    assert req.Job.Meta == {expected: "v"}


def test_no_python_error_text_reaches_a_client() -> None:
    bodies = [b'{"Job": {"ID": "\\ud800"}}', b"\xff\xfe", b"[" * 5000 + b"]" * 5000, b'{"a":' * 3000,
              b'{"Job": {"TaskGroups": [{"Tasks": [{"Config": ' + b"[" * 3000 + b"]" * 3000 + b"}]}]}}",
              b'{"Job": {"TaskGroups": [{"Tasks": [{"Config": {"x": ' + b"[" * 600 + b"]" * 600 + b"}}]}]}}",
              b'{"Job": {"Priority": 1e400}}', b'{"Job": {"Priority": 100000000000000000000000}}']
    for body in bodies:
        try:
            codec.decode_body(body, s.JobRegisterRequest)
        except codec.DecodeError as exc:
            assert str(exc).startswith(("json: ", "invalid character", "unexpected EOF", "EOF")), str(exc)


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
