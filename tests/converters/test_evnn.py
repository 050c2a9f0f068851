"""converters.evnn: the reference implementation's language-model checkpoints in and out.

The oracle is written here from the reference's equations and layout (not from this library's
layer): ``kernel`` [I, 3H] / ``recurrent_kernel`` [H, 3H] applied as ``x @ kernel``, the 3H axis
in blocks z, r, n, the reset gate on the recurrent term after its bias, z weighing the old state,
events where c > thr (thr clamped into [0, 1]), y = c there, c reduced by thr; the language model
embedding -> layers (each reading the previous layer's y) -> decoder, batch 1, segments of bptt
with y carried and c restarted at 0, loss summed and divided by the number of tokens (the
reference's eval.py).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
import yaml

from converters.evnn import (EVNN_GATE_ORDER, THRESHOLD_FLOOR, EvnnImportError, EvnnImportWarning, from_evnn,
                             read_evnn_config, to_evnn_state_dict, write_evnn_run)
from egru.lm.trainer import evaluate
from snntorch_egru import EGRULanguageModel, RNNLanguageModel
from snntorch_egru.surrogate import triangle

V, E, H = 30, 6, 10


# --------------------------------------------------------------------------- the oracle
def oracle_egru_segment(state, x, y0, layer, return_c=False):
    """One reference EGRU layer over x [T, I] (float64), from y0 [H] with c0 = 0; returns y [T, H]
    (and the last c [H] with ``return_c``)."""
    p = f"rnns.{layer}."
    kernel, recurrent = state[p + "kernel"].double(), state[p + "recurrent_kernel"].double()
    bias, recurrent_bias = state[p + "bias"].double(), state[p + "recurrent_bias"].double()
    # the reference's parameters are float32: its sigmoid(thr_reparam) is a float32 value
    thr = state[p + "thr"].double().clamp(0, 1) if p + "thr" in state else torch.sigmoid(state[p + "thr_reparam"]).double()
    hidden = recurrent.shape[0]
    y, c, out = y0, torch.zeros(hidden, dtype=torch.float64), []
    for x_t in x:
        wx, rh = x_t @ kernel + bias, y @ recurrent + recurrent_bias
        z = torch.sigmoid(wx[:hidden] + rh[:hidden])
        r = torch.sigmoid(wx[hidden:2 * hidden] + rh[hidden:2 * hidden])
        n = torch.tanh(wx[2 * hidden:] + r * rh[2 * hidden:])
        c = z * c + (1 - z) * n
        event = (c > thr).double()
        y = event * c
        c = c - event * thr
        out.append(y)
    return (torch.stack(out), c) if return_c else torch.stack(out)


def oracle_logits(state, tokens, bptt):
    """The reference language model's logits over a 1-D token stream at batch 1, segments of bptt."""
    layers = sorted({int(k.split(".")[1]) for k in state if k.startswith("rnns.")})
    ys = [torch.zeros(state[f"rnns.{l}.recurrent_kernel"].shape[0], dtype=torch.float64) for l in layers]
    embedding = state["embeddings.weight"].double()
    decoder, decoder_bias = state["decoder.decoder.weight"].double(), state["decoder.decoder.bias"].double()
    out = []
    for start in range(0, len(tokens), bptt):
        x = embedding[tokens[start:start + bptt]]
        for l in layers:
            x = oracle_egru_segment(state, x, ys[l], l)
            ys[l] = x[-1]
        out.append(x @ decoder.t() + decoder_bias)
    return torch.cat(out)


def oracle_test_loss(state, tokens, bptt):
    """The reference's eval.py: sum over segments of (tokens in segment x mean CE) / len(tokens)."""
    logits = oracle_logits(state, tokens[:-1], bptt)
    total = torch.nn.functional.cross_entropy(logits, tokens[1:], reduction="sum").item()
    return total / len(tokens)


