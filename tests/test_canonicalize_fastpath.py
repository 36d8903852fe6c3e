"""The generated zero-fillers (one function per model class, see
``canonicalize._make_filler``) must fill exactly as the plain recursive walk does: the
same values, and the same object back wherever nothing changed. The plain walk is
kept here as the reference, and models are drawn with ``None`` (or an odd value) in
any field, not only where clients leave one."""

from __future__ import annotations

import json
import typing
from pathlib import Path
from typing import Any, Optional

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nomadjobs import canonicalize, codec
from nomadjobs import structs as s
from nomadjobs.canonicalize import api_canonicalize, fill_zero_values, server_canonicalize
from nomadjobs.testing import strategies as job_strategies
from nomadjobs.validate import validate_job_for_register

GOLDEN = Path(__file__).parent / "golden" / "nomad-0.7.1"


def reference_fill(obj: Any) -> Any:
    """The plain walk: every field of the plan read with getattr, recursing into any
    model or list of models (a list whose first item is a model) found at run time."""
    if obj is None or not attrs.has(type(obj)):
        return obj
    cls = type(obj)
    changes: dict[str, Any] = {}
    for name, fill, scalar in canonicalize._fill_plan(cls):
        value = getattr(obj, name)
        if value is None:
            if fill:
                zero = canonicalize._zero(cls, name)
                if zero is not None:
                    changes[name] = zero
        elif scalar:
            continue
        elif attrs.has(type(value)):
            filled = reference_fill(value)
            if filled is not value:
                changes[name] = filled
        elif isinstance(value, list) and value and attrs.has(type(value[0])):
            filled_list = [reference_fill(v) for v in value]
            if any(a is not b for a, b in zip(filled_list, value)):
                changes[name] = filled_list
    return attrs.evolve(obj, **changes) if changes else obj


# --- models with a None (or something unexpected) anywhere ------------------------------

# Odd values that the fill must still walk (or leave alone) as the plain walk does; the
# models in them have Nones to fill.
_ODD = st.sampled_from([
    [s.UpdateStrategy()],                       # a list of some other model
    [s.TaskGroup(), s.UpdateStrategy(), None],  # mixed models, then a None
    [s.Constraint(LTarget=None), "x"],          # a model first, then a non-model
    [None, s.TaskGroup()],                      # a None first: not a list of models
    ["x", s.TaskGroup()],                       # a non-model first: likewise
    s.UpdateStrategy(),                         # a model where a list or another model is expected
    {"k": [s.TaskGroup()]},                     # a dict holding models: left alone
    "text",
])


def _values(tp: Any, odd: bool) -> st.SearchStrategy[Any]:
    if typing.get_origin(tp) is typing.Union:
        inner = [a for a in typing.get_args(tp) if a is not type(None)]
        return st.none() | st.one_of(*[_values(a, odd) for a in inner])
    if tp is Any:
        return st.none() | st.integers(-1, 3) | st.text(max_size=2) | _ODD
    if tp is bool:
        return st.booleans()
    if tp is int:
        return st.integers(-2, 5) | st.sampled_from([5 * 10**9, 2**40])
    if tp is float:
        return st.floats(allow_nan=False)
    if tp is str:
        return st.sampled_from(["", "a", "web", "SIGHUP", "${NOMAD_JOB_NAME}"])
    if tp is bytes:
        return st.binary(max_size=2)
    origin = typing.get_origin(tp)
    if origin is list:
        (item,) = typing.get_args(tp)
        items = st.lists(_values(item, odd), max_size=2)
        return (items | _ODD) if odd and attrs.has(item) else items
    if origin is dict:
        _, item = typing.get_args(tp)
        return st.dictionaries(st.sampled_from(["a", "b"]), _values(item, odd), max_size=2)
    if attrs.has(tp):
        return (models(tp, odd) | _ODD) if odd else models(tp, odd)
    raise AssertionError(f"no strategy for {tp!r}")


def models(cls: type, odd: bool = False) -> st.SearchStrategy[Any]:
    """Any model of ``cls``: each field None or a value of its type (or, with
    ``odd``, a field typed as models sometimes holds something else)."""
    hints = typing.get_type_hints(cls)
    return st.builds(cls, **{f.name: st.none() | _values(hints[f.name], odd) for f in attrs.fields(cls)})


