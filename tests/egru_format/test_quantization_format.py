"""Format version >= 2: per-layer quantization groups, the numpy integer view, v1 compatibility."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import torch

import converters
import egru_format as fmt
from egru_format import FormatError, integer_network, read_network, write_network
from snntorch_egru import EGRU, EGRULanguageModel
from snntorch_egru.quantization import QuantizationError, calibrate, integer_layers, to_integer
from tests.conftest import REPO_ROOT

DATA = REPO_ROOT / "tests" / "data"


def v1_fixture_array(shape, seed):
    """The arrays of tests/data/format_v1_lm.h5 (written by the version-1 writer, commit 7f49d5a)."""
    n = int(np.prod(shape))
    return (((np.arange(n) * 7 + seed * 13) % 23 - 11) / 32.0).reshape(shape).astype(np.float32)


@pytest.fixture()
def lm_and_spec():
    torch.manual_seed(0)
    lm = EGRULanguageModel(15, 6, [8, 6], tie_weights=True, threshold=0.05)
    tokens = torch.randint(0, 15, (25, 3))
    return lm, calibrate(lm, tokens), tokens


def test_v2_round_trip_language_model(tmp_path, lm_and_spec):
    lm, q, tokens = lm_and_spec
    path = converters.export(lm, tmp_path / "lm.h5", quantization=q)
    with h5py.File(path) as f:
        assert int(f.attrs["format_version"]) == fmt.FORMAT_VERSION
        assert set(f["layer/2/quantization"]) == {"frac_preact", "frac_state", "frac_gate", "scale_exp_ih",
                                                  "scale_exp_hh"}
        assert f["layer/2/quantization/frac_gate"][()] == 12 and f["layer/2/quantization/frac_gate"].dtype == np.int64
        assert set(f["layer/0/quantization"]) == {"frac_input"} and set(f["layer/1/quantization"]) == {
            "frac_state", "scale_exp"}
    spec = read_network(path)
    assert spec.quantized
    model, q_back = converters.load_snntorch(path, with_quantization=True)
    assert q_back == q
    assert all(torch.equal(a, b) for a, b in zip(lm.state_dict().values(), model.state_dict().values()))
    assert torch.equal(to_integer(model, q_back)(tokens).output_int, to_integer(lm, q)(tokens).output_int)
    # without the flag: just the model, as before
    assert isinstance(converters.load_snntorch(path), EGRULanguageModel)


def test_v2_round_trip_egru_and_float_file_has_no_quantization(tmp_path):
    torch.manual_seed(1)
    rnn = EGRU(3, [5, 4], threshold=0.05)
    x = torch.randn(10, 2, 3)
    q = calibrate(rnn, x)
    path = converters.export(rnn, tmp_path / "q.h5", quantization=q)
    model, q_back = converters.load_snntorch(path, with_quantization=True)
    assert q_back == q
    plain = converters.export(rnn, tmp_path / "float.h5")
    assert converters.load_snntorch(plain, with_quantization=True)[1] is None
    with h5py.File(plain) as f:
        assert int(f.attrs["format_version"]) == fmt.FORMAT_VERSION and "quantization" not in f["layer/1"]


@pytest.mark.parametrize("polarity", ["positive", "signed"])
def test_numpy_integers_equal_torch_integers(lm_and_spec, polarity):
    lm, q, _ = lm_and_spec
    from converters.snntorch_bridge import to_spec

    lm.rnn.polarity = polarity

    fixed = integer_network(to_spec(lm, q))
    torch_layers = integer_layers(lm, q)
    assert isinstance(fixed[0], fmt.FixedPointInput) and fixed[0].frac_input == 0
    for a, b in zip(fixed[1:], torch_layers):
        if isinstance(a, fmt.FixedPointDense):
            assert np.array_equal(a.weight, b.weight.numpy()) and a.weight_exp == b.weight_exp
            assert (a.bias is None and b.bias is None) or np.array_equal(a.bias, b.bias.numpy())
            assert (a.frac_source, a.frac_state) == (b.frac_source, b.frac_state)
        else:
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "threshold"):
                assert np.array_equal(getattr(a, name), getattr(b, name).numpy()), name
            for name in ("weight_exp_ih", "weight_exp_hh", "frac_source", "frac_preact", "frac_state",
                         "frac_gate", "reset_mechanism", "events", "polarity"):
                assert getattr(a, name) == getattr(b, name), name
            assert a.weight_ih.dtype == np.int64 and (a.weight_ih % 2 == 0).all()
            assert a.polarity == polarity
            assert a.weight_ih.min() >= -254 and a.weight_ih.max() <= 254


def test_version_1_file_still_loads(tmp_path):
    path = DATA / "format_v1_lm.h5"
    with h5py.File(path) as f:
        assert int(f.attrs["format_version"]) == 1
    spec = read_network(path)
    assert not spec.quantized
    emb = v1_fixture_array((3, 6), 1)
    assert [layer.type for layer in spec.layers] == ["input", "dense", "egru", "egru", "dense"]
    assert np.array_equal(spec.layers[1].weight, emb)
    assert np.array_equal(spec.layers[2].weight_ih, v1_fixture_array((12, 3), 2))
    w_hh1 = v1_fixture_array((9, 3), 8)
    w_hh1[w_hh1 > 0] = 0
    assert np.array_equal(spec.layers[3].weight_hh, w_hh1)
    assert spec.layers[3].surrogate.dampening == 3.6 and spec.model["note"] == "v1 fixture"
    model, q = converters.load_snntorch(path, with_quantization=True)
    assert q is None and isinstance(model, EGRULanguageModel) and model.readout.weight is model.embedding.weight
    assert [layer.polarity for layer in spec.egru_layers] == ["positive", "positive"]
    # written back: the current version, same layers
    write_network(spec, tmp_path / "again.h5")
    with h5py.File(tmp_path / "again.h5") as f:
        assert int(f.attrs["format_version"]) == fmt.FORMAT_VERSION
    assert read_network(tmp_path / "again.h5").layers == spec.layers


def test_a_newer_version_is_rejected(tmp_path, lm_and_spec):
    lm, q, _ = lm_and_spec
    path = converters.export(lm, tmp_path / "lm.h5", quantization=q)
    newer = fmt.FORMAT_VERSION + 1
    with h5py.File(path, "r+") as f:
        f.attrs["format_version"] = newer
    with pytest.raises(FormatError, match=f"format_version.*is {newer}, newer than this reader supports"):
        read_network(path)


def _edit(path, fn):
    with h5py.File(path, "r+") as f:
        fn(f)


def _with_entry(array, value):
    array = array.copy()
    array[0, 0] = value
    return array


def _replace(name, value):
    def fn(f):
        del f[name]
        f.create_dataset(name, data=value)
    return fn


@pytest.mark.parametrize("edit, field, message", [
    (_replace("layer/2/quantization/frac_gate", np.int64(11)), "layer/2/quantization/frac_gate", "must be 12"),
    (_replace("layer/2/quantization/frac_state", np.float64(3.0)), "layer/2/quantization/frac_state",
     "expected an integer"),
    (_replace("layer/0/quantization/frac_input", np.int64(4)), "layer/0/quantization/frac_input",
     "must be 0 for token inputs"),
    (_replace("layer/2/quantization/scale_exp_hh", np.int64(-40)), "layer/2/quantization/scale_exp_hh",
     "is outside Loihi's range [-8, 7]"),
    (lambda f: _replace("layer/3/weight_ih", _with_entry(f["layer/3/weight_ih"][()], 2.0 ** (
        int(f["layer/3/quantization/scale_exp_ih"][()]) + 8)))(f), "layer/3/weight_ih", "needs mantissa 256"),
    (lambda f: f["layer/2/quantization"].create_dataset("frac_extra", data=np.int64(1)),
     "layer/2/quantization/frac_extra", f"unknown entry in a version-{fmt.FORMAT_VERSION} file"),
    (lambda f: f.__delitem__("layer/4/quantization"), "layer/4/quantization", "missing"),
    (lambda f: f.__delitem__("layer/2/quantization/scale_exp_ih"), "layer/2/quantization/scale_exp_ih", "missing"),
])
def test_invalid_quantization_groups(tmp_path, lm_and_spec, edit, field, message):
    lm, q, _ = lm_and_spec
    path = converters.export(lm, tmp_path / "lm.h5", quantization=q)
    _edit(path, edit)
    with pytest.raises(FormatError) as info:
        read_network(path)
    assert field in str(info.value) and message in str(info.value), str(info.value)


def test_threshold_must_quantise_to_at_least_one(tmp_path, lm_and_spec):
    lm, q, _ = lm_and_spec
    path = converters.export(lm, tmp_path / "lm.h5", quantization=q)
    frac = q.layers[1].frac_state

    def fn(f):
        theta = f["layer/2/neuron/threshold"][()]
        theta[3] = np.float32(2.0**-(frac + 2))
        del f["layer/2/neuron/threshold"]
        f["layer/2/neuron"].create_dataset("threshold", data=theta)
        del f["layer/2/neuron/min_threshold"]
        f["layer/2/neuron"].create_dataset("min_threshold", data=np.float64(1e-9))
    _edit(path, fn)
    with pytest.raises(FormatError, match=r"layer/2/neuron/threshold: value .* at \[3\] quantises to 0"):
        read_network(path)


def test_export_checks_the_model_against_the_spec(tmp_path, lm_and_spec):
    lm, q, _ = lm_and_spec
    with torch.no_grad():
        lm.rnn.weight_hh_l1[0, 0] = 50.0
    with pytest.raises(QuantizationError, match=r"rnn\.l1\.weight_hh"):
        converters.export(lm, tmp_path / "bad.h5", quantization=q)
    assert not (tmp_path / "bad.h5").exists()
    with pytest.raises(TypeError, match="QuantizationSpec"):
        converters.export(lm, tmp_path / "bad.h5", quantization={"frac_input": 0})


def test_integer_network_of_a_float_spec_is_an_error():
    spec = read_network(DATA / "format_v1_lm.h5")
    with pytest.raises(FormatError, match="not quantised"):
        integer_network(spec)


@pytest.mark.lava
def test_lava_dense_keeps_the_integer_weights():
    """Lava's fixed-point Dense prepares weights with clip_weights + truncate_weights: our 2k pass unchanged."""
    from lava.utils.weightutils import clip_weights, determine_sign_mode, truncate_weights

    rng = np.random.default_rng(0)
    mixed = 2 * rng.integers(-127, 128, size=(6, 5))
    mixed[0, :2] = [-254, 254]
    cases = [mixed, np.abs(mixed), -np.abs(mixed)]
    for weights in cases:
        mode = determine_sign_mode(weights)
        prepared = truncate_weights(clip_weights(weights, mode, num_bits=8), mode, 8)
        assert np.array_equal(prepared, weights), mode
    # why the mantissa range is symmetric: -256 (mantissa -128) does not survive an all-non-positive matrix
    inhibitory = -np.abs(mixed)
    inhibitory[0, 0] = -256
    mode = determine_sign_mode(inhibitory)
    assert clip_weights(inhibitory, mode, num_bits=8)[0, 0] == -255


