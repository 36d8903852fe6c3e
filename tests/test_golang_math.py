"""Go's math.Pow/Exp/Log, checked bit for bit against values a Go amd64 build printed
(tests/golden/go_math.json), on both of its Exp paths."""

import json
import math
import struct
from pathlib import Path

import pytest

from nomadjobs.golang import math as gomath

GOLDEN = json.loads((Path(__file__).parent / "golden" / "go_math.json").read_text())


def _float(bits: str) -> float:
    return float(struct.unpack("<d", struct.pack("<Q", int(bits, 16)))[0])


def _bits(x: float) -> str:
    return format(struct.unpack("<Q", struct.pack("<d", x))[0], "x")


@pytest.fixture(params=["sse2", "fma"])
def path(request):
    gomath.use_fma(request.param == "fma")
    yield request.param
    gomath.use_fma(False)


def test_pow_exp_log_match_go_bit_for_bit(path):
    for (x_bits, y_bits), (pow_bits, exp_bits, log_bits) in zip(GOLDEN["inputs"], GOLDEN["results"][path]):
        x, y = _float(x_bits), _float(y_bits)
        assert _bits(gomath.pow(x, y)) == pow_bits, (path, x, y)
        assert _bits(gomath.exp(y)) == exp_bits, (path, y)
        assert _bits(gomath.log(abs(y))) == log_bits, (path, y)


def test_the_two_exp_paths_and_libm_really_differ():
    # Without this the bit-for-bit test above could pass on a port of libm's pow.
    ys = [_float(y) for x, y in GOLDEN["inputs"] if _float(x) == 10.0 and 0 < _float(y) < 1]
    sse2 = [_float(r[0]) for r in GOLDEN["results"]["sse2"][: len(ys)]]
    fma = [_float(r[0]) for r in GOLDEN["results"]["fma"][: len(ys)]]
    assert sum(a != b for a, b in zip(sse2, fma)) > 10
    assert sum(a != math.pow(10, y) for a, y in zip(sse2, ys)) > 10


def test_pow10_cache_follows_the_path_switch():
    y = next(_float(y) for (x, y), r, s in zip(GOLDEN["inputs"], GOLDEN["results"]["fma"], GOLDEN["results"]["sse2"])
             if r[0] != s[0])
    gomath.use_fma(False)
    sse2 = gomath.pow10(y)
    gomath.use_fma(True)
    try:
        assert gomath.pow10(y) != sse2
    finally:
        gomath.use_fma(False)
    assert gomath.pow10(y) == sse2


def test_special_cases_follow_go():
    assert gomath.pow(10.0, 0.0) == 1.0 and gomath.pow(10.0, 1.0) == 10.0
    assert gomath.pow(0.0, -1.0) == math.inf and gomath.pow(-0.0, -1.0) == -math.inf
    assert gomath.pow(-8.0, 0.5) != gomath.pow(-8.0, 0.5)  # NaN
    assert gomath.exp(1e6) == math.inf and gomath.exp(-1e10) == 0.0
    assert gomath.log(0.0) == -math.inf and math.isnan(gomath.log(-1.0))
