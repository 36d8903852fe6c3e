"""Go's ``math.Pow`` on amd64, bit for bit.

Nomad's bin-packing score is ``20 - (10**freeCPU + 10**freeMem)`` computed with Go's
``math.Pow``, which is not the C library's ``pow``: it splits the exponent, computes the
fractional part as ``Exp(yf * Log(x))`` with Go's own amd64 ``Exp`` and ``Log`` kernels,
and multiplies in the integer part by repeated squaring. The results differ from libm's
in the last bits, and those bits show in ``AllocMetric.Scores``. Every step below is one
IEEE double operation, so Python floats reproduce it exactly.

Go's amd64 ``Exp`` has two paths: plain SSE2 arithmetic (the only one in Go 1.9, which
built the released Nomad 0.7.1) and, from Go 1.10 on CPUs with AVX and FMA, fused
multiply-adds. ``use_fma`` picks the second, for comparing with a binary built that way.
"""

from __future__ import annotations

import functools
import math
import struct

__all__ = ["exp", "log", "pow", "pow10", "use_fma"]

_INF = float("inf")
_NAN = float("nan")

# Exp (exp_amd64.s): argument reduction by ln 2 in two halves, then a degree-8 Taylor
# polynomial of x/16 squared back up four times.
_LOG2E = 1.4426950408889634073599246810018920
_LN2U = 0.69314718055966295651160180568695068359375
_LN2L = 0.28235290563031577122588448175013436025525412068e-12
_EXP_OVERFLOW = 7.09782712893384e02
_T2, _T3, _T4, _T5 = 0.5, 1.6666666666666666667e-1, 4.1666666666666666667e-2, 8.3333333333333333333e-3
_T6, _T7, _T8 = 1.3888888888888888889e-3, 1.9841269841269841270e-4, 2.4801587301587301587e-5

# Log (log_amd64.s, the FreeBSD algorithm).
_HSQRT2 = 7.07106781186547524401e-01
_LN2HI = 6.93147180369123816490e-01
_LN2LO = 1.90821492927058770002e-10
_L1, _L2, _L3 = 6.666666666666735130e-01, 3.999999999940941908e-01, 2.857142874366239149e-01
_L4, _L5, _L6 = 2.222219843214978396e-01, 1.818357216161805012e-01, 1.531383769920937332e-01
_L7 = 1.479819860511658591e-01

_fma_enabled = False


def use_fma(enabled: bool) -> None:
    """Compute ``Exp`` as a Go >= 1.10 binary does on a CPU with AVX and FMA.

    Process-wide, like Go's own ``useFMA`` flag, and off by default (Go 1.9)."""
    global _fma_enabled
    if enabled != _fma_enabled:
        _fma_enabled = enabled
        pow10.cache_clear()


def _fma(a: float, b: float, c: float) -> float:
    # One rounding of the exact a*b + c: exact binary fractions, then int/int true
    # division, which CPython rounds correctly. Only finite operands reach here.
    na, da = a.as_integer_ratio()
    nb, db = b.as_integer_ratio()
    nc, dc = c.as_integer_ratio()
    numerator = na * nb * dc + nc * da * db
    return numerator / (da * db * dc) if numerator else 0.0


def _bits(x: float) -> int:
    return int.from_bytes(struct.pack("<d", x), "little")


def _from_bits(b: int) -> float:
    return float(struct.unpack("<d", b.to_bytes(8, "little"))[0])


def exp(x: float) -> float:
    if math.isnan(x) or x == _INF:
        return x
    if x == -_INF:
        return 0.0
    if x > _EXP_OVERFLOW:
        return _INF
    # CVTSD2SL rounds to nearest even; so does round(). Out of int32 range the
    # instruction gives 0x80000000, which the biased-exponent checks send to underflow.
    scaled = _LOG2E * x
    k = round(scaled) if abs(scaled) < 2**31 else -(2**31)
    fk = float(k)
    if _fma_enabled:
        x = _fma(-fk, _LN2U, x)
        x = _fma(-fk, _LN2L, x)
        x = x * 0.0625
        p = _fma(_T8, x, _T7)
        for coefficient in (_T6, _T5, _T4, _T3, _T2, 1.0):
            p = _fma(p, x, coefficient)
        x = x * p
        for _ in range(3):
            x = x * (x + 2.0)
        x = _fma(x + 2.0, x, 1.0)
    else:
        x = x - _LN2U * fk
        x = x - _LN2L * fk
        x = x * 0.0625
        p = _T8 * x + _T7
        for coefficient in (_T6, _T5, _T4, _T3, _T2, 1.0):
            p = p * x + coefficient
        x = x * p
        for _ in range(4):
            x = x * (2.0 + x)
        x = x + 1.0
    biased = k + 0x3FF
    if biased <= 0:  # a subnormal result: the assembly scales in two steps
        if biased < -52:
            return 0.0
        x = x * _from_bits((biased + 0x3FE) << 52)
        return x * _from_bits(1 << 52)
    if biased >= 0x7FF:
        return _INF
    return x * _from_bits(biased << 52)


