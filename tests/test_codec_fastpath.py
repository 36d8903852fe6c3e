"""The codec's structure hooks (dispatch looked up once per field, leaf values of the
exact JSON type passed through) must decode exactly as the general path does: the same
models, the same ``DecodeError`` messages. The general path is kept here as a reference:
a converter that dispatches every value through ``converter.structure``."""

from __future__ import annotations

import json
import random
import typing
from pathlib import Path
from typing import Any

import attrs
import cattrs
import orjson
import pytest

from nomadjobs import codec
from nomadjobs import structs as s

GOLDEN = Path(__file__).parent / "golden" / "nomad-0.7.1"


def reference_converter() -> cattrs.Converter:
    """The general path: every value dispatched through ``ref.structure``."""
    ref = cattrs.Converter(detailed_validation=False)
    for cl, hook in ((str, codec._structure_str), (bool, codec._structure_bool), (int, codec._structure_int),
                     (float, codec._structure_float), (bytes, codec._structure_bytes), (Any, codec._structure_any)):
        ref.register_structure_hook(cl, hook)

    def structure_list(value: Any, cl: Any) -> Any:
        if not isinstance(value, list):
            raise codec._TypeMismatch(value, codec._go_type_name(cl))
        (item,) = typing.get_args(cl) or (Any,)
        return [None if v is None and not attrs.has(item) else ref.structure(v if v is not None else {}, item)
                for v in value]

    def structure_dict(value: Any, cl: Any) -> Any:
        if not isinstance(value, dict):
            raise codec._TypeMismatch(value, codec._go_type_name(cl))
        args = typing.get_args(cl)
        val_type = args[1] if len(args) == 2 else Any
        if val_type is Any:
            return {k: codec._go_interface(v) for k, v in value.items()}
        return {k: (ref.structure(v, val_type) if v is not None else None) for k, v in value.items()}

    ref.register_structure_hook_func(codec._is_list, structure_list)
    ref.register_structure_hook_func(codec._is_dict, structure_dict)

    def make_class(cl: type) -> Any:
        fields = attrs.fields(cl)
        hints = typing.get_type_hints(cl)
        exact = {f.name: f.name for f in fields}
        folded = {f.name.lower(): f.name for f in fields}
        types = {f.name: hints[f.name] for f in fields}

        def structure(value: Any, _: type) -> Any:
            if not isinstance(value, dict):
                raise codec._TypeMismatch(value, "api." + cl.__name__)
            kwargs: dict[str, Any] = {}
            for key, item in value.items():
                name = exact.get(key) or folded.get(key.lower()) if isinstance(key, str) else None
                if name is None or item is None:
                    continue
                try:
                    kwargs[name] = ref.structure(item, types[name])
                except codec._TypeMismatch as exc:
                    go_type = exc.go_type
                    if go_type == "int":
                        go_type = codec._go_int_type(name)
                    detail = (f"number {item}" if isinstance(exc.value, float) and go_type in ("int", "uint64", "int64")
                              else codec._json_kind(exc.value))
                    if exc.value is not item:
                        detail = codec._json_kind(exc.value)
                    raise codec.DecodeError(f"json: cannot unmarshal {detail} into Go struct field "
                                            f"{cl.__name__}.{name} of type {go_type}") from None
            return cl(**kwargs)

        return structure

    ref.register_structure_hook_factory(attrs.has, make_class)
    return ref


REF = reference_converter()


def outcome(structure: Any, data: Any, cl: type) -> tuple[str, Any]:
    """What a decode gives, comparable across converters: the model's type, wire bytes
    and repr (bytes tell 1 from 1.0), or the error message."""
    try:
        obj = structure(data, cl)
    except codec._TypeMismatch as exc:
        return "mismatch", (codec._json_kind(exc.value), exc.go_type)
    except codec.DecodeError as exc:
        return "error", str(exc)
    return "ok", (type(obj), orjson.dumps(codec.to_wire(obj)), repr(obj))


def same(data: Any, cl: type) -> None:
    fast = outcome(codec.converter.structure, data, cl)
    general = outcome(REF.structure, data, cl)
    assert fast == general, (cl, data)


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


def test_golden_documents_decode_as_the_general_path() -> None:
    assert len(DOCS) > 50
    for doc in DOCS:
        items = doc if isinstance(doc, list) else [doc]
        for item in items[:5]:
            for cl in MODELS:
                same(item, cl)
                if isinstance(item, dict) and "Job" in item:
                    same(item["Job"], s.Job)


LEAVES: list[Any] = ["x", "", 0, 7, -3, 2.5, 3.0, 1e30, True, False, None, [], ["a"], [1, None], {}, {"a": 1},
                     {"A": None}, "aGVsbG8=", "not base64!"]


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
        if rng.random() < 0.05 and out:  # the same field twice, spelled differently: the last one wins
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


@pytest.mark.parametrize("seed", range(6))
def test_mutated_documents_decode_as_the_general_path(seed: int) -> None:
    rng = random.Random(seed)
    register = [d for d in DOCS if isinstance(d, dict) and isinstance(d.get("Job"), dict)]
    assert register
    for _ in range(400):
        doc = mutate(rng.choice(register), rng)
        same(doc, s.JobRegisterRequest)
        same(doc.get("Job") if isinstance(doc, dict) else doc, s.Job)
    for _ in range(200):
        doc = mutate(rng.choice(DOCS), rng)
        for item in (doc if isinstance(doc, list) else [doc])[:3]:
            same(item, rng.choice(MODELS))


def test_leaf_values_of_every_kind_decode_as_the_general_path() -> None:
    for cl in (s.Job, s.Task, s.TaskGroup, s.Resources, s.JobRegisterRequest, s.DispatchPayloadConfig):
        for field in attrs.fields(cl):
            for value in LEAVES + [[{"a": 1}], {"k": [1, "x"]}, {"k": None}, [None]]:
                same({field.name: value}, cl)
                same({field.name.lower(): value}, cl)


def test_decode_body_errors_match_go() -> None:
    body = {"Job": {"ID": "x", "TaskGroups": [{"Name": "g", "Count": "3"}]}}
    with pytest.raises(codec.DecodeError) as exc:
        codec.decode_body(json.dumps(body), s.JobRegisterRequest)
    assert str(exc.value) == "json: cannot unmarshal string into Go struct field TaskGroup.Count of type int"
    body = {"Job": {"ID": "x", "Datacenters": ["dc1", 3]}}
    with pytest.raises(codec.DecodeError) as exc:
        codec.decode_body(json.dumps(body), s.JobRegisterRequest)
    assert str(exc.value) == "json: cannot unmarshal number into Go struct field Job.Datacenters of type string"
