"""Event-driven streaming inference: equal to the dense forward, MACs equal to opcount's.

Both neurons run through every check: the reference ``positive`` one and the ``signed`` one
(events where |c~| > theta, y = c~ of either sign, the subtractive reset by sign(c~) theta).
"""

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
POLARITIES = ["positive", "signed"]


def test_c_backend_builds_here():
    assert c_backend_available(), "the C kernel could not be built (is a C compiler `cc` on PATH?)"


def stream(engine, inputs):
    """Step ``engine`` through ``inputs`` one call at a time: the outputs [T, ...], the MACs of
    every step [T] and each layer's graded output y [T, H_k] (from ``engine.state``)."""
    outputs, macs, ys = [], [], []
    for x in inputs:
        outputs.append(engine.step(x))
        macs.append(engine.last_macs)
        ys.append(engine.state[0])
    return np.stack(outputs), np.asarray(macs, np.int64), [np.stack(layer) for layer in zip(*ys)]


def check_against_dense(model, inputs, engine, atol):
    """The engine (fresh) against the dense torch forward on ``inputs``: outputs to ``atol``,
    every layer's events (where y != 0) identical, the sign of the events as the neuron
    allows (negative ones occur for the signed neuron, never for the positive one), the MACs
    of every step and of every matmul equal to opcount's. Returns opcount's counts."""
    outputs, per_step, ys = stream(engine, inputs)
    rnn = model.rnn if isinstance(model, EGRULanguageModel) else model
    with torch.no_grad():
        dense, _ = model(inputs.unsqueeze(1) if isinstance(model, EGRULanguageModel) else inputs)
    dense = dense.reshape(outputs.shape).numpy()
    assert np.abs(outputs - dense).max() <= atol
    if rnn.events:
        for k, (y, events) in enumerate(zip(ys, rnn.last_events)):
            np.testing.assert_array_equal(y != 0, events.reshape(y.shape).numpy() != 0, err_msg=f"layer {k}")
        negative = sum(int((y < 0).sum()) for y in ys)
        if rnn.polarity == "signed":
            assert negative > 0, "no negative event: the signed neuron's sign handling went untested"
        else:
            assert negative == 0
    counts = count_operations(model, inputs)
    np.testing.assert_array_equal(per_step, counts.per_step[:, 0])
    assert engine.macs_by_matmul == {m.name: int(m.per_step.sum()) for m in counts.matmuls}
    assert engine.steps == len(inputs) and engine.macs == round(counts.effective * len(inputs))
    return counts


@pytest.mark.parametrize("polarity", POLARITIES)
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
    # run() is the same stepping: after reset() it repeats a fresh engine's stream exactly
    streamed, macs, _ = stream(EventDrivenEGRU.from_model(rnn, backend=backend), x)
    engine.reset()
    outputs, per_step = engine.run(x, return_macs=True)
    np.testing.assert_array_equal(outputs, streamed)
    np.testing.assert_array_equal(per_step, macs)
    assert engine.macs == int(counts.per_step.sum())


@pytest.mark.parametrize("polarity", POLARITIES)
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("sparsity", [0.0, 0.8])
def test_float64_model(backend, sparsity, polarity):
    torch.manual_seed(1)
    rnn = EGRU(6, [20, 20], threshold=0.1, dtype=torch.float64, polarity=polarity)
    if sparsity:
        Pruner(rnn, ["input", "recurrent"]).prune(sparsity)
    engine = EventDrivenEGRU.from_model(rnn, backend=backend)
    check_against_dense(rnn, torch.randn(500, 6, dtype=torch.float64), engine, atol=1e-10)


@pytest.mark.parametrize("polarity", POLARITIES)
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("sparsity", [0.0, 0.85])
def test_language_model_tied(backend, sparsity, polarity):
    torch.manual_seed(2)
    lm = EGRULanguageModel(300, 24, [40, 24], tie_weights=True, threshold=0.05, polarity=polarity)
    if sparsity:
        Pruner(lm, ["input", "recurrent", "embedding"], scope="matrix").prune(sparsity)
    tokens = torch.randint(0, 300, (520,))
    engine = EventDrivenEGRU.from_model(lm, backend=backend)
    counts = check_against_dense(lm, tokens, engine, atol=1e-5)
    assert "readout.weight" in engine.macs_by_matmul
    assert counts.activity_sparsity["pooled"] > 0.3


@pytest.mark.parametrize("polarity", POLARITIES)
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("options", [{"reset_mechanism": "subtract"}, {"reset_mechanism": "zero"},
                                     {"reset_mechanism": "none"}, {"events": False}, {"bias": False}])
def test_reset_mechanisms_and_plain_gru(backend, options, polarity):
    torch.manual_seed(3)
    rnn = EGRU(5, [16, 8], threshold=0.2, polarity=polarity, **options)
    engine = EventDrivenEGRU.from_model(rnn, backend=backend)
    check_against_dense(rnn, torch.randn(200, 5), engine, atol=1e-5)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("reset_mechanism", ["subtract", "zero", "none"])
