"""structs.evolve must behave exactly like attrs.evolve on every model."""

from __future__ import annotations

import attrs
import pytest

from nomadjobs import structs as s

MODELS = sorted((obj for obj in vars(s).values() if isinstance(obj, type) and attrs.has(obj)),
                key=lambda cls: cls.__name__)


@pytest.mark.parametrize("cls", MODELS, ids=lambda cls: cls.__name__)
def test_evolve_matches_attrs(cls):
    inst = cls()
    fields = attrs.fields(cls)
    for f in fields:
        sentinel = object()
        mine = s.evolve(inst, **{f.name: sentinel})
        theirs = attrs.evolve(inst, **{f.name: sentinel})
        assert type(mine) is cls
        assert all(getattr(mine, g.name) is getattr(theirs, g.name) for g in fields)
        assert getattr(inst, f.name) is not sentinel  # the original is untouched
    assert s.evolve(inst) == inst and s.evolve(inst) is not inst
    with pytest.raises(TypeError):
        s.evolve(inst, NoSuchField=1)


def test_evolved_objects_stay_frozen():
    alloc = s.evolve(s.Allocation(ID="a"), ClientStatus="running")
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        alloc.ClientStatus = "failed"  # type: ignore[misc]
