"""Torch side of the converters: EGRU / EGRULanguageModel -> file -> model, bit for bit."""

from __future__ import annotations

import doctest
import sys
import types

import h5py
import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import converters
from converters import snntorch_bridge
from egru_format import FormatError, read_network, write_network
from snntorch_egru import EGRU, EGRUCell, EGRULanguageModel
from snntorch_egru.surrogate import triangle

HYPOTHESIS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def prune_(module: torch.nn.Module, sparsity: float, generator: torch.Generator) -> None:
    """Zero a random ``sparsity`` fraction of every weight matrix (unstructured pruning)."""
    with torch.no_grad():
        for name, param in module.named_parameters():
            if param.dim() == 2 and "embedding" not in name:
                param[torch.rand(param.shape, generator=generator) < sparsity] = 0.0


def assert_state_dicts_identical(a: torch.nn.Module, b: torch.nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert list(sa) == list(sb)
    for key in sa:
        assert sa[key].dtype == sb[key].dtype == torch.float32, key
        assert sa[key].shape == sb[key].shape, key
        assert torch.equal(sa[key].view(torch.int32), sb[key].view(torch.int32)), f"{key} differs in its bits"


def assert_same_settings(a: EGRU, b: EGRU) -> None:
    for name in ("input_size", "hidden_sizes", "bias", "batch_first", "dropout", "events", "learn_threshold",
                 "reset_mechanism", "polarity", "min_threshold", "spike_grad"):
        assert getattr(a, name) == getattr(b, name), name
    for k in range(a.num_layers):
        assert isinstance(getattr(b, f"threshold_l{k}"), torch.nn.Parameter) == a.learn_threshold


# --------------------------------------------------------------------------- EGRU


@HYPOTHESIS
@given(
    seed=st.integers(0, 2**16),
    input_size=st.integers(1, 8),
    hidden=st.lists(st.integers(1, 24), min_size=1, max_size=3),
    bias=st.booleans(),
    sparsity=st.sampled_from([0.0, 0.2, 0.5, 0.7, 0.9, 0.95]),
    reset=st.sampled_from(["subtract", "zero", "none"]),
    polarity=st.sampled_from(["positive", "signed"]),
    events=st.booleans(),
    learn_threshold=st.booleans(),
    batch_first=st.booleans(),
    sparse=st.sampled_from(["auto", True, False]),
)
def test_egru_round_trip(tmp_path_factory, seed, input_size, hidden, bias, sparsity, reset, polarity, events,
                         learn_threshold, batch_first, sparse):
    gen = torch.Generator().manual_seed(seed)
    threshold = [torch.rand(h, generator=gen) * 0.9 + 0.05 for h in hidden]
    model = EGRU(input_size, hidden, bias=bias, reset_mechanism=reset, polarity=polarity, events=events,
                 learn_threshold=learn_threshold, batch_first=batch_first, dropout=0.25 if len(hidden) > 1 else 0.0,
                 threshold=threshold, spike_grad=triangle(3.6, 3.6), min_threshold=0.01)
    prune_(model, sparsity, gen)
    path = tmp_path_factory.mktemp("egru") / "egru.h5"
    assert converters.export(model, path, sparse=sparse) == path
    loaded = converters.load_snntorch(path)
    assert type(loaded) is EGRU
    assert_state_dicts_identical(model, loaded)
    assert_same_settings(model, loaded)
    model.eval()
    loaded.eval()
    x = torch.randn(6, 3, input_size, generator=gen)
    if batch_first:
        x = x.transpose(0, 1)
    y_a, (yn_a, cn_a) = model(x)
    y_b, (yn_b, cn_b) = loaded(x)
    assert torch.equal(y_a, y_b)
    for a, b in zip(cn_a, cn_b):
        assert torch.equal(a, b)


def test_egru_file_layout(tmp_path):
    model = EGRU(3, [5, 4])
    path = converters.export(model, tmp_path / "e.h5")
    spec = read_network(path)
    assert [layer.type for layer in spec.layers] == ["input", "egru", "egru"]
    assert spec.layers[0].encoding == "vector" and spec.layers[0].size == 3
    assert spec.model == {"class": "EGRU", "batch_first": False, "dropout": 0.0, "learn_threshold": True}
    np.testing.assert_array_equal(spec.layers[2].weight_ih, model.weight_ih_l1.detach().numpy())
    with h5py.File(path) as f:
        assert f["layer/1/gate_order"][0] == b"rzn"
        assert f["layer/1/neuron/type"][0] == b"egru"
        assert float(f["layer/1/neuron/surrogate/dampening"][()]) == 0.7


def test_pruned_egru_stored_sparse(tmp_path):
    model = EGRU(32, 32)
    prune_(model, 0.9, torch.Generator().manual_seed(1))
    path = converters.export(model, tmp_path / "p.h5")
    with h5py.File(path) as f:
        assert f["layer/1/weight_hh"].attrs["sparse"] == "csr"
        assert f["layer/1/weight_ih"].attrs["sparse"] == "csr"
    assert_state_dicts_identical(model, converters.load_snntorch(path))


def test_threshold_below_floor_is_stored_as_used(tmp_path):
    model = EGRU(3, 4, min_threshold=0.05)
    with torch.no_grad():
        model.threshold_l0.copy_(torch.tensor([0.01, 0.2, -0.3, 0.05]))
    path = converters.export(model, tmp_path / "t.h5")
    stored = read_network(path).layers[1].threshold
    expected = np.array([0.05, 0.2, 0.05, 0.05], dtype=np.float32)
    assert stored.tobytes() == expected.tobytes()
    loaded = converters.load_snntorch(path)
    assert torch.equal(loaded.threshold_l0, torch.from_numpy(expected))
    x = torch.randn(8, 2, 3)
    assert torch.equal(model(x)[0], loaded(x)[0])  # same thresholds in use, same outputs


def test_from_gru_round_trip(tmp_path):
    gru = torch.nn.GRU(4, 6, num_layers=2)
    model = EGRU.from_gru(gru, events=False)
    loaded = converters.load_snntorch(converters.export(model, tmp_path / "g.h5"))
    x = torch.randn(5, 2, 4)
    assert torch.equal(model(x)[0], loaded(x)[0])
    assert loaded.events is False


# --------------------------------------------------------------------------- language model


@HYPOTHESIS
@given(
    seed=st.integers(0, 2**16),
    vocab=st.integers(2, 40),
    emb=st.integers(1, 16),
    hidden=st.lists(st.integers(1, 24), min_size=1, max_size=3),
    tie=st.booleans(),
    sparsity=st.sampled_from([0.0, 0.5, 0.9]),
    reset=st.sampled_from(["subtract", "zero", "none"]),
    polarity=st.sampled_from(["positive", "signed"]),
    dropouts=st.tuples(*[st.sampled_from([0.0, 0.1, 0.5])] * 3),
)
def test_language_model_round_trip(tmp_path_factory, seed, vocab, emb, hidden, tie, sparsity, reset, polarity,
                                   dropouts):
    if tie:
        hidden = [*hidden[:-1], emb]
    torch.manual_seed(seed)
    model = EGRULanguageModel(vocab, emb, hidden, tie_weights=tie, reset_mechanism=reset, polarity=polarity,
                              dropout_embedding=dropouts[0], dropout_between=dropouts[1], dropout_output=dropouts[2],
                              threshold=0.05)
    prune_(model, sparsity, torch.Generator().manual_seed(seed))
    path = tmp_path_factory.mktemp("lm") / "lm.h5"
    converters.export(model, path)
    loaded = converters.load_snntorch(path)
    assert type(loaded) is EGRULanguageModel
    assert_state_dicts_identical(model, loaded)
    assert_same_settings(model.rnn, loaded.rnn)
    for name in ("vocab_size", "embedding_size", "hidden_sizes", "tie_weights", "dropout_embedding",
                 "dropout_between", "dropout_output"):
        assert getattr(model, name) == getattr(loaded, name), name
    assert (loaded.readout.weight is loaded.embedding.weight) == tie
    model.eval()
    loaded.eval()
    tokens = torch.randint(0, vocab, (7, 2))
    assert torch.equal(model(tokens)[0], loaded(tokens)[0])


def test_language_model_file_layout(tmp_path):
    model = EGRULanguageModel(11, 4, [6, 4], tie_weights=True)
    path = converters.export(model, tmp_path / "lm.h5")
    spec = read_network(path)
    assert [layer.type for layer in spec.layers] == ["input", "dense", "egru", "egru", "dense"]
    assert spec.layers[0].encoding == "tokens" and spec.layers[0].size == 11
    embedding, readout = spec.layers[1], spec.layers[-1]
    assert embedding.weight.shape == (4, 11) and embedding.bias is None
    np.testing.assert_array_equal(embedding.weight, model.embedding.weight.detach().numpy().T)
    assert readout.weight.shape == (11, 4) and readout.bias.shape == (11,)
    assert spec.model["class"] == "EGRULanguageModel" and spec.model["tie_weights"] is True
    with h5py.File(path) as f:
        assert f["layer/1/neuron/type"][0] == b"identity"


# --------------------------------------------------------------------------- errors and dispatch


@pytest.mark.parametrize("obj", [torch.nn.GRU(2, 3), EGRUCell(2, 3), object(), "model.h5"])
def test_export_rejects_other_types(tmp_path, obj):
    with pytest.raises(TypeError, match="EGRULanguageModel"):
        converters.export(obj, tmp_path / "x.h5")
    assert not (tmp_path / "x.h5").exists()


def test_export_rejects_float64(tmp_path):
    with pytest.raises(TypeError, match=r"model.float\(\)"):
        converters.export(EGRU(2, 3).double(), tmp_path / "x.h5")


def test_export_rejects_other_surrogates(tmp_path):
    import snntorch.surrogate

    with pytest.raises(TypeError, match="triangle"):
        converters.export(EGRU(2, 3, spike_grad=snntorch.surrogate.fast_sigmoid()), tmp_path / "x.h5")


def test_export_names_file_on_nan(tmp_path):
    model = EGRU(2, 3)
    with torch.no_grad():
        model.weight_hh_l0[0, 0] = float("nan")
    with pytest.raises(FormatError, match=r"x\.h5: layer/1/weight_hh: contains 1 NaN"):
        converters.export(model, tmp_path / "x.h5")


def test_load_generic_stack_is_a_clear_error(tmp_path):
    spec = snntorch_bridge.to_spec(EGRU(2, 3))
    del spec.model["class"]
    write_network(spec, tmp_path / "g.h5")
    with pytest.raises(FormatError, match=r"g\.h5: model.attrs\['class'\]: missing"):
        converters.load_snntorch(tmp_path / "g.h5")


# The class attributes and layouts of the model group: the torch side's own checks (moved here from
# the format's tests when the format stopped knowing the torch classes).


def test_model_settings_complete_the_class_defaults(tmp_path):
    spec = snntorch_bridge.to_spec(EGRU(3, [5, 4]))
    spec.model = {"class": "EGRU"}
    write_network(spec, tmp_path / "a.h5")
    assert snntorch_bridge.model_settings(read_network(tmp_path / "a.h5")) == {
        "class": "EGRU", "batch_first": False, "dropout": 0.0, "learn_threshold": True}


@pytest.mark.parametrize("tie", [False, True])
def test_model_settings_of_a_language_model(tmp_path, tie):
    spec = snntorch_bridge.to_spec(EGRULanguageModel(7, 4, [5, 4], tie_weights=tie))
    spec.model = {"class": "EGRULanguageModel", "tie_weights": tie}
    write_network(spec, tmp_path / "lm.h5")
    settings = snntorch_bridge.model_settings(read_network(tmp_path / "lm.h5"))
    assert settings["vocab_size"] == 7 and settings["embedding_size"] == 4
    assert settings["tie_weights"] is tie


def expect_load_error(path, field: str, match: str) -> None:
    with pytest.raises(FormatError) as info:
        converters.load_snntorch(path)
    message = str(info.value)
    assert str(path) in message and field in message and match in message, message


def test_unknown_model_class(tmp_path):
    path = converters.export(EGRU(3, [5, 4]), tmp_path / "net.h5")
    with h5py.File(path, "r+") as f:
        f["model"].attrs["class"] = "Transformer"
    expect_load_error(path, "model.attrs['class']", "unknown model class")


def test_model_class_structure(tmp_path):
    path = converters.export(EGRU(3, [5, 4]), tmp_path / "net.h5")
    with h5py.File(path, "r+") as f:
        f["model"].attrs["class"] = "EGRULanguageModel"
    expect_load_error(path, "layer/0/encoding", "tokens")


def test_tied_weights_must_match(tmp_path):
    path = converters.export(EGRULanguageModel(7, 4, [5, 4], tie_weights=True), tmp_path / "lm.h5", sparse=False)
    with h5py.File(path, "r+") as f:
        w = f["layer/4/weight"][()]
        w[0, 0] += 1.0
        del f["layer/4/weight"]
        f.create_dataset("layer/4/weight", data=w)
    expect_load_error(path, "layer/4/weight", "tie_weights")


@pytest.mark.parametrize(("key", "value"), [("dropout", 1.5), ("batch_first", "yes")])
def test_model_settings_types(key, value):
    spec = snntorch_bridge.to_spec(EGRU(3, [5, 4]))
    spec.model[key] = value
    with pytest.raises(FormatError) as info:
        snntorch_bridge.from_spec(spec)
    assert f"model.attrs['{key}']" in str(info.value)


def test_load_mixed_settings_is_a_clear_error(tmp_path):
    spec = snntorch_bridge.to_spec(EGRU(2, [3, 3]))
    spec.layers[2].reset_mechanism = "zero"
    write_network(spec, tmp_path / "m.h5")
    with pytest.raises(FormatError, match=r"m\.h5: layer/2/neuron/reset_mechanism: .*one setting for all"):
        converters.load_snntorch(tmp_path / "m.h5")


def test_load_mixed_biases_is_a_clear_error(tmp_path):
    spec = snntorch_bridge.to_spec(EGRU(2, [3, 3]))
    spec.layers[2].bias_hh = None
    write_network(spec, tmp_path / "b.h5")
    with pytest.raises(FormatError, match=r"layer/2/bias_hh"):
        converters.load_snntorch(tmp_path / "b.h5")


def test_load_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.h5"):
        converters.load_snntorch(tmp_path / "nope.h5")


def test_load_lava_calls_lava_bridge(monkeypatch):
    calls = []
    fake = types.ModuleType("converters.lava_bridge")
    fake.load_lava = lambda path, *args, **kwargs: calls.append((path, args, kwargs)) or "network"
    monkeypatch.setitem(sys.modules, "converters.lava_bridge", fake)
    monkeypatch.setattr(converters, "lava_bridge", fake, raising=False)
    assert converters.load_lava("net.h5") == "network"
    assert converters.load_lava("net.h5", "fixed_pt", sparse=True) == "network"
    assert calls == [("net.h5", (None,), {"sparse": "keep"}), ("net.h5", ("fixed_pt",), {"sparse": True})]
    with pytest.raises(TypeError):
        converters.load_lava("net.h5", steps=3)             # no catch-all: only precision and sparse


def test_doctests():
    for module in (converters, snntorch_bridge):
        result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
        assert result.failed == 0


def test_a_readout_of_the_dense_state_is_refused_and_nothing_is_written(tmp_path):
    """An LM whose readout reads the dense pre-reset state (a diagnostic) must not be written as a
    file that loads as a readout of the events: one NotImplementedError naming the missing support."""
    from snntorch_egru import EGRULanguageModel

    model = EGRULanguageModel(20, 6, [8, 6], tie_weights=True, readout_input="candidates")
    target = tmp_path / "model.h5"
    with pytest.raises(NotImplementedError, match="candidates"):
        converters.export(model, target)
    assert list(tmp_path.iterdir()) == []


def test_a_signed_model_round_trips_and_negative_events_survive(tmp_path):
    """The export refusal of issue 17 is gone: a signed-event LM is written with its polarity, loads
    as the signed neuron, and computes the same (negative events included)."""
    torch.manual_seed(3)
    model = EGRULanguageModel(20, 6, [8, 6], tie_weights=True, polarity="signed", threshold=0.05).eval()
    path = converters.export(model, tmp_path / "model.h5")
    assert [layer.polarity for layer in read_network(path).egru_layers] == ["signed", "signed"]
    loaded = converters.load_snntorch(path).eval()
    assert loaded.rnn.polarity == "signed"
    tokens = torch.randint(0, 20, (30, 2))
    with torch.no_grad():
        assert torch.equal(model(tokens)[0], loaded(tokens)[0])
        y, _ = model.rnn(model.embedding(tokens))
    assert (y < 0).any() and (y > 0).any()


def test_mixed_polarities_cannot_become_one_torch_model(tmp_path):
    spec = snntorch_bridge.to_spec(EGRU(3, [5, 4]))
    spec.layers[2].polarity = "signed"
    write_network(spec, tmp_path / "mixed.h5")
    with pytest.raises(FormatError, match="layer/2/neuron/polarity: is 'signed' but layer/1's is 'positive'"):
        converters.load_snntorch(tmp_path / "mixed.h5")


def test_models_pickled_before_the_signed_neuron_load_as_the_positive_neuron(tmp_path):
    import pickle

    from snntorch_egru import EGRULanguageModel

    model = EGRULanguageModel(20, 6, [8, 6], tie_weights=True)
    state = model.__getstate__()
    rnn_state = model.rnn.__getstate__()
    for key in ("polarity", "record_candidates", "last_candidates"):
        rnn_state.pop(key)
    state.pop("readout_input")
    old = EGRULanguageModel.__new__(EGRULanguageModel)
    old.__setstate__(state)
    rnn = type(model.rnn).__new__(type(model.rnn))
    rnn.__setstate__(rnn_state)
    old._modules["rnn"] = rnn
    again = pickle.loads(pickle.dumps(old))
    assert again.rnn.polarity == "positive" and again.readout_input == "events"
    converters.export(again, tmp_path / "old.h5")
