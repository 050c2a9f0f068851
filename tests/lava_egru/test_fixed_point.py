"""Lava ``fixed_pt`` == the snnTorch integer mode, bit for bit (docs/fixed-point.md).

A model is calibrated (``snntorch_egru.quantization.calibrate``), exported with its
quantization (format version 2), loaded into Lava (``converters.load_lava``) and run
with ``lava_egru.simulate(..., precision="fixed_pt")``; the reference is
``to_integer(model, spec)`` on the same inputs. Outputs (integers) and overflow
counters must be identical, over >= 1000 steps, for 1 and 3 layers, dense and
>= 80%-pruned (Lava ``Sparse``) weights, with inputs that drive saturation, and for a
small token language model. This file tests the converters, so it imports both sides.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import converters  # noqa: E402
from egru_format import FormatError, read_network, write_network  # noqa: E402
from snntorch_egru import EGRU, EGRULanguageModel  # noqa: E402
from snntorch_egru.quantization import calibrate, to_integer  # noqa: E402

pytestmark = pytest.mark.lava

INT24_MIN, INT24_MAX = -(1 << 23), (1 << 23) - 1


@pytest.fixture(scope="module")
def lava_egru():
    import lava_egru

    return lava_egru


def prune_(model, fraction: float, seed: int) -> None:
    """Zero ``fraction`` of every recurrent-layer weight matrix (in place)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "weight_ih" in name or "weight_hh" in name:
                # masked_fill_ writes +0.0 (a product by 0 would leave -0.0, which the format stores).
                param.masked_fill_(torch.rand(param.shape, generator=gen) < fraction, 0.0)


def saturating_inputs(steps: int, size: int, seed: int) -> torch.Tensor:
    """Gaussian inputs with a burst of huge values every 100 steps (they saturate the
    input quantisation and the gate pre-activations)."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(steps, size, generator=gen)
    x[50::100] *= 1e4
    x[51::100] *= 30
    return x


def compare_overflow(lava_counts: dict, ref_counts: dict, ref_names: list, vector_input: bool) -> None:
    """Lava's per-layer counters equal the reference's; the reference's int32 wrap never fired."""
    if vector_input:
        assert lava_counts["layer/0"] == {"input": ref_counts["input"]["input"]}
    else:
        assert lava_counts["layer/0"] == {}
    for k, name in enumerate(ref_names, start=1):
        lava, ref = lava_counts[f"layer/{k}"], ref_counts[name]
        assert ref["dense"] == 0  # Lava's Dense wraps silently: only comparable when it never wraps
        for counter, value in ref.items():
            assert lava.get(counter, 0) == value, (name, counter, lava, ref)


def run_both(lava_egru, model, spec, path, x, lava_x, sparse=False):
    network = converters.load_lava(converters.export(model, path, quantization=spec, sparse=sparse))
    start = time.perf_counter()
    result = lava_egru.simulate(network, lava_x, precision="fixed_pt", return_details=True)
    seconds = time.perf_counter() - start
    reference = to_integer(model, spec)(x)
    return network, result, reference, seconds