@pytest.mark.parametrize("polarity", POLARITIES)
@pytest.mark.parametrize("backend", BACKENDS)
def test_one_step_at_the_thresholds_of_both_signs(backend, polarity, reset_mechanism, dtype):
    """The neuron's case analysis, exactly: with the update gate saturated (z = 1 exactly) and
    no weights, c~ = c_{t-1}, so states set at +-theta (strict threshold: silent), +-1.5 theta
    and +-0.5 theta give the event and reset rules directly."""
    theta = 0.25
    rnn = EGRU(2, 6, threshold=theta, polarity=polarity, reset_mechanism=reset_mechanism, dtype=dtype)
    with torch.no_grad():
        for name in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"):
            getattr(rnn, name).zero_()
        rnn.bias_ih_l0[6:12] = 100.0                        # z = sigmoid(100) = 1 in float32 and float64
    c0 = torch.tensor([theta, -theta, 1.5 * theta, -1.5 * theta, 0.5 * theta, -0.5 * theta], dtype=dtype)
    fired = torch.tensor([False, False, True, polarity == "signed", False, False])
    expected_y = torch.where(fired, c0, torch.zeros_like(c0))
    expected_c = {"subtract": c0 - fired * torch.sign(c0) * theta, "zero": torch.where(fired, 0.0, c0),
                  "none": c0}[reset_mechanism]
    x = torch.zeros(1, 2, dtype=dtype)
    engine = EventDrivenEGRU.from_model(rnn, backend=backend)
    engine.reset((torch.zeros(1, 6, dtype=dtype), c0[None]))
    y = engine.step(x[0])
    ys, cs = engine.state
    np.testing.assert_array_equal(y, expected_y.numpy())
    np.testing.assert_array_equal(cs[0], expected_c.numpy())
    with torch.no_grad():                                   # the dense forward agrees, bit for bit
        dense, (_, c_n) = rnn(x, (torch.zeros(1, 6, dtype=dtype), c0[None]))
    np.testing.assert_array_equal(dense[0].numpy(), y)
    np.testing.assert_array_equal(c_n[0].numpy(), cs[0])
    assert engine.last_macs == 0                            # no weights: nothing to multiply
    engine.step(x[0])                                       # the events are the next step's columns
    assert engine.last_macs == 0


@pytest.mark.parametrize("polarity", POLARITIES)
@pytest.mark.parametrize("backend", BACKENDS)
def test_negative_events_are_read_as_columns(backend, polarity):
    """A unit that fired with a negative event costs its column of W_hh (and of the next
    layer's W_ih) like a positive event: the MACs follow y != 0, not y > 0 (checked here
    against the stored column counts, independently of opcount)."""
    torch.manual_seed(7)
    rnn = EGRU(3, [8, 5], threshold=0.1, polarity=polarity)
    Pruner(rnn, ["input", "recurrent"], scope="matrix").prune(0.5)
    engine = EventDrivenEGRU.from_model(rnn, backend=backend)
    hh, ih1 = engine.layers[0].hh, engine.layers[1].ih
    totals, negative_columns = engine.macs_by_matmul, 0
    for x in torch.randn(80, 3):
        previous = engine.state[0][0]
        engine.step(x)
        now = engine.macs_by_matmul
        assert now["weight_hh_l0"] - totals["weight_hh_l0"] == hh.col_nnz[previous != 0].sum()
        assert now["weight_ih_l1"] - totals["weight_ih_l1"] == ih1.col_nnz[engine.state[0][0] != 0].sum()
        negative_columns += int(hh.col_nnz[previous < 0].sum())
        totals = now
    assert (negative_columns > 0) == (polarity == "signed")


@pytest.mark.parametrize("backend", BACKENDS)
def test_sparse_input_vectors_touch_only_nonzero_columns(backend):
    torch.manual_seed(4)
    rnn = EGRU(10, 16, threshold=0.1)
    x = torch.randn(150, 10) * (torch.rand(150, 10) < 0.3)
    engine = EventDrivenEGRU.from_model(rnn, backend=backend)
    counts = check_against_dense(rnn, x, engine, atol=1e-5)
    ih = next(m for m in counts.matmuls if m.name == "weight_ih_l0")
    assert ih.input_density < 0.5


@pytest.mark.parametrize("polarity", POLARITIES)
@pytest.mark.parametrize("backend", BACKENDS)
def test_streaming_state_and_reset(backend, polarity):
    torch.manual_seed(5)
    rnn = EGRU(4, 12, num_layers=2, threshold=0.1, polarity=polarity)
    x = torch.randn(80, 4)
    y0, c0 = torch.rand(2, 12) * 0.5, torch.rand(2, 12) * 0.2
    if polarity == "signed":                                # a signed state: events and c of either sign
        y0, c0 = y0 * torch.sign(torch.randn(2, 12)), c0 * torch.sign(torch.randn(2, 12))
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


def test_the_compiled_kernel_cache_follows_the_kernel_source(tmp_path, monkeypatch):
    """The cached library's name carries a hash of the compiled source: an edited event_step.c
    (here: one more comment line) compiles into a new library instead of loading a stale one."""
    from snntorch_egru import event_inference

    monkeypatch.setenv("SNNTORCH_EGRU_CACHE", str(tmp_path))
    monkeypatch.setenv("SNNTORCH_EGRU_CFLAGS", "-O0")      # compiled twice here: quickly
    event_inference._build_library()
    first = {p.name for p in tmp_path.glob("event_kernel_*.so")}
    event_inference._build_library()                      # same source: the cached library, no new file
    assert {p.name for p in tmp_path.glob("event_kernel_*.so")} == first and len(first) == 1
    text = event_inference.kernel_source_text()
    monkeypatch.setattr(event_inference, "kernel_source_text", lambda: text + "\n/* edited */\n")
    lib = event_inference._build_library()
    libraries = {p.name for p in tmp_path.glob("event_kernel_*.so")}
    assert len(libraries) == 2 and first < libraries
    assert lib.network_step_f32_u16.restype is not None   # the new one loads, with its signatures