def reference_checkpoint(seed=0, layers=2, thr=None):
    """A state dict in the reference's layout, written here from random tensors (not from this library)."""
    g = torch.Generator().manual_seed(seed)
    sizes = [H] * (layers - 1) + [E]
    state, inputs = {"embeddings.weight": torch.rand(V, E, generator=g) * 0.2 - 0.1}, E
    for l, hidden in enumerate(sizes):
        p = f"rnns.{l}."
        bound = 1 / math.sqrt(hidden)
        state[p + "_max_norm"] = torch.tensor([-1.0])
        state[p + "kernel"] = (torch.rand(inputs, 3 * hidden, generator=g) * 2 - 1) * 2 * bound
        state[p + "recurrent_kernel"] = (torch.rand(hidden, 3 * hidden, generator=g) * 2 - 1) * 2 * bound
        state[p + "bias"] = (torch.rand(3 * hidden, generator=g) * 2 - 1) * bound
        state[p + "recurrent_bias"] = (torch.rand(3 * hidden, generator=g) * 2 - 1) * bound
        state[p + "dampening_factor"] = torch.tensor([3.6])
        state[p + "pseudo_derivative_support"] = torch.tensor([3.6])
        state[p + "thr"] = torch.rand(hidden, generator=g) * 0.1 if thr is None else thr(hidden)
        inputs = hidden
    state["decoder.decoder.weight"] = state["embeddings.weight"]
    state["decoder.decoder.bias"] = torch.rand(V, generator=g) * 0.1
    return state


def write_run(directory, state, rnn_type="egru", **config):
    directory.mkdir(parents=True, exist_ok=True)
    values = {"rnn_type": rnn_type, "layers": 2, "hidden_dim": H, "emb_dim": E, "projection": False, "bptt": 7,
              "pseudo_derivative_width": 3.6, "num_parameters": 1, **config}
    (directory / "config.yaml").write_text(yaml.safe_dump(values))
    (directory / "checkpoints").mkdir(exist_ok=True)
    torch.save(state, directory / "checkpoints" / f"{rnn_type.upper()}_best_model.cpt")
    return directory


def stream(n=120, seed=3):
    return torch.randint(0, V, (n,), generator=torch.Generator().manual_seed(seed))


# --------------------------------------------------------------------------- equality
def test_an_imported_reference_checkpoint_computes_what_the_reference_computes(tmp_path):
    state = reference_checkpoint()
    model = from_evnn(write_run(tmp_path / "run", state)).double()
    tokens = stream()
    with torch.no_grad():
        ours = model(tokens.view(-1, 1))[0].view(-1, V)
    reference = oracle_logits(state, tokens, bptt=len(tokens))      # one segment: c carried throughout
    assert (ours - reference).abs().max().item() < 1e-12
    events = [e.view(-1) for e in model.rnn.last_events]
    assert 0.05 < float(sum((e != 0).sum() for e in events)) / sum(e.numel() for e in events) < 0.95


def test_every_layer_s_outputs_and_final_state_equal_the_reference_layer(tmp_path):
    state = reference_checkpoint(seed=6)
    model = from_evnn(write_run(tmp_path / "run", state)).double()
    tokens = stream(80, seed=7)
    with torch.no_grad():
        _, (ys, cs) = model(tokens.view(-1, 1))
    events = [e[:, 0] for e in model.rnn.last_events]
    x = state["embeddings.weight"].double()[tokens]
    for layer in range(2):
        hidden = state[f"rnns.{layer}.recurrent_kernel"].shape[0]
        x, c = oracle_egru_segment(state, x, torch.zeros(hidden, dtype=torch.float64), layer, return_c=True)
        assert torch.equal(events[layer] != 0, x != 0), layer                 # the same events
        assert (ys[layer][0] - x[-1]).abs().max().item() < 1e-12               # final y
        assert (cs[layer][0] - c).abs().max().item() < 1e-12                   # final c
        assert 0 < int((x != 0).sum()) < x.numel()


def test_the_reference_carry_reproduces_the_reference_test_perplexity(tmp_path):
    state = reference_checkpoint(seed=1)
    model, tokens = from_evnn(write_run(tmp_path / "run", state)).double(), stream(200, seed=4)
    ours = evaluate(model, tokens, 7, carry="reference")
    reference = oracle_test_loss(state, tokens, bptt=7)
    # the reference divides by len(tokens), this library by the predicted tokens len(tokens) - 1
    assert ours.loss * (len(tokens) - 1) / len(tokens) == pytest.approx(reference, rel=1e-12)
    exact = evaluate(model, tokens, 7)
    assert abs(exact.loss - ours.loss) > 1e-6         # restarting c per segment is not the exact carry


