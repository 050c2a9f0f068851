"""A plain-Python-int transcription of docs/fixed-point.md's formulas (``py_*``), written independently of
snntorch_egru.quantization: the reference the integer primitives and the integer step are checked against."""

from __future__ import annotations

import random

import torch

from egru_format import INT24_MAX, INT24_MIN
from snntorch_egru.quantization import IntegerEGRULayer


def py_sat(v, counts, key):
    if v < INT24_MIN or v > INT24_MAX:
        counts[key] = counts.get(key, 0) + 1
        return min(max(v, INT24_MIN), INT24_MAX)
    return v


def py_rsr(v, s):
    if s > 0:
        return (v + (1 << (s - 1))) >> s
    return v if s == 0 else v << -s


def py_sig(a, frac):
    m = abs(a)
    if m >= 5 << frac:
        f = 4096
    elif 8 * m >= 19 << frac:
        f = py_rsr(m, frac + 5 - 12) + 3456
    elif m >= 1 << frac:
        f = py_rsr(m, frac + 3 - 12) + 2560
    else:
        f = py_rsr(m, frac + 2 - 12) + 2048
    return f if a >= 0 else 4096 - f


def py_tanh(a, frac):
    return 2 * py_sig(2 * a, frac) - 4096          # the definition, with 2a formed in a Python int


def py_dense(weight, x, exp, counts):
    out = []
    for row in weight:
        acc = sum(w * v for w, v in zip(row, x))
        acc = acc << exp if exp > 0 else acc >> -exp
        wrapped = ((acc + 2**31) % 2**32) - 2**31
        if wrapped != acc:
            counts["dense"] = counts.get("dense", 0) + 1
        out.append(wrapped)
    return out


def py_step(x, y_prev, c_prev, p, counts):
    """One unit-by-unit EGRU step, as docs/fixed-point.md writes it."""
    H, fa, fc, fg = p["H"], p["fa"], p["fc"], 12
    ax = py_dense(p["w_ih"], x, p["e_ih"], counts)
    ah = py_dense(p["w_hh"], y_prev, p["e_hh"], counts)
    bx, bh = p["b_ih"], p["b_hh"]
    y, c = [], []
    for j in range(H):
        a_r = py_sat(ax[j] + bx[j] + ah[j] + bh[j], counts, "preact")
        a_z = py_sat(ax[H + j] + bx[H + j] + ah[H + j] + bh[H + j], counts, "preact")
        r, z = py_sig(a_r, fa), py_sig(a_z, fa)
        hn = py_sat(ah[2 * H + j] + bh[2 * H + j], counts, "preact")
        a_n = py_sat(ax[2 * H + j] + bx[2 * H + j] + py_rsr(r * hn, fg), counts, "preact")
        n = py_tanh(a_n, fa)
        nc = n << (fc - fg) if fc >= fg else py_rsr(n, fg - fc)
        ct = py_sat(nc + py_rsr(z * (c_prev[j] - nc), fg), counts, "candidate")
        theta = p["theta"][j]
        signed = p.get("polarity") == "signed"
        e = abs(ct) > theta if signed else ct > theta          # Python ints: |c~| is exact
        y.append(ct if e else 0)
        if p["reset"] == "subtract":
            step = (theta if ct > 0 else -theta) if signed else theta
            c.append(py_sat(ct - step * e, counts, "state"))
        elif p["reset"] == "zero":
            c.append(0 if e else ct)
        else:
            c.append(ct)
    return y, c


def random_layer(rng: random.Random, I, H, *, big=False, reset="subtract", polarity="positive"):
    fa, fc = rng.randint(1, 18), rng.randint(0, 18)
    hi = 7 if big else 2
    return {
        "H": H, "fa": fa, "fc": fc, "reset": reset, "polarity": polarity,
        "w_ih": [[2 * rng.randint(-127, 127) for _ in range(I)] for _ in range(3 * H)],
        "w_hh": [[2 * rng.randint(-127, 127) for _ in range(H)] for _ in range(3 * H)],
        "e_ih": rng.randint(-8, hi), "e_hh": rng.randint(-8, hi),
        "b_ih": [rng.randint(-(1 << 20), 1 << 20) for _ in range(3 * H)],
        "b_hh": [rng.randint(-(1 << 20), 1 << 20) for _ in range(3 * H)],
        "theta": [rng.randint(1, 1 << max(fc, 1)) for _ in range(H)],
    }


def to_layer(p, I) -> IntegerEGRULayer:
    t = lambda v: torch.tensor(v, dtype=torch.int64)  # noqa: E731
    return IntegerEGRULayer("test", t(p["w_ih"]).reshape(3 * p["H"], I), t(p["w_hh"]), p["e_ih"], p["e_hh"],
                            t(p["b_ih"]), t(p["b_hh"]), t(p["theta"]), 0, p["fa"], p["fc"],
                            reset_mechanism=p["reset"], polarity=p.get("polarity", "positive"))