@pytest.mark.parametrize(
    "layers, pruned, reset, steps, polarity",
    [(1, False, "subtract", 1000, "positive"), (1, True, "subtract", 1000, "positive"),
     (3, False, "subtract", 1000, "positive"), (3, True, "zero", 1000, "positive"),
     (1, True, "subtract", 1000, "signed"), (3, False, "subtract", 600, "signed"),
     (3, True, "zero", 600, "signed")],
    ids=["1-layer-dense", "1-layer-pruned", "3-layer-dense", "3-layer-pruned", "signed-1-layer-pruned",
         "signed-3-layer-dense", "signed-3-layer-pruned-zero"],
)
def test_vector_network_bit_exact(lava_egru, tmp_path, layers, pruned, reset, steps, polarity):
    torch.manual_seed(layers)
    model = EGRU(4, [10, 8, 6][:layers] if layers > 1 else 10, num_layers=layers, threshold=0.05,
                 reset_mechanism=reset, polarity=polarity)
    if pruned:
        prune_(model, 0.85, seed=layers)
    spec = calibrate(model, torch.randn(200, 4, 4))
    x = saturating_inputs(steps, 4, seed=layers)
    network, result, ref, seconds = run_both(lava_egru, model, spec, tmp_path / "q.h5", x,
                                             x.numpy().astype(np.float64), sparse="auto")
    if pruned:
        assert all(network.sparse_weights.values()), network.sparse_weights
    assert network.precision == "fixed_pt"
    assert result.frac == ref.frac
    np.testing.assert_array_equal(result.output_int, ref.output_int.numpy())
    np.testing.assert_array_equal(result.output, np.ldexp(ref.output_int.numpy().astype(np.float64), -ref.frac))
    assert (result.output_int != 0).any()
    assert bool((result.output_int < 0).any()) == (polarity == "signed")     # negative events: signed only
    compare_overflow(result.overflow, ref.overflow, [f"l{k}" for k in range(layers)], vector_input=True)
    assert result.overflow["layer/0"]["input"] > 0
    assert sum(result.overflow[f"layer/{k}"]["preact"] for k in range(1, layers + 1)) > 0
    print(f"{layers} layer(s): {steps} steps in {seconds:.2f} s = {steps / seconds:.0f} steps/s (fixed_pt)")


def test_plain_gru_and_dense_weights(lava_egru, tmp_path):
    """events=False (y = c = c~, no threshold), reset "none" path unused: 2 layers, 300 steps."""
    torch.manual_seed(5)
    model = EGRU(3, 7, num_layers=2, events=False)
    spec = calibrate(model, torch.randn(100, 4, 3))
    x = torch.randn(300, 3)
    _, result, ref, _ = run_both(lava_egru, model, spec, tmp_path / "gru.h5", x, x.numpy().astype(np.float64))
    np.testing.assert_array_equal(result.output_int, ref.output_int.numpy())
    compare_overflow(result.overflow, ref.overflow, ["l0", "l1"], vector_input=True)


@pytest.mark.parametrize("polarity", ["positive", "signed"])
def test_language_model_bit_exact(lava_egru, tmp_path, polarity):
    torch.manual_seed(3)
    model = EGRULanguageModel(11, 6, [8, 7], threshold=0.05, reset_mechanism="subtract", polarity=polarity)
    prune_(model, 0.8, seed=3)
    tokens = torch.randint(0, 11, (400, 1), generator=torch.Generator().manual_seed(3))
    spec = calibrate(model, torch.randint(0, 11, (60, 4)))
    network, result, ref, _ = run_both(lava_egru, model, spec, tmp_path / "lm.h5", tokens,
                                       tokens[:, 0].numpy(), sparse="auto")
    assert network.sparse_weights[(2, "weight_ih")] and network.sparse_weights[(3, "weight_hh")]
    np.testing.assert_array_equal(result.output_int, ref.output_int[:, 0].numpy())
    assert result.frac == spec.output_frac
    names = ["embedding", "rnn.l0", "rnn.l1", "readout"]
    compare_overflow(result.overflow, ref.overflow, names, vector_input=False)


def test_out_of_range_inputs_saturate_and_are_counted(lava_egru, tmp_path):
    torch.manual_seed(7)
    model = EGRU(2, 5, threshold=0.05)
    spec = calibrate(model, torch.randn(50, 2, 2))
    x = np.array([[0.5, -0.25], [1e9, -1e9], [2.0 ** (23 - spec.frac_input), -(2.0 ** (23 - spec.frac_input))],
                  [3.0, np.nextafter(-2.0 ** (23 - spec.frac_input), 0)], [-1e30, 0.1]])
    network = converters.load_lava(converters.export(model, tmp_path / "q.h5", quantization=spec))
    result = lava_egru.simulate(network, x, precision="fixed_pt", return_details=True)
    scaled = np.sign(x) * np.floor(np.abs(np.ldexp(x, spec.frac_input)) + 0.5)
    expected = int(np.count_nonzero((scaled < INT24_MIN) | (scaled > INT24_MAX)))
    assert expected == 4  # 1e9, -1e9, +2**23 (one above the max), -1e30; -2**23 itself fits
    assert result.overflow["layer/0"]["input"] == expected
    ref = to_integer(model, spec)(torch.from_numpy(x))
    np.testing.assert_array_equal(result.output_int, ref.output_int.numpy())
    assert ref.overflow["input"]["input"] == expected


