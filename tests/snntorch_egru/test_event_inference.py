"""Event-driven streaming inference: equal to the dense forward, MACs equal to opcount's."""

import numpy as np
import pytest
import torch

from snntorch_egru import EGRU, EGRULanguageModel
from snntorch_egru.event_inference import CSCMatrix, EventDrivenEGRU, c_backend_available
from snntorch_egru.opcount import count_operations
from snntorch_egru.pruning import Pruner
from tests.conftest import REPO_ROOT

# Both backends always run: the test environments have a C compiler, and a kernel that
# fails to build must fail here rather than silently fall back to numpy.
BACKENDS = ["numpy", "c"]


def test_c_backend_builds_here():
    assert c_backend_available(), "the C kernel could not be built (is a C compiler `cc` on PATH?)"


def check_against_dense(model, inputs, engine, atol):
    outputs, per_step = engine.run(inputs, return_macs=True)
    with torch.no_grad():
        dense, _ = model(inputs.unsqueeze(1) if isinstance(model, EGRULanguageModel) else inputs)
    dense = dense.reshape(outputs.shape).numpy()
    assert np.abs(outputs - dense).max() <= atol
    counts = count_operations(model, inputs)
    np.testing.assert_array_equal(per_step, counts.per_step[:, 0])
    assert engine.macs_by_matmul == {m.name: int(m.per_step.sum()) for m in counts.matmuls}
    return counts


@pytest.mark.parametrize("polarity", ["positive", "signed"])
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("sparsity", [0.0, 0.9])
def test_stacked_egru_float32_600_steps(backend, sparsity, polarity):
    torch.manual_seed(0)
    rnn = EGRU(12, [48, 32], threshold=0.15, polarity=polarity)
    if sparsity:
        Pruner(rnn, ["input", "recurrent"], scope="matrix").prune(sparsity)
    x = torch.randn(600, 12)
    x[::7, :3] = 0.0  # some steps with zero inputs: layer 0 switches between its dense and sparse paths
    engine = EventDrivenEGRU.from_model(rnn, backend=backend)
    assert engine.backend == backend
    counts = check_against_dense(rnn, x, engine, atol=1e-5)
    assert 0.0 < counts.activity_sparsity["pooled"] < 1.0  # events happen, and not always
    assert engine.steps == 600 and engine.macs == int(counts.per_step.sum())
    engine.reset()
    outputs = engine.run(x)
    assert bool((outputs < 0).any()) == (polarity == "signed")      # negative events: the signed neuron only