def _assert_fills_like_reference(obj: Any) -> None:
    expected = reference_fill(obj)
    got = fill_zero_values(obj)
    assert got == expected
    assert type(got) is type(expected)
    # Unchanged subtrees come back as the same objects, changed ones as new ones.
    assert (got is obj) == (expected is obj)
    if attrs.has(type(obj)):
        for f in attrs.fields(type(obj)):
            assert (getattr(got, f.name) is getattr(obj, f.name)) == (getattr(expected, f.name) is getattr(obj, f.name))
    again = fill_zero_values(got)
    assert again is got  # idempotent, without a copy


_SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_SETTINGS
@given(models(s.Job))
def test_fill_matches_reference_on_any_job(job):
    _assert_fills_like_reference(job)


@_SETTINGS
@given(st.one_of(*[models(cls) for cls in (s.TaskGroup, s.Task, s.Service, s.ServiceCheck, s.Resources,
                                           s.NetworkResource, s.Template, s.Vault, s.TaskArtifact,
                                           s.UpdateStrategy, s.PeriodicConfig, s.ParameterizedJobConfig)]))
def test_fill_matches_reference_on_any_block(block):
    _assert_fills_like_reference(block)


@_SETTINGS
@given(st.one_of(models(s.Job, odd=True), models(s.TaskGroup, odd=True), models(s.Task, odd=True)))
def test_fill_matches_reference_when_fields_hold_unexpected_values(obj):
    _assert_fills_like_reference(obj)


@attrs.frozen
class _Other:
    """Not a Nomad model: every field is filled, and the zero of a float or Any is none."""
    Count: Optional[int] = None
    Ratio: Optional[float] = None
    Anything: Any = None
    Update: Optional[s.UpdateStrategy] = None
    Groups: Optional[list[s.TaskGroup]] = None
    Mixed: Optional[list[Any]] = None


@_SETTINGS
@given(models(_Other, odd=True))
def test_fill_matches_reference_on_other_attrs_classes(obj):
    _assert_fills_like_reference(obj)


@pytest.mark.parametrize("value", [None, 3, "x", [], [1], {"a": 1}, [s.Port(), None]])
def test_fill_leaves_non_models_alone(value):
    assert fill_zero_values(value) is value
    assert reference_fill(value) is value


# --- in the whole register path ---------------------------------------------------------

def _register_path(job: s.Job) -> Any:
    return validate_job_for_register(api_canonicalize(job))


def _with_reference_fill(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(canonicalize, "fill_zero_values", reference_fill)


def _golden_jobs() -> list[s.Job]:
    out = []
    for path in sorted(GOLDEN.glob("*.json")):
        body = json.loads(path.read_text()).get("request", {}).get("body")
        if isinstance(body, dict) and isinstance(body.get("Job"), dict):
            out.append(codec.from_wire(body["Job"], s.Job))
    return out


def test_golden_jobs_register_as_with_the_reference_fill(monkeypatch):
    jobs = _golden_jobs()
    assert jobs
    fast = [_register_path(j) for j in jobs]
    _with_reference_fill(monkeypatch)
    assert [_register_path(j) for j in jobs] == fast


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(job_strategies.jobs(), job_strategies.invalid_jobs().map(lambda pair: pair[0]),
                 models(s.Job)))
def test_register_path_matches_the_reference_fill(job):
    fast = _register_path(job)
    raw_server = server_canonicalize(job)
    original = canonicalize.fill_zero_values
    canonicalize.fill_zero_values = reference_fill
    try:
        assert _register_path(job) == fast
        assert server_canonicalize(job) == raw_server
    finally:
        canonicalize.fill_zero_values = original


@attrs.frozen
class _Node:
    """A class that holds itself (in a list: a None there has no zero to recurse into),
    so its filler walks the children the plain way."""
    Label: Optional[str] = None
    Children: Optional[list[_Node]] = None


def test_fill_matches_reference_on_a_class_that_holds_itself():
    leaf = _Node(Children=[_Node(Label="x"), _Node()])
    tree = _Node(Label="root", Children=[leaf, _Node(Label="y", Children=[])])
    for obj in (tree, leaf, _Node(Label="z"), _Node(Label="z", Children=[_Node(Label="a")])):
        _assert_fills_like_reference(obj)
    assert fill_zero_values(tree).Children[0].Children[1].Label == ""