def test_thresholds_of_zero_and_above_one_are_named_and_made_usable(tmp_path):
    def thresholds(hidden):
        values = torch.rand(hidden, generator=torch.Generator().manual_seed(5)) * 0.2
        values[0], values[1], values[2] = 0.0, 1e-41, 1.7                # zero, subnormal, above 1
        return values

    state = reference_checkpoint(seed=2, thr=thresholds)
    with pytest.warns(EvnnImportWarning) as caught:
        model = from_evnn(write_run(tmp_path / "run", state))
    messages = " ".join(str(w.message) for w in caught)
    assert "rnns.0.thr: 2 of 10 thresholds were 0 or subnormal" in messages
    assert "rnns.0.thr: 1 of 10 thresholds above 1 clamped to 1" in messages
    threshold = model.rnn.layer_parameters(0).threshold
    assert threshold[0].item() == threshold[1].item() == np.float32(THRESHOLD_FLOOR)
    assert threshold[2].item() == 1.0 and model.rnn.min_threshold == pytest.approx(THRESHOLD_FLOOR)
    tokens = stream(150, seed=6)
    with torch.no_grad():
        ours = model.double()(tokens.view(-1, 1))[0].view(-1, V)
    assert (ours - oracle_logits(state, tokens, len(tokens))).abs().max().item() < 1e-12


def test_the_older_threshold_parametrisation_is_read_through_its_sigmoid(tmp_path):
    state = reference_checkpoint(seed=7)
    for l in (0, 1):
        state[f"rnns.{l}.thr_reparam"] = torch.randn(state.pop(f"rnns.{l}.thr").shape) - 3.0
    model = from_evnn(write_run(tmp_path / "run", state)).double()
    tokens = stream(80)
    with torch.no_grad():
        ours = model(tokens.view(-1, 1))[0].view(-1, V)
    assert (ours - oracle_logits(state, tokens, len(tokens))).abs().max().item() < 1e-12


def test_a_model_of_this_library_goes_to_the_reference_layout_and_back_bit_for_bit(tmp_path):
    torch.manual_seed(0)
    model = EGRULanguageModel(V, E, [H, E], tie_weights=True, spike_grad=triangle(3.6, 3.6), threshold=0.05)
    state = to_evnn_state_dict(model)
    assert state["rnns.0.kernel"].shape == (E, 3 * H) and state["rnns.0.recurrent_kernel"].shape == (H, 3 * H)
    # the z block of the reference's kernel is this library's second block (rows H..2H of weight_ih)
    assert EVNN_GATE_ORDER == "zrn"
    assert torch.equal(state["rnns.0.kernel"][:, :H], model.rnn.weight_ih_l0[H:2 * H].t())
    again = from_evnn(write_evnn_run(model, tmp_path / "run", bptt=35))
    assert again.tie_weights and again.readout.weight is again.embedding.weight
    for (name, a), (_, b) in zip(model.state_dict().items(), again.state_dict().items()):
        assert torch.equal(a, b), name
    tokens = stream()
    with torch.no_grad():
        ours = model.double()(tokens.view(-1, 1))[0].view(-1, V)
    assert (ours - oracle_logits(state, tokens, len(tokens))).abs().max().item() < 1e-12
    assert read_evnn_config(tmp_path / "run" / "config.yaml").bptt == 35


@pytest.mark.parametrize("cell", ["gru", "lstm"])
@pytest.mark.parametrize("dropconnect", [True, False])
def test_the_gru_and_lstm_baselines_equal_torch_on_the_reference_weights(tmp_path, cell, dropconnect):
    torch.manual_seed(1)
    model = RNNLanguageModel(V, E, [H, E], cell=cell, tie_weights=True)
    state = to_evnn_state_dict(model, dropconnect=dropconnect)
    if dropconnect:   # the wrapper's last dropped copy must not be what is imported
        state["rnns.0.module.weight_hh_l0"] = torch.zeros_like(state["rnns.0.module.weight_hh_l0"])
        assert "rnns.0.weight_hh_l0_raw" in state
    again = from_evnn(write_run(tmp_path / "run", state, rnn_type=cell))
    assert isinstance(again, RNNLanguageModel) and again.cell == cell
    # the oracle: torch's own modules loaded with the reference's trained weights
    module = getattr(torch.nn, cell.upper())
    prefix = "module." if dropconnect else ""
    tokens = stream()
    x = state["embeddings.weight"][tokens].view(-1, 1, E)
    for l, (inputs, hidden) in enumerate(((E, H), (H, E))):
        rnn = module(inputs, hidden)
        with torch.no_grad():
            for name in ("weight_ih_l0", "bias_ih_l0", "bias_hh_l0"):
                getattr(rnn, name).copy_(state[f"rnns.{l}.{prefix}{name}"])
            rnn.weight_hh_l0.copy_(state[f"rnns.{l}.weight_hh_l0_raw" if dropconnect else f"rnns.{l}.weight_hh_l0"])
            x = rnn(x)[0]
    reference = x.view(-1, E) @ state["decoder.decoder.weight"].t() + state["decoder.decoder.bias"]
    with torch.no_grad():
        ours = again(tokens.view(-1, 1))[0].view(-1, V)
    assert (ours - reference).abs().max().item() < 1e-5
    for (name, a), (_, b) in zip(model.state_dict().items(), again.state_dict().items()):
        assert torch.equal(a, b), name


