"""A plain-Python-int transcription of docs/fixed-point.md's formulas (``py_*``), written independently of
snntorch_egru.quantization: the reference the integer primitives, the integer step and whole integer models are
checked against.

``py_step`` is section 6 for one layer and one sample (the positive neuron and the signed one, every reset);
``py_model`` is a whole ``EGRU`` or ``EGRULanguageModel``: the integer parameters derived from the float ones
(section 3), the input quantised (section 5), the Dense layers (section 4) and the EGRU steps, with the overflow
counters (section 8). It reads the torch model's tensors and settings only, no quantization code."""

from __future__ import annotations

import math
import random
from typing import NamedTuple

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
        if not p.get("events", True):                         # a plain GRU: y = c = c~
            y.append(ct)
            c.append(ct)
            continue
        theta = p["theta"][j]
        signed = p.get("polarity", "positive") == "signed"
        # positive: c~ > theta; signed: |c~| > theta (exact on Python ints, no 24-bit |.| to worry about)
        e = abs(ct) > theta if signed else ct > theta
        y.append(ct if e else 0)                               # the signed message keeps the sign of c~
        if p["reset"] == "subtract":
            sign = (ct > 0) - (ct < 0)
            step = sign * theta if signed else theta           # signed: c~ - sign(c~) theta
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


def py_round_half_away(v: float) -> int:
    """sign(v) floor(|v| + 1/2) on a float64 value (section 1)."""
    m = math.floor(abs(v) + 0.5)
    return m if v >= 0 else -m


def py_fixed(values, frac):
    """round_half_away(v * 2**frac) of each float (the scaling by a power of two is exact)."""
    return [py_round_half_away(math.ldexp(float(v), frac)) for v in values]


def py_weights(rows, scale_exp, frac_src, frac_dst, name):
    """Lava integer weights 2k and weight_exp of one matrix (section 3), asserting the ranges."""
    mantissas = [py_fixed(row, -scale_exp) for row in rows]
    assert all(-127 <= k <= 127 for row in mantissas for k in row), f"{name}: mantissa out of range"
    exp = scale_exp - frac_src + frac_dst - 1
    assert -8 <= exp <= 7, f"{name}: weight_exp {exp}"
    return [[2 * k for k in row] for row in mantissas], exp


def _floats(t):
    return t.detach().double().tolist()


def py_network(model, q):
    """``[(name, kind, params)]``: every layer after the input in integers, from the float parameters and the
    formats of ``q`` (a QuantizationSpec: ``frac_input`` and one format per layer, in file order)."""
    lm = hasattr(model, "embedding")
    rnn = model.rnn if lm else model
    layers, src = [], q.frac_input
    formats = list(q.layers)
    if lm:
        fmt = formats.pop(0)
        w, e = py_weights(_floats(model.embedding.weight.t()), fmt.scale_exp, 0, fmt.frac_state, "embedding")
        layers.append(("embedding", "dense", {"w": w, "e": e, "b": [0] * len(w)}))
        src = fmt.frac_state
    for k in range(rnn.num_layers):
        fmt, prm, H = formats[k], rnn.layer_parameters(k), rnn.hidden_sizes[k]
        name = f"rnn.l{k}" if lm else f"l{k}"
        fa, fc = fmt.frac_preact, fmt.frac_state
        w_ih, e_ih = py_weights(_floats(prm.weight_ih), fmt.scale_exp_ih, src, fa, f"{name}.weight_ih")
        w_hh, e_hh = py_weights(_floats(prm.weight_hh), fmt.scale_exp_hh, fc, fa, f"{name}.weight_hh")
        p = {
            "H": H, "fa": fa, "fc": fc, "reset": rnn.reset_mechanism, "polarity": rnn.polarity,
            "events": bool(rnn.events), "w_ih": w_ih, "w_hh": w_hh, "e_ih": e_ih, "e_hh": e_hh,
            "b_ih": [0] * (3 * H) if prm.bias_ih is None else py_fixed(_floats(prm.bias_ih), fa),
            "b_hh": [0] * (3 * H) if prm.bias_hh is None else py_fixed(_floats(prm.bias_hh), fa),
            "theta": py_fixed(_floats(prm.threshold), fc) if rnn.events else [1] * H,
        }
        assert all(1 <= t <= INT24_MAX for t in p["theta"]), f"{name}: threshold"
        layers.append((name, "egru", p))
        src = fc
    if lm:
        fmt = formats[rnn.num_layers]
        w, e = py_weights(_floats(model.readout.weight), fmt.scale_exp, src, fmt.frac_state, "readout")
        layers.append(("readout", "dense", {"w": w, "e": e, "b": py_fixed(_floats(model.readout.bias),
                                                                          fmt.frac_state)}))
    return layers


class PyResult(NamedTuple):
    output: list        # [T][B][out] ints: the last layer's messages (an EGRU) or the logits (a language model)
    state: tuple        # (ys, cs): per EGRU layer [B][H] ints
    messages: dict      # per EGRU layer name: its graded outputs y, [T][B][H] ints
    counts: dict        # {layer name: {counter: n}}, nonzero counters only


def py_model(model, q, inputs, state=None) -> PyResult:
    """The integer model of ``model`` with the formats ``q`` on ``inputs`` (float [T, B, I] for an EGRU, token ids
    [T, B] for a language model), from ``state`` ((ys, cs) of ints, or tensors) or the zero state."""
    lm = hasattr(model, "embedding")
    layers = py_network(model, q)
    counts = {}
    if lm:
        vocab = model.embedding.weight.shape[0]
        msgs = [[[int(j == tok) for j in range(vocab)] for tok in row] for row in inputs.tolist()]
    else:
        box = counts.setdefault("input", {})
        msgs = [[[py_sat(py_round_half_away(math.ldexp(v, q.frac_input)), box, "input") for v in sample]
                 for sample in row] for row in inputs.detach().double().tolist()]
    egru_k, ys_n, cs_n, messages = 0, [], [], {}
    for name, kind, p in layers:
        box = counts.setdefault(name, {})
        if kind == "dense":
            msgs = [[[py_sat(a + b, box, "output") for a, b in zip(py_dense(p["w"], s, p["e"], box), p["b"])]
                     for s in row] for row in msgs]
            continue
        batch = len(msgs[0])
        if state is None:
            ys, cs = [[0] * p["H"] for _ in range(batch)], [[0] * p["H"] for _ in range(batch)]
        else:
            ys, cs = (list(map(list, _ints(state[0][egru_k]))), list(map(list, _ints(state[1][egru_k]))))
        out = []
        for row in msgs:
            for b in range(batch):
                ys[b], cs[b] = py_step(row[b], ys[b], cs[b], p, box)
            out.append([list(y) for y in ys])
        msgs = messages[name] = out
        ys_n.append([list(y) for y in ys])
        cs_n.append([list(c) for c in cs])
        egru_k += 1
    nonzero = {name: {k: v for k, v in box.items() if v} for name, box in counts.items()}
    return PyResult(msgs, (ys_n, cs_n), messages, {name: box for name, box in nonzero.items() if box})


def _ints(v):
    return v.tolist() if isinstance(v, torch.Tensor) else v