@pytest.mark.parametrize("polarity", ["positive", "signed"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_float64_model(backend, polarity):
    torch.manual_seed(1)
    rnn = EGRU(6, [20, 20], threshold=0.1, dtype=torch.float64, polarity=polarity)
    Pruner(rnn, ["input", "recurrent"]).prune(0.8)
    engine = EventDrivenEGRU.from_model(rnn, backend=backend)
    check_against_dense(rnn, torch.randn(500, 6, dtype=torch.float64), engine, atol=1e-10)


@pytest.mark.parametrize("polarity", ["positive", "signed"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_language_model_tied_and_pruned(backend, polarity):
    torch.manual_seed(2)
    lm = EGRULanguageModel(300, 24, [40, 24], tie_weights=True, threshold=0.05, polarity=polarity)
    Pruner(lm, ["input", "recurrent", "embedding"], scope="matrix").prune(0.85)
    tokens = torch.randint(0, 300, (520,))
    engine = EventDrivenEGRU.from_model(lm, backend=backend)
    counts = check_against_dense(lm, tokens, engine, atol=1e-5)
    assert "readout.weight" in engine.macs_by_matmul
    assert counts.activity_sparsity["pooled"] > 0.3


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("options", [{"reset_mechanism": "zero"}, {"reset_mechanism": "none"}, {"events": False},
                                     {"bias": False}, {"polarity": "signed", "reset_mechanism": "zero"},
                                     {"polarity": "signed", "reset_mechanism": "none"},
                                     {"polarity": "signed", "events": False}])
def test_reset_mechanisms_and_plain_gru(backend, options):
    torch.manual_seed(3)
    rnn = EGRU(5, [16, 8], threshold=0.2, **options)
    engine = EventDrivenEGRU.from_model(rnn, backend=backend)
    check_against_dense(rnn, torch.randn(200, 5), engine, atol=1e-5)


@pytest.mark.parametrize("backend", BACKENDS)
def test_sparse_input_vectors_touch_only_nonzero_columns(backend):
    torch.manual_seed(4)
    rnn = EGRU(10, 16, threshold=0.1)
    x = torch.randn(150, 10) * (torch.rand(150, 10) < 0.3)
    engine = EventDrivenEGRU.from_model(rnn, backend=backend)
    counts = check_against_dense(rnn, x, engine, atol=1e-5)
    ih = next(m for m in counts.matmuls if m.name == "weight_ih_l0")
    assert ih.input_density < 0.5


@pytest.mark.parametrize("backend", BACKENDS)
def test_streaming_state_and_reset(backend):
    torch.manual_seed(5)
    rnn = EGRU(4, 12, num_layers=2, threshold=0.1)
    x = torch.randn(80, 4)
    y0, c0 = torch.rand(2, 12) * 0.5, torch.rand(2, 12) * 0.2
    with torch.no_grad():
        dense, (y_n, c_n) = rnn(x, (y0, c0))
    engine = EventDrivenEGRU.from_model(rnn, backend=backend)
    engine.reset((y0, c0))
    first = [engine.step(x_t) for x_t in x[:40]]  # torch vectors, one per call
    rest = engine.run(x[40:].numpy())
    np.testing.assert_allclose(np.concatenate([np.stack(first), rest]), dense.numpy(), atol=1e-5, rtol=0)
    ys, cs = engine.state
    np.testing.assert_allclose(np.stack(ys), y_n.numpy(), atol=1e-5, rtol=0)
    np.testing.assert_allclose(np.stack(cs), c_n.numpy(), atol=1e-5, rtol=0)
    engine.reset()
    assert engine.macs == 0 and engine.steps == 0
    np.testing.assert_allclose(engine.run(x), rnn(x)[0].detach().numpy(), atol=1e-5, rtol=0)


def test_csc_storage():
    w = torch.tensor([[0.0, 1.0, 0.0], [2.0, 0.0, 0.0], [3.0, 4.0, 0.0]])
    csc = CSCMatrix(w)
    np.testing.assert_array_equal(csc.indptr, [0, 2, 4, 4])
    np.testing.assert_array_equal(csc.rows, [1, 2, 0, 2])
    np.testing.assert_array_equal(csc.values, [2.0, 3.0, 1.0, 4.0])
    np.testing.assert_array_equal(csc.toarray(), w.numpy())
    out = np.zeros(3, np.float32)
    assert csc.matvec_into(np.array([0.0, 2.0, 5.0], np.float32), out) == 2
    np.testing.assert_array_equal(out, [2.0, 0.0, 8.0])


def test_bad_inputs():
    engine = EventDrivenEGRU.from_model(EGRU(3, 4), backend="numpy")
    with pytest.raises(ValueError, match="shape"):
        engine.step(np.zeros(4))
    lm_engine = EventDrivenEGRU.from_model(EGRULanguageModel(10, 4, [4]), backend="numpy")
    with pytest.raises(ValueError, match="out of range"):
        lm_engine.step(10)
    with pytest.raises(TypeError):
        EventDrivenEGRU.from_model(torch.nn.GRU(3, 4))
    with pytest.raises(ValueError, match="backend"):
        EventDrivenEGRU.from_model(EGRU(3, 4), backend="cuda")


@pytest.mark.parametrize("backend", BACKENDS)
def test_int32_indices_when_a_dimension_exceeds_uint16(backend):
    torch.manual_seed(6)
    lm = EGRULanguageModel(70000, 4, [6, 4], tie_weights=True, threshold=0.02)
    Pruner(lm, ["embedding", "recurrent"], scope="matrix").prune(0.5)
    engine = EventDrivenEGRU.from_model(lm, backend=backend)
    assert engine.readout.rows.dtype == np.int32
    check_against_dense(lm, torch.randint(0, 70000, (60,)), engine, atol=1e-5)
    small = EventDrivenEGRU.from_model(EGRU(3, 5), backend=backend)
    assert small.layers[0].hh.rows.dtype == np.uint16


def test_numpy_fallback_without_a_compiler(tmp_path):
    """No C compiler: "auto" falls back to numpy, "c" says why it is unavailable."""
    import os
    import subprocess
    import sys

    code = ("from snntorch_egru import EGRU\n"
            "from snntorch_egru.event_inference import EventDrivenEGRU\n"
            "print(EventDrivenEGRU.from_model(EGRU(3, 4)).backend)\n"
            "try:\n    EventDrivenEGRU.from_model(EGRU(3, 4), backend='c')\n"
            "except RuntimeError as exc:\n"
            "    print('unavailable' if 'C backend is not available' in str(exc) else exc)\n")
    env = {**os.environ, "CC": str(tmp_path / "no-such-cc"), "SNNTORCH_EGRU_CACHE": str(tmp_path / "cache")}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["numpy", "unavailable"]


def test_kernel_is_a_package_file_read_through_importlib_resources():
    """The C kernel ships as snntorch_egru/event_step.c (package data) and is what gets compiled."""
    from importlib import resources

    from snntorch_egru import event_inference

    kernel = resources.files("snntorch_egru").joinpath("event_step.c")
    assert kernel.is_file()
    text = kernel.read_text(encoding="utf-8")
    assert "NAME(egru_layer_step)" in text and "NAME(network_step)" in text
    assert event_inference.kernel_source_text() == text
    assert event_inference._c_source().count(text) == 4   # float/double x int32/uint16 index instantiations


def test_pyproject_declares_the_kernel_as_package_data():
    """A wheel carries event_step.c: pyproject.toml lists it as package data of snntorch_egru."""
    import ast
    import re
    from pathlib import Path

    text = (REPO_ROOT / "pyproject.toml").read_text()
    section = text.split("[tool.setuptools.package-data]", 1)[1].split("\n[", 1)[0]
    patterns = ast.literal_eval(re.search(r"^snntorch_egru\s*=\s*(\[.*?\])", section, re.M | re.S).group(1))
    assert any(Path("event_step.c").match(p) for p in patterns)