def test_float_network_file_has_no_fixed_point(lava_egru, tmp_path):
    torch.manual_seed(1)
    model = EGRU(3, 4, threshold=0.1)
    path = converters.export(model, tmp_path / "float.h5")
    network = converters.load_lava(path)
    assert network.precision == "floating_pt" and network.fixed_point is None
    with pytest.raises(FormatError, match="layer/0/quantization: missing"):
        lava_egru.simulate(network, np.zeros((3, 3)), precision="fixed_pt")
    with pytest.raises(FormatError, match="layer/0/quantization: missing"):
        lava_egru.EGRUNetwork(path, precision="fixed_pt")


def test_quantised_file_runs_in_float_and_exports_unchanged(lava_egru, tmp_path):
    """A quantised file: the fixed_pt network holds integers, but its floating_pt simulation equals
    the float network's, and its export gives the file's float parameters back."""
    torch.manual_seed(2)
    model = EGRU(3, 5, threshold=0.05)
    spec = calibrate(model, torch.randn(40, 2, 3))
    qpath = converters.export(model, tmp_path / "q.h5", quantization=spec)
    fpath = converters.export(model, tmp_path / "f.h5")
    fixed = lava_egru.EGRUNetwork(qpath)
    assert fixed.precision == "fixed_pt"
    assert np.all(np.asarray(fixed.layers[1].weight_ih.init) % 2 == 0)  # Lava integer weights 2k
    x = np.random.default_rng(0).standard_normal((12, 3))
    np.testing.assert_array_equal(lava_egru.simulate(fixed, x), lava_egru.simulate(converters.load_lava(fpath), x))
    again = read_network(lava_egru.export(fixed, tmp_path / "again.h5"))
    assert again == read_network(qpath)
    # A changed integer weight is dequantised and quantises back to the same integer.
    weight = np.asarray(fixed.layers[1].weight_ih.init).copy()
    weight[0, 0] = 2 * 17
    fixed.layers[1].weight_ih.init = weight
    changed = lava_egru.network_spec(fixed)
    assert changed.layers[1].weight_ih[0, 0] == np.float32(17 * 2.0 ** spec.layers[0].scale_exp_ih)
    write_network(changed, tmp_path / "changed.h5")


def test_worked_example_of_the_doc(lava_egru):
    """docs/fixed-point.md, section 13: one unit, one step, with Lava's fixed-point Dense and the
    fixed-point EGRU neuron alone (y_{t-1} = 8192, c_{t-1} = 3277 -> y = 5400, c = 485)."""
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc.dense.process import Dense
    from lava.proc.io.source import RingBuffer
    from lava_egru.proc.egru.process import EGRUNeuron

    source = RingBuffer(data=np.array([[12288]]))                     # x = 0.75 in F_in = 14
    w_ih = Dense(weights=np.array([[128], [-64], [230]]), num_message_bits=24, weight_exp=-6, num_weight_bits=8)
    w_hh = Dense(weights=np.array([[76], [52], [-154]]), num_message_bits=24, weight_exp=-6, num_weight_bits=8)
    neuron = EGRUNeuron(shape=(1,), threshold=np.array([4915]), bias_ih=np.array([6554, -13107, 3277]),
                        bias_hh=np.array([0, 19661, -6554]), frac_preact=16, frac_state=14)
    neuron.y.init = np.array([8192])   # sent at step 1, delivered by w_hh at step 2
    neuron.c.init = np.array([3277])
    source.s_out.connect(w_ih.s_in)
    w_ih.a_out.connect(neuron.a_in_x)
    neuron.s_out.connect(w_hh.s_in)
    w_hh.a_out.connect(neuron.a_in_h)
    try:
        neuron.run(RunSteps(2), Loihi2SimCfg(select_tag="fixed_pt"))
        y, c, overflow = neuron.y.get(), neuron.c.get(), neuron.overflow.get()
    finally:
        neuron.stop()
    assert (y.tolist(), c.tolist(), overflow.tolist()) == ([5400], [485], [0, 0, 0])