def test_a_checkpoint_file_with_sizes_from_its_shapes_or_as_arguments(tmp_path):
    state = reference_checkpoint(seed=3)
    torch.save(state, tmp_path / "model.cpt")
    model = from_evnn(tmp_path / "model.cpt")
    assert model.hidden_sizes == [H, E] and model.embedding_size == E
    assert from_evnn(tmp_path / "model.cpt", rnn_type="egru", layers=2, hidden_dim=H, emb_dim=E).hidden_sizes == [H, E]
    with pytest.raises(EvnnImportError, match=r"model.cpt: rnns.0.kernel: has shape \(6, 30\), expected \(6, 36\)"):
        from_evnn(tmp_path / "model.cpt", hidden_dim=12, emb_dim=E)
    with pytest.raises(EvnnImportError, match="model.cpt: rnns.1.*: the checkpoint has 2 layers, expected layers=3"):
        from_evnn(tmp_path / "model.cpt", layers=3)
    with pytest.raises(EvnnImportError, match="holds a egru layer, but rnn_type is 'gru'"):
        from_evnn(tmp_path / "model.cpt", rnn_type="gru")


# --------------------------------------------------------------------------- what is refused
def _error(tmp_path, state=None, match="", **config):
    run = write_run(tmp_path / "run", reference_checkpoint() if state is None else state, **config)
    with pytest.raises(EvnnImportError, match=match) as info:
        from_evnn(run)
    return str(info.value)


def test_a_missing_key_is_named_with_its_file(tmp_path):
    state = reference_checkpoint()
    del state["rnns.1.recurrent_bias"]
    message = _error(tmp_path, state, "rnns.1.recurrent_bias: missing")
    assert "EGRU_best_model.cpt" in message


def test_an_unknown_key_is_not_dropped(tmp_path):
    state = reference_checkpoint()
    state["rnns.0.zoneout_mask"] = torch.zeros(3)
    _error(tmp_path, state, "rnns.0.zoneout_mask: not a key of the reference's language model")


def test_a_shape_that_disagrees_with_the_config_is_named(tmp_path):
    _error(tmp_path, None, r"rnns.0.kernel: has shape \(6, 30\), expected \(6, 36\)", hidden_dim=12)


def test_a_projection_decoder_is_refused(tmp_path):
    message = _error(tmp_path, None, "projection: true: a projection decoder", projection=True)
    assert "config.yaml" in message


def test_an_unsupported_rnn_type_is_named(tmp_path):
    _error(tmp_path, None, "rnn_type: 'egrud' is not supported", rnn_type="egrud")


def test_nan_values_are_named(tmp_path):
    state = reference_checkpoint()
    state["rnns.0.bias"][3] = float("nan")
    _error(tmp_path, state, "rnns.0.bias: holds NaN or infinite values")


def test_a_file_that_is_not_a_checkpoint_is_named(tmp_path):
    (tmp_path / "notes.txt").write_text("not a checkpoint")
    with pytest.raises(EvnnImportError, match=r"notes.txt: \(file\): not a torch.save'd state dict"):
        from_evnn(tmp_path / "notes.txt")
    with pytest.raises(FileNotFoundError, match="config.yaml"):
        from_evnn(tmp_path)
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "config.yaml").write_text("rnn_type: egru\nlayers: 2\n")
    with pytest.raises(EvnnImportError, match="config.yaml: hidden_dim: missing"):
        from_evnn(bad)


def test_a_signed_event_model_has_no_reference_layout():
    model = EGRULanguageModel(V, E, [E], tie_weights=True, polarity="signed")
    with pytest.raises(NotImplementedError, match="no signed-event EGRU"):
        to_evnn_state_dict(model)


def test_importing_raises_no_warning_for_a_clean_checkpoint(tmp_path):
    run = write_run(tmp_path / "run", reference_checkpoint())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        from_evnn(run)
