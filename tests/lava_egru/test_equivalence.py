"""The Lava float EGRU network equals a plain numpy roll-out of the equations.

Networks go spec -> format file -> :class:`lava_egru.EGRUNetwork` ->
:func:`lava_egru.simulate`, and are compared with :mod:`numpy_reference` over 200+
steps: 1 and 3 EGRU layers, dense weights (Lava ``Dense``) and 85%-pruned weights
stored as CSR (Lava ``Sparse``), a token language model, and the other reset
mechanisms. Tolerance: 1e-5 absolute (both sides compute in float64; the observed
error is ~1e-15). Each layer's activity is measured and must lie in [10%, 60%], so
that events, resets and silent units are all exercised. Event flips near the
threshold are ruled out, not tolerated: the reference's smallest |c~ - theta| must
exceed 1e-9, far above float64 rounding.
"""

from __future__ import annotations

import importlib

import numpy as np
import pytest
from egru_format import write_network
from tests.numpy_reference import random_language_model, random_vector_network, rollout

pytestmark = pytest.mark.lava

TOLERANCE = 1e-5
MIN_MARGIN = 1e-9
ACTIVITY_RANGE = (0.10, 0.60)
STEPS = 200


@pytest.fixture(scope="module")
def lava_egru():
    return importlib.import_module("lava_egru")


def build(lava_egru, spec, tmp_path, name="net.h5"):
    return lava_egru.EGRUNetwork(write_network(spec, tmp_path / name))


def check_activity_and_margin(spec, reference):
    for k, layer in enumerate(spec.layers):
        if layer.type == "egru" and layer.events:
            low, high = ACTIVITY_RANGE
            assert low <= reference.activity(k) <= high, f"layer/{k} activity {reference.activity(k):.3f}"
    assert reference.threshold_margin(spec) > MIN_MARGIN


@pytest.mark.parametrize("hidden_sizes", [[16], [16, 12, 10]], ids=["1-layer", "3-layer"])
@pytest.mark.parametrize("density", [1.0, 0.15], ids=["dense", "pruned85"])
def test_vector_network_equals_numpy_rollout(lava_egru, tmp_path, hidden_sizes, density):
    spec = random_vector_network(2, 6, hidden_sizes, density=density)
    x = np.random.default_rng(102).standard_normal((STEPS, 6))
    reference = rollout(spec, x)
    check_activity_and_margin(spec, reference)
    net = build(lava_egru, spec, tmp_path)
    assert set(net.sparse_weights.values()) == {density < 1}
    y = lava_egru.simulate(net, x)
    assert y.shape == (STEPS, hidden_sizes[-1])
    np.testing.assert_allclose(y, reference.last, rtol=0, atol=TOLERANCE)


def test_token_language_model_equals_numpy_rollout(lava_egru, tmp_path):
    spec = random_language_model(0, 20, 8, [16, 12], density=0.15)
    tokens = np.random.default_rng(0).integers(0, 20, STEPS)
    reference = rollout(spec, tokens)
    check_activity_and_margin(spec, reference)
    net = build(lava_egru, spec, tmp_path)
    logits = lava_egru.simulate(net, tokens)
    assert logits.shape == (STEPS, 20)
    np.testing.assert_allclose(logits, reference.last, rtol=0, atol=TOLERANCE)


@pytest.mark.parametrize(
    "settings", [{"reset_mechanism": "zero"}, {"reset_mechanism": "none"}, {"events": False}],
    ids=["reset-zero", "reset-none", "plain-gru"],
)
def test_other_neuron_settings_equal_numpy_rollout(lava_egru, tmp_path, settings):
    spec = random_vector_network(2, 6, [16], **settings)
    x = np.random.default_rng(102).standard_normal((60, 6))
    reference = rollout(spec, x)
    if settings.get("events", True):
        check_activity_and_margin(spec, reference)
    y = lava_egru.simulate(build(lava_egru, spec, tmp_path), x)
    np.testing.assert_allclose(y, reference.last, rtol=0, atol=TOLERANCE)


def test_simulate_twice_gives_identical_outputs(lava_egru, tmp_path):
    """simulate runs the network on a fresh runtime from the zero state: it can be simulated again."""
    spec = random_vector_network(2, 6, [16])
    net = build(lava_egru, spec, tmp_path)
    x = np.random.default_rng(1).standard_normal((20, 6))
    np.testing.assert_array_equal(lava_egru.simulate(net, x), lava_egru.simulate(net, x))
