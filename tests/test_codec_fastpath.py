"""The codec has two paths: a fast one (orjson, then cattrs hooks with the dispatch done
once per field and leaf values of the exact JSON type passed through) and the exact
one (:mod:`nomadjobs.golang.json`, a port of Go 1.9's scanner and decoder), which the
fast one hands over to whenever Go might read the input otherwise, and for every
error. They must decode exactly alike: the same models, the same ``DecodeError``
messages. And the fast one must stay the one that runs for ordinary bodies."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any, Callable

import attrs
import orjson
import pytest

from nomadjobs import codec
from nomadjobs import structs as s

GOLDEN = Path(__file__).parent / "golden" / "nomad-0.7.1"


def outcome(decode: Callable[[Any, Any], Any], data: Any, cl: Any) -> tuple[str, Any]:
    """What a decode gives, comparable across paths: the model's type, wire bytes and
    repr (bytes tell 1 from 1.0, and -0.0 from 0.0), or the error message."""
    try:
        obj = decode(data, cl)
    except codec.DecodeError as exc:
        return "error", str(exc)
    return "ok", (type(obj), orjson.dumps(codec.to_wire(obj)), repr(obj))


def same(data: Any, cl: Any) -> None:
    """Plain data: ``from_wire`` (fast path, handing over when it must) as the exact path."""
    assert outcome(codec.from_wire, data, cl) == outcome(codec._decode_go, data, cl), (cl, data)


def same_body(body: bytes, cl: Any) -> None:
    """A request body: ``decode_body`` as the exact path reading the bytes."""
    assert outcome(codec.decode_body, body, cl) == outcome(codec._decode_body_go, body, cl), (cl, body)


REQUESTS = [s.JobRegisterRequest, s.JobPlanRequest, s.JobDispatchRequest, s.JobRevertRequest,
            s.JobStabilityRequest, s.JobValidateRequest, s.DeploymentPauseRequest, s.DeploymentPromoteRequest,
            s.DeploymentAllocHealthRequest, s.SearchRequest]
MODELS = REQUESTS + [s.Job, s.JobSummary, s.JobListStub, s.Evaluation, s.Allocation, s.Deployment, s.Node,
                     s.JobRegisterResponse, s.TaskGroup, s.Task]


def golden_documents() -> list[Any]:
    docs = []
    for path in sorted(GOLDEN.glob("*.json")):
        case = json.loads(path.read_text())
        body = case.get("request", {}).get("body")
        if isinstance(body, (dict, list)):
            docs.append(body)
        resp = case.get("response", {}).get("body_json")
        if isinstance(resp, (dict, list)):
            docs.append(resp)
    return docs


DOCS = golden_documents()
REGISTER_BODIES = [d for d in DOCS if isinstance(d, dict) and isinstance(d.get("Job"), dict)]


@pytest.fixture
def handovers(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every hand-over to the exact path, recorded."""
    calls: list[Any] = []
    for name in ("_decode_go", "_decode_body_go"):
        real = getattr(codec, name)

        def record(data: Any, cl: Any, real: Any = real) -> Any:
            calls.append((data, cl))
            return real(data, cl)

        monkeypatch.setattr(codec, name, record)
    return calls


def test_golden_documents_decode_as_the_exact_path() -> None:
    assert len(DOCS) > 50
    for doc in DOCS:
        items = doc if isinstance(doc, list) else [doc]
        for item in items[:5]:
            for cl in MODELS:
                same(item, cl)
                if isinstance(item, dict) and "Job" in item:
                    same(item["Job"], s.Job)
            for cl in REQUESTS:
                same_body(orjson.dumps(item), cl)