def log(x: float) -> float:
    if x == 0.0:
        return -_INF
    if x < 0.0 or math.isnan(x):
        return _NAN
    if x == _INF:
        return x
    bits = _bits(x)
    f1 = _from_bits((bits & 0x000FFFFFFFFFFFFF) | 0x3FE0000000000000)
    k = float(((bits >> 52) & 0x7FF) - 0x3FE)
    if f1 < _HSQRT2:
        k -= 1.0
        f1 *= 2.0
    f = f1 - 1.0
    s = f / (2.0 + f)
    s2 = s * s
    s4 = s2 * s2
    t1 = s2 * (((_L7 * s4 + _L5) * s4 + _L3) * s4 + _L1)
    t2 = s4 * ((_L6 * s4 + _L4) * s4 + _L2)
    r = t1 + t2
    hfsq = 0.5 * f * f
    return k * _LN2HI - ((hfsq - (s * (hfsq + r) + k * _LN2LO)) - f)


def _ldexp(frac: float, e: int) -> float:
    try:
        return math.ldexp(frac, e)
    except OverflowError:
        return math.copysign(_INF, frac)


def pow(x: float, y: float) -> float:  # noqa: A001 - Go's name
    """``math.Pow`` (pow.go) over the amd64 ``Exp`` and ``Log`` above."""
    if y == 0 or x == 1:
        return 1.0
    if y == 1:
        return x
    if math.isnan(x) or math.isnan(y):
        return _NAN
    if x == 0:
        odd = _is_odd_int(y)
        if y < 0:
            return math.copysign(_INF, x) if odd else _INF
        return x if odd else 0.0
    if math.isinf(y):
        if x == -1:
            return 1.0
        return 0.0 if (abs(x) < 1) == (y > 0) else _INF
    if math.isinf(x):
        if x < 0:
            return pow(1 / x, -y)
        return 0.0 if y < 0 else _INF
    if y == 0.5:
        return _sqrt(x)
    if y == -0.5:
        return 1 / _sqrt(x)
    yf, yi = math.modf(abs(y))
    if yf != 0 and x < 0:
        return _NAN
    if yi >= 2.0**63:
        if x == -1:
            return 1.0
        return 0.0 if (abs(x) < 1) == (y > 0) else _INF
    a1, ae = 1.0, 0
    if yf != 0:
        if yf > 0.5:
            yf -= 1
            yi += 1
        a1 = exp(yf * log(x))
    x1, xe = math.frexp(x)
    i = int(yi)
    while i != 0:
        if xe < -(1 << 12) or (1 << 12) < xe:
            ae += xe
            break
        if i & 1:
            a1 *= x1
            ae += xe
        x1 *= x1
        xe <<= 1
        if x1 < 0.5:
            x1 += x1
            xe -= 1
        i >>= 1
    if y < 0:
        a1 = 1 / a1
        ae = -ae
    return _ldexp(a1, ae)


def _sqrt(x: float) -> float:
    return math.sqrt(x) if x >= 0 else _NAN  # Go's Sqrt of a negative is NaN, not an error


def _is_odd_int(y: float) -> bool:
    frac, whole = math.modf(y)
    return frac == 0 and abs(whole) < 2.0**63 and int(whole) & 1 == 1


@functools.lru_cache(maxsize=8192)
def pow10(y: float) -> float:
    """``math.Pow(10, y)``, cached: the bin-packer asks for the same few exponents."""
    return pow(10.0, y)
