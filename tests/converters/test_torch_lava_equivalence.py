"""The Lava floating-point network equals the snnTorch model it was exported from.

Lava's floating-point models compute in float64; the snnTorch models are float32. Each
case is compared twice: against the snnTorch model cast to float64 (the same float32
weights, so any difference is the implementation: <= 1e-5 absolute), and against the
float32 model itself (<= 1e-5 absolute), on cases whose float64 trajectory keeps every
pre-reset state at least 1e-4 away from its threshold so that float32 rounding cannot
flip an event (found by a deterministic seed search, not by loosening the tolerance).
"""

import copy
import math

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import converters
from tests.reference import rollout, threshold_margin
from snntorch_egru import EGRU

pytestmark = pytest.mark.lava

STEPS = 200
MARGIN = 1e-4


def pruned_(tensor: torch.Tensor, fraction: float, generator: torch.Generator) -> None:
    """Zero exactly ceil(fraction * numel) randomly chosen entries."""
    count = math.ceil(fraction * tensor.numel())
    with torch.no_grad():
        tensor.view(-1)[torch.randperm(tensor.numel(), generator=generator)[:count]] = 0.0


#: thresholds drawn per unit; the signed neuron fires on both sides of zero, so higher ones keep it sparse
THRESHOLD_RANGE = {"positive": (0.08, 0.3), "signed": (0.2, 0.5)}


def egru_case(num_layers: int, prune: float, seed: int, polarity: str = "positive"):
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    model = EGRU(5, 12, num_layers=num_layers, threshold=0.15, polarity=polarity)
    with torch.no_grad():
        for k in range(num_layers):
            for name in ("weight_ih", "weight_hh"):
                weight = getattr(model, f"{name}_l{k}")
                # sparse inputs of deeper layers and pruned matrices need larger weights to stay active
                weight.mul_((2.0 if prune == 0 else 3.5) * (2.0 if name == "weight_ih" and k > 0 else 1.0))
                if prune:
                    pruned_(weight, prune, generator)
            getattr(model, f"threshold_l{k}").uniform_(*THRESHOLD_RANGE[polarity], generator=generator)
    x = torch.randn(STEPS, 5, generator=generator)
    return model, x


def as_float64(model):
    """A float64 twin of ``model`` with the same (float32-exact) values."""
    for module in model.modules():
        if isinstance(module, EGRU):
            module.last_events = []
    return copy.deepcopy(model).double()


def float64_margin(model: EGRU, x: torch.Tensor) -> float:
    double = as_float64(model)
    params = [double.layer_parameters(k) for k in range(double.num_layers)]
    zeros = [torch.zeros(1, h, dtype=torch.float64) for h in double.hidden_sizes]
    with torch.no_grad():
        out = rollout(x.double().unsqueeze(1), params, zeros, zeros, spike_fn=double.spike_grad,
                      polarity=double.polarity)
    return threshold_margin(out[4], [p.threshold for p in params], double.polarity)


def well_separated(num_layers: int, prune: float, polarity: str = "positive"):
    """First seed with 10-60% activity in every layer and every state MARGIN away from its threshold."""
    for seed in range(100):
        model, x = egru_case(num_layers, prune, seed, polarity)
        with torch.no_grad():
            model(x.unsqueeze(1))
        if all(0.10 <= rate <= 0.60 for rate in model.activity().per_layer) and float64_margin(model, x) > MARGIN:
            return model, x
    raise AssertionError("no seed gave 10-60% activity with states away from the thresholds")


@pytest.mark.parametrize("polarity", ["positive", "signed"])
@pytest.mark.parametrize("num_layers", [1, 3])
@pytest.mark.parametrize("prune", [0.0, 0.8])
def test_simulate_equals_snntorch_egru(tmp_path, num_layers, prune, polarity):
    import lava_egru

    model, x = well_separated(num_layers, prune, polarity)
    path = converters.export(model, tmp_path / "egru.h5")
    network = converters.load_lava(path)
    lava_out = lava_egru.simulate(network, x.numpy())

    with torch.no_grad():
        torch32, _ = model(x.unsqueeze(1))
        activity = model.activity()
        torch64, _ = as_float64(model)(x.double().unsqueeze(1))
    for k, rate in enumerate(activity.per_layer):
        assert 0.10 <= rate <= 0.60, f"layer {k} activity {rate:.3f} outside the 10-60% the test is meant for"
    if prune:
        for k in range(num_layers):
            zero = float((getattr(model, f"weight_hh_l{k}") == 0).float().mean())
            assert zero >= 0.8, f"weight_hh_l{k} only {zero:.2f} pruned"
    assert lava_out.shape == (STEPS, 12)
    np.testing.assert_allclose(lava_out, torch64[:, 0].numpy(), atol=1e-5, rtol=0)
    np.testing.assert_allclose(lava_out, torch32[:, 0].double().numpy(), atol=1e-5, rtol=0)
    assert np.array_equal(lava_out != 0, torch32[:, 0].numpy() != 0), "event patterns differ"
    assert ((lava_out < 0).any() and (lava_out > 0).any()) == (polarity == "signed"), "signs of the events"