def test_ordinary_bodies_take_the_fast_path(handovers: list[Any]) -> None:
    assert REGISTER_BODIES
    for doc in REGISTER_BODIES:
        for body in (orjson.dumps(doc), json.dumps(doc, indent=4).encode(),
                     json.dumps(doc, ensure_ascii=False).encode()):
            data = orjson.loads(body)
            assert not codec._read_otherwise_by_go(body, data)
            assert codec.decode_body(body, s.JobRegisterRequest) == codec._decode_body_go(body, s.JobRegisterRequest)
            handovers.clear()
            codec.decode_body(body, s.JobRegisterRequest)
            assert not handovers, body
    # Keys in other cases too (each field named once).
    def lowered(value: Any) -> Any:
        if isinstance(value, dict):
            return {k.lower(): lowered(v) for k, v in value.items()}
        return [lowered(v) for v in value] if isinstance(value, list) else value

    for doc in REGISTER_BODIES:
        handovers.clear()
        body = orjson.dumps(lowered(doc))
        assert codec.decode_body(body, s.JobRegisterRequest) == codec._decode_body_go(body, s.JobRegisterRequest)
        handovers.clear()
        codec.decode_body(body, s.JobRegisterRequest)
        assert not handovers, body
    # Response documents read back with from_wire take it too.
    for doc in DOCS:
        if isinstance(doc, list) and doc and isinstance(doc[0], dict) and "JobSummary" in doc[0]:
            handovers.clear()
            codec.from_wire(doc, list[s.JobListStub])
            assert not handovers


@pytest.mark.parametrize("body", [
    b'{"Job": {"ID": "a", "ID": "b"}}',                         # a key twice: orjson keeps one
    b'{"Job": {"ID": "a", "Name": "n", "ID": null}}',
    b'{"Job": {"Meta": {"k": "a", "k": 1}}}',                  # in a map: the first is an error in Go
    b'{"Job": {"ID": "a" , "ID" :"b"}}',                       # with space before the colons
    b'{"Job": {"ID": "\\u003a", "ID": "b", "Name": "\\u003A"}}',  # colons written as escapes
    b'{"Job": {"ID": "x", "id": null}}',                       # the same field by another spelling
    b'{"Job": {"id": null, "ID": "x"}}',
    b'{"Job": {"\\u017ftop": true}}',                          # a key only Go folds
    b'{"Job": {"TaskGroups": [{"Tasks": [{"Config": {"a": -0}}]}]}}',  # a -0
    b'{"JobModifyIndex": -0}',
    b'{"JobModifyIndex": -1}',
    b'{"Job": {"Priority": 9223372036854775808}}',             # an int orjson reads, Go does not
    b'{"MinQueryIndex": 1}',                                   # a field the model lacks
    b'{"Job": {"ID": "\\ud800"}}',                              # what orjson refuses
    b'{"Job": {"ID": "\xff"}}',
    b'{"Job": {}} x',
])
def test_what_go_may_read_otherwise_goes_the_exact_way(body: bytes, handovers: list[Any]) -> None:
    cl = s.SearchRequest if b"MinQueryIndex" in body else s.JobRegisterRequest
    try:
        codec.decode_body(body, cl)
    except codec.DecodeError:
        pass
    assert handovers
    same_body(body, cl)


LEAVES: list[Any] = ["x", "", 0, 7, -3, 2.5, 3.0, 1e30, True, False, None, [], ["a"], [1, None], {}, {"a": 1},
                     {"A": None}, "aGVsbG8=", "not base64!", 2**63, 2**64 - 1, -(2**63), [None], [{}], {"k": None}]


def mutate(doc: Any, rng: random.Random) -> Any:
    """A copy with a few values swapped for other JSON kinds, keys re-cased, unknown keys
    and null elements added."""
    if isinstance(doc, dict):
        out: dict[Any, Any] = {}
        for key, value in doc.items():
            roll = rng.random()
            if roll < 0.08:
                key = key.lower() if rng.random() < 0.5 else key.upper()
            if roll > 0.93:
                out[key] = rng.choice(LEAVES)
            else:
                out[key] = mutate(value, rng)
        if rng.random() < 0.1:
            out["Unknown" + str(rng.randrange(3))] = rng.choice(LEAVES)
        if rng.random() < 0.05 and out:  # the same field twice, spelled differently
            key = rng.choice(list(out))
            if isinstance(key, str):
                out[key.swapcase()] = rng.choice(LEAVES)
        return out
    if isinstance(doc, list):
        out_list = [mutate(v, rng) for v in doc]
        if rng.random() < 0.1:
            out_list.append(rng.choice([None, "x", 1, {}, []]))
        return out_list
    if rng.random() < 0.1:
        return rng.choice(LEAVES)
    return doc