@pytest.mark.lava
@pytest.mark.parametrize("exp", [-8, -5, -1, 0, 3, 7])
def test_dense_int_equals_lavas_bit_accurate_dense(exp):
    """snntorch_egru.quantization.dense_int == lava-nc's PyDenseModelBitAcc (graded) + its int32 a_out channel."""
    from lava.proc.dense.models import PyDenseModelBitAcc

    from snntorch_egru.quantization import dense_int

    class Port:
        def __init__(self, value=None):
            self.value = value

        def recv(self):
            return self.value

        def send(self, value):
            self.value = value

    rng = np.random.default_rng(exp + 10)
    weights = 2 * rng.integers(-127, 128, size=(5, 7))
    messages = rng.integers(-2**23, 2**23, size=7)
    messages[:3] = [2**23 - 1, -2**23, 0]
    model = PyDenseModelBitAcc({"weight_exp": exp})
    model.weights = weights.astype(np.int32)
    model.num_message_bits = np.array([24])
    model.s_in, model.a_out = Port(messages.astype(np.int64)), Port()
    model.a_buff = np.zeros(5, np.int32)
    model.run_spk()
    channel = np.zeros(5, np.int32)     # Lava copies a_out into the channel's int32 buffer
    channel[:] = model.a_buff
    ours = dense_int(torch.from_numpy(messages).unsqueeze(0), torch.from_numpy(weights), exp)
    assert np.array_equal(ours.squeeze(0).numpy(), channel.astype(np.int64))