@pytest.fixture(scope="module")
def small_ptb_language_model(request):
    from egru.lm.data import load_corpus
    from egru.lm.trainer import LMConfig, train_language_model

    data_dir = request.getfixturevalue("shared_data_dir") / "ptb"
    corpus = load_corpus(data_dir)
    config = LMConfig(embedding_size=32, hidden_sizes=(48, 32), tie_weights=True, epochs=1, batch_size=32,
                      bptt=35, lr=3e-3, max_train_tokens=60_000, seed=0)
    model, _ = train_language_model(config, corpus.train, len(corpus.vocabulary))
    return model.eval(), corpus


def test_ptb_language_model_runs_identically_in_lava(tmp_path, small_ptb_language_model):
    import lava_egru
    from egru.lm.trainer import evaluate

    model, corpus = small_ptb_language_model
    tokens = corpus.test[:501]
    network = converters.load_lava(converters.export(model, tmp_path / "lm.h5"))
    lava_logits = lava_egru.simulate(network, tokens[:-1].numpy())
    assert lava_logits.shape == (500, len(corpus.vocabulary))

    with torch.no_grad():
        torch_logits, _ = as_float64(model)(tokens[:-1].view(-1, 1))
    np.testing.assert_allclose(lava_logits, torch_logits[:, 0].numpy(), rtol=1e-4, atol=1e-6)

    targets = tokens[1:].numpy()
    shifted = lava_logits - lava_logits.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    lava_perplexity = math.exp(-log_probs[np.arange(500), targets].mean())
    torch_perplexity = evaluate(model, tokens).perplexity
    assert f"{lava_perplexity:.4g}" == f"{torch_perplexity:.4g}", (lava_perplexity, torch_perplexity)
    assert model.activity().pooled < 0.9


@pytest.mark.parametrize("polarity", ["positive", "signed"])
def test_torch_to_file_to_lava_to_file_is_lossless(tmp_path, polarity):
    from egru_format import read_network

    model, _ = egru_case(2, 0.85, seed=0, polarity=polarity)
    first = converters.export(model, tmp_path / "from_torch.h5")
    network = converters.load_lava(first)
    second = converters.export(network, tmp_path / "from_lava.h5")
    a, b = read_network(first), read_network(second)
    assert a.layers == b.layers, "layers differ after the Lava round trip"
    reloaded = converters.load_snntorch(second)
    for name, tensor in model.state_dict().items():
        assert torch.equal(reloaded.state_dict()[name], tensor), name


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    sizes=st.lists(st.integers(1, 12), min_size=1, max_size=3),
    input_size=st.integers(1, 6),
    sparsity=st.sampled_from([0.0, 0.5, 0.8, 0.95]),
    bias=st.booleans(),
    language_model=st.booleans(),
    polarity=st.sampled_from(["positive", "signed"]),
    seed=st.integers(0, 2**16),
)
def test_round_trip_through_lava_is_lossless_property(tmp_path, sizes, input_size, sparsity, bias, language_model,
                                                      polarity, seed):
    from egru_format import read_network
    from snntorch_egru import EGRULanguageModel

    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    if language_model:
        model = EGRULanguageModel(input_size + 3, input_size, sizes, tie_weights=False, polarity=polarity)
        matrices = [model.embedding.weight, model.readout.weight]
        rnn = model.rnn
    else:
        model = rnn = EGRU(input_size, sizes, bias=bias, polarity=polarity)
        matrices = []
    matrices += [getattr(rnn, f"{name}_l{k}") for k in range(rnn.num_layers) for name in ("weight_ih", "weight_hh")]
    for matrix in matrices:
        pruned_(matrix, sparsity, generator)
    first = converters.export(model, tmp_path / f"a{seed}.h5")
    second = converters.export(converters.load_lava(first), tmp_path / f"b{seed}.h5")
    assert read_network(first).layers == read_network(second).layers
    assert {layer.polarity for layer in read_network(second).egru_layers} == {polarity}
    reloaded = converters.load_snntorch(second)
    for name, tensor in model.state_dict().items():
        assert torch.equal(reloaded.state_dict()[name], tensor), name