def encode_with_repeats(doc: Any, rng: random.Random) -> bytes:
    """JSON text of ``doc`` where some keys come twice (the repeat with another value
    or null, maybe otherwise spelled) and some numbers are written otherwise."""
    if isinstance(doc, dict):
        parts = []
        for key, value in doc.items():
            parts.append(json.dumps(key).encode() + b":" + encode_with_repeats(value, rng))
            if rng.random() < 0.04:
                again = rng.choice([key, key.lower(), key.swapcase()]) if isinstance(key, str) else key
                parts.append(json.dumps(again).encode() + b":" + encode_with_repeats(
                    rng.choice([None, value, mutate(value, rng)]), rng))
        return b"{" + b",".join(parts) + b"}"
    if isinstance(doc, list):
        return b"[" + b",".join(encode_with_repeats(v, rng) for v in doc) + b"]"
    if isinstance(doc, int) and not isinstance(doc, bool) and rng.random() < 0.05:
        return rng.choice([b"-0", b"%d.0" % doc, b"%de0" % doc, b"1e400"])
    if isinstance(doc, str) and rng.random() < 0.02:
        return rng.choice([b'"\\ud800"', b'"\\u003a"', b'"\xff"', b'"\\u00e9"'])
    return json.dumps(doc).encode()


@pytest.mark.parametrize("seed", range(6))
def test_mutated_documents_decode_as_the_exact_path(seed: int) -> None:
    rng = random.Random(seed)
    assert REGISTER_BODIES
    for _ in range(300):
        doc = mutate(rng.choice(REGISTER_BODIES), rng)
        same(doc, s.JobRegisterRequest)
        same(doc.get("Job") if isinstance(doc, dict) else doc, s.Job)
        same_body(encode_with_repeats(doc, rng), s.JobRegisterRequest)
    for _ in range(150):
        doc = mutate(rng.choice(DOCS), rng)
        for item in (doc if isinstance(doc, list) else [doc])[:3]:
            same(item, rng.choice(MODELS))
            same_body(encode_with_repeats(item, rng), rng.choice(REQUESTS))


def test_leaf_values_of_every_kind_decode_as_the_exact_path() -> None:
    for cl in (s.Job, s.Task, s.TaskGroup, s.Resources, s.JobRegisterRequest, s.DispatchPayloadConfig,
               s.ServiceCheck, s.SearchRequest, s.JobRevertRequest):
        for field in attrs.fields(cl):
            for value in LEAVES + [[{"a": 1}], {"k": [1, "x"]}, [None, "x"], {"k": 1.5}]:
                same({field.name: value}, cl)
                same({field.name.lower(): value}, cl)
                same_body(orjson.dumps({field.name: value, field.name.upper(): None}), cl)


def test_decode_body_errors_match_go() -> None:
    body = {"Job": {"ID": "x", "TaskGroups": [{"Name": "g", "Count": "3"}]}}
    with pytest.raises(codec.DecodeError) as exc:
        codec.decode_body(json.dumps(body), s.JobRegisterRequest)
    assert str(exc.value) == "json: cannot unmarshal string into Go struct field TaskGroup.Count of type int"
    body = {"Job": {"ID": "x", "Datacenters": ["dc1", 3]}}
    with pytest.raises(codec.DecodeError) as exc:
        codec.decode_body(json.dumps(body), s.JobRegisterRequest)
    assert str(exc.value) == "json: cannot unmarshal number into Go struct field Job.Datacenters of type string"
