"""Recipe parity (issue 11): the reference LM recipe's hyperparameters as LMConfig fields / trainer flags.

Threshold initialisation (constant / Beta, clamp range, seed), the thresholds' own AdamW group
(lr scale, no weight decay) under the cosine schedule, the surrogate constants, rnn_type
egru/gru/lstm, the device option and the resume checks of the new fields.
"""

from __future__ import annotations

import math

import pytest
import torch

from egru.lm.checkpoint import load_checkpoint, save_checkpoint
from egru.lm.trainer import (CHECKPOINT_NAME, CosineTailSchedule, LMConfig, build_model, build_optimizer,
                             init_thresholds, threshold_parameters, train_language_model)
from snntorch_egru import EGRULanguageModel
from snntorch_egru.surrogate import triangle
from tests.egru._helpers import REFERENCE_NEURON

SMALL = dict(embedding_size=8, hidden_sizes=(12, 8), epochs=1, batch_size=4, bptt=10, lr=1e-2, seed=2)


def _tokens(n=500, vocab=11, seed=0):
    g = torch.Generator().manual_seed(seed)
    base = torch.arange(n) % vocab
    return torch.where(torch.rand(n, generator=g) < 0.2, torch.randint(0, vocab, (n,), generator=g), base)


def _thresholds(model):
    return {k: v.detach().clone() for k, v in threshold_parameters(model).items()}


# ---------------------------------------------------------------- threshold initialisation

def test_beta_init_mean_spread_and_seed():
    config = LMConfig(threshold_init="beta", threshold=0.3, threshold_beta=3.0, seed=4)
    a, b = init_thresholds(config, [20000, 30000])
    alpha, beta = 0.3 * 3.0 / 0.7, 3.0
    for draw in (a, b):
        assert abs(draw.mean().item() - 0.3) < 0.006
        variance = alpha * beta / ((alpha + beta) ** 2 * (alpha + beta + 1))
        assert abs(draw.var().item() - variance) < 0.1 * variance           # Beta(alpha, 3), not a constant
    again = init_thresholds(config, [20000, 30000])
    assert torch.equal(a, again[0]) and torch.equal(b, again[1])          # reproducible by seed
    other = init_thresholds(LMConfig(**{**vars(config), "seed": 5}), [20000, 30000])
    assert not torch.equal(a, other[0])
    assert not torch.equal(a, b[:20000])                                  # layers draw different units


def test_beta_init_clamped_into_range():
    config = LMConfig(threshold_init="beta", threshold=0.3, threshold_max=0.4, min_threshold=0.05, seed=1)
    (draw,) = init_thresholds(config, [5000])
    assert draw.min().item() == pytest.approx(0.05) and draw.max().item() == pytest.approx(0.4)
    assert (draw == draw.max()).sum() > 100 and (draw == draw.min()).sum() > 100
    # the reference's mean 0.01: most of the mass sits below the floor, which lifts those units to it
    (ref,) = init_thresholds(LMConfig(**REFERENCE_NEURON), [20000])
    assert ref.min().item() == pytest.approx(1e-3) and ref.max().item() <= 1.0
    assert 0.7 < (ref == ref.min()).float().mean().item() < 0.95


def test_build_model_uses_the_thresholds_and_leaves_the_weights_as_with_constant():
    beta = LMConfig(**SMALL, threshold_init="beta", threshold=0.2)
    torch.manual_seed(0)
    model = build_model(beta, 11)
    expected = init_thresholds(beta, [12, 8])
    assert torch.equal(model.rnn.threshold_l0, expected[0]) and torch.equal(model.rnn.threshold_l1, expected[1])
    torch.manual_seed(0)
    constant = build_model(LMConfig(**SMALL, threshold=0.2), 11)
    assert torch.equal(constant.rnn.threshold_l0, torch.full((12,), 0.2))
    for name, tensor in constant.state_dict().items():
        if "threshold" not in name:
            assert torch.equal(tensor, model.state_dict()[name]), name   # the draw does not touch the global RNG


def test_min_threshold_reaches_the_layer():
    model = build_model(LMConfig(**SMALL, min_threshold=0.02), 11)
    assert model.rnn.min_threshold == 0.02


# ---------------------------------------------------------------- the thresholds' parameter group

def test_optimizer_groups_and_the_cosine_schedule_keep_each_groups_factor():
    config = LMConfig(**SMALL, weight_decay=0.3, threshold_lr_scale=0.25, cosine_fraction=0.5, min_lr=1e-4)
    model = build_model(config, 11)
    optimizer = build_optimizer(config, model)
    others, thresholds = optimizer.param_groups
    assert {id(p) for p in thresholds["params"]} == {id(p) for p in threshold_parameters(model).values()}
    assert len(thresholds["params"]) == 2 and thresholds["weight_decay"] == 0.0
    assert others["weight_decay"] == 0.3 and len(others["params"]) + 2 == len(list(model.parameters()))
    assert thresholds["lr"] == pytest.approx(0.25e-2) and others["lr"] == 1e-2
    schedule = CosineTailSchedule(config.lr, config.cosine_fraction, config.min_lr)
    for progress in (0.0, 0.6, 0.8, 1.0):
        lr = schedule.apply(optimizer, progress)
        assert lr == schedule.lr_at(progress)
        assert others["lr"] == lr and thresholds["lr"] == pytest.approx(0.25 * lr, rel=1e-12)
    assert others["lr"] == pytest.approx(1e-4)


def test_default_scale_keeps_the_learning_rate_exactly():
    config = LMConfig(**SMALL)
    optimizer = build_optimizer(config, build_model(config, 11))
    CosineTailSchedule(1e-2, 0.5).apply(optimizer, 0.7)
    assert optimizer.param_groups[0]["lr"] == optimizer.param_groups[1]["lr"]


def test_thresholds_get_no_weight_decay():
    # one step: the forward pass (and so every gradient) is the same with and without weight decay,
    # so the thresholds, which are never decayed, must come out identical; the weights must not
    tokens = _tokens()
    decayed, _ = train_language_model(LMConfig(**SMALL, weight_decay=50.0), tokens, 11, max_steps=1)
    plain, _ = train_language_model(LMConfig(**SMALL, weight_decay=0.0), tokens, 11, max_steps=1)
    torch.manual_seed(SMALL["seed"])
    initial = build_model(LMConfig(**SMALL), 11)
    for name, theta in _thresholds(decayed).items():
        assert torch.equal(theta, _thresholds(plain)[name]), name
        assert not torch.equal(theta, _thresholds(initial)[name])            # they did learn
        assert (theta - _thresholds(initial)[name]).abs().max() <= SMALL["lr"] * (1 + 1e-4)
    shrink = decayed.rnn.weight_ih_l0.abs().sum() / plain.rnn.weight_ih_l0.abs().sum()
    assert shrink < 0.7                                                      # lr x wd = 0.5 of decay


def test_frozen_thresholds_stay_exactly_at_their_initial_values():
    config = LMConfig(**{**SMALL, **REFERENCE_NEURON, "weight_decay": 0.1, "epochs": 2})
    torch.manual_seed(config.seed)
    initial = build_model(config, 11)
    model, history = train_language_model(config, _tokens(), 11)
    assert history[-1]["step"] > 20
    for name, theta in _thresholds(model).items():
        assert torch.equal(theta, _thresholds(initial)[name]), name
    assert not torch.equal(model.rnn.weight_hh_l0, initial.rnn.weight_hh_l0)


def test_learned_beta_thresholds_are_projected_into_the_range():
    config = LMConfig(**{**SMALL, "threshold_init": "beta", "threshold": 0.02, "threshold_max": 0.03,
                         "min_threshold": 0.01, "lr": 0.05, "epochs": 2})
    torch.manual_seed(config.seed)
    initial = torch.cat(list(_thresholds(build_model(config, 11)).values()))
    model, _ = train_language_model(config, _tokens(), 11)
    values = torch.cat(list(_thresholds(model).values()))
    assert not torch.equal(values, initial)                                  # learned
    assert bool((values >= torch.tensor(0.01)).all() and (values <= torch.tensor(0.03)).all())  # float32 bounds


# ---------------------------------------------------------------- surrogate gradient

def test_surrogate_settings_reach_the_model():
    model = build_model(LMConfig(**SMALL, surrogate_dampening=3.6, surrogate_width=3.6), 11)
    assert model.rnn.spike_grad == triangle(3.6, 3.6)
    assert build_model(LMConfig(**SMALL), 11).rnn.spike_grad == triangle(0.7, 1.0)
    # and the backward pass uses them: a wider, taller triangle gives other threshold gradients
    tokens = _tokens(60).view(-1, 2)
    grads = []
    for dampening, width in ((0.7, 1.0), (3.6, 3.6)):
        torch.manual_seed(0)
        lm = build_model(LMConfig(**SMALL, surrogate_dampening=dampening, surrogate_width=width), 11)
        logits, _ = lm(tokens[:-1])
        torch.nn.functional.cross_entropy(logits.reshape(-1, 11), tokens[1:].reshape(-1)).backward()
        grads.append(lm.rnn.threshold_l0.grad.clone())
    assert not torch.equal(*grads)


# ---------------------------------------------------------------- validation

@pytest.mark.parametrize("rnn_type", ["gru", "lstm"])
@pytest.mark.parametrize("option, value", [("threshold", 0.2), ("threshold_init", "beta"),
                                           ("threshold_lr_scale", 0.0), ("surrogate_width", 3.6),
                                           ("surrogate_dampening", 3.6), ("min_threshold", 0.01),
                                           ("polarity", "signed"), ("readout_input", "candidates")])
def test_egru_options_with_a_baseline_are_an_error(rnn_type, option, value):
    with pytest.raises(ValueError, match=rf"{option}=.*EGRU option.*rnn_type='{rnn_type}'"):
        LMConfig(rnn_type=rnn_type, **{option: value})


@pytest.mark.parametrize("kwargs, match", [
    ({"rnn_type": "rnn"}, "rnn_type must be one of"), ({"threshold_init": "normal"}, "threshold_init must be"),
    ({"threshold_beta": 2.0}, "threshold_beta applies to threshold_init='beta'"),
    ({"threshold_max": 0.5}, "threshold_max applies to threshold_init='beta'"),
    ({"threshold_init": "beta", "threshold": 1.0}, r"threshold \(the Beta mean\) in \(0, 1\)"),
    ({"threshold_init": "beta", "threshold_beta": 0.0}, "threshold_beta must be > 0"),
    ({"threshold_init": "beta", "threshold_max": 1e-3}, "threshold_max .* must be > min_threshold"),
    ({"min_threshold": 0.0}, "min_threshold must be > 0"), ({"threshold_lr_scale": -1.0}, "must be >= 0"),
    ({"device": "tpu"}, "device must be"), ({"device": "cuda:x"}, "device must be"),
    ({"surrogate_width": 0.0}, "triangle surrogate needs"), ({"surrogate_dampening": -1.0}, "dampening > 0"),
    ({"polarity": "negative"}, "polarity must be one of"), ({"readout_input": "c"}, "readout_input must be one of"),
])
def test_bad_settings(kwargs, match):
    with pytest.raises(ValueError, match=match):
        LMConfig(**kwargs)


def _assert_a_cut_run_resumes_to_the_same_weights(config, full, history, tmp_path):
    """Training cut 4 steps before the end and resumed from its checkpoint ends at ``full``'s weights."""
    steps = history[-1]["step"]
    train_language_model(config, _tokens(), 11, output_dir=tmp_path / "cut", checkpoint_every=3,
                         max_steps=steps - 4)
    resumed, _ = train_language_model(config, _tokens(), 11, output_dir=tmp_path / "cut", resume=True,
                                      checkpoint_every=3)
    for key, value in full.state_dict().items():
        assert torch.equal(value, resumed.state_dict()[key]), key


# ---------------------------------------------------------------- signed events, readout input (issue 17)

@pytest.mark.parametrize("option", [{"polarity": "signed"}, {"readout_input": "candidates"}])
def test_signed_events_and_the_dense_readout_train_and_resume(option, tmp_path):
    config = LMConfig(**{**SMALL, "epochs": 2}, **option, dropconnect=0.3, dropout_output=0.2, threshold=0.05)
    full, history = train_language_model(config, _tokens(), 11, output_dir=tmp_path / "full")
    assert full.polarity == config.polarity and full.readout_input == config.readout_input
    assert math.isfinite(history[-1]["train_loss"]) and 0 < history[-1]["train_activity"] < 1
    _assert_a_cut_run_resumes_to_the_same_weights(config, full, history, tmp_path)


# ---------------------------------------------------------------- GRU / LSTM baselines

@pytest.mark.parametrize("rnn_type", ["gru", "lstm"])
def test_baseline_rnn_types_train_and_resume(rnn_type, tmp_path):
    from snntorch_egru.baselines import RNNLanguageModel
    config = LMConfig(**{**SMALL, "epochs": 2}, rnn_type=rnn_type, dropconnect=0.3, dropout_words=0.1,
                      dropout_between=0.2, weight_decay=0.1)
    full, history = train_language_model(config, _tokens(), 11, output_dir=tmp_path / "full")
    assert isinstance(full, RNNLanguageModel) and full.rnn.cell == rnn_type and full.hidden_sizes == [12, 8]
    assert not threshold_parameters(full) and len(build_optimizer(config, full).param_groups) == 1
    assert math.isfinite(history[-1]["train_loss"]) and history[-1]["train_activity"] == 1.0
    _assert_a_cut_run_resumes_to_the_same_weights(config, full, history, tmp_path)


# ---------------------------------------------------------------- resume

def test_resume_checks_the_new_fields_and_allows_another_device(tmp_path):
    tokens = _tokens()
    config = LMConfig(**{**SMALL, **REFERENCE_NEURON, "epochs": 2})
    full, _ = train_language_model(config, tokens, 11)
    train_language_model(config, tokens, 11, output_dir=tmp_path, checkpoint_every=4, max_steps=30)
    for name, value in (("threshold_lr_scale", 1.0), ("surrogate_width", 1.0), ("threshold_beta", 2.0),
                        ("threshold_max", 0.5), ("min_threshold", 0.002), ("threshold_init", "constant")):
        changed = {**vars(config), name: value}
        if name == "threshold_init":
            changed.update(threshold_beta=3.0, threshold_max=1.0)
        with pytest.raises(ValueError, match=rf"settings differ.*{name}"):
            train_language_model(LMConfig(**changed), tokens, 11, output_dir=tmp_path, resume=True)
    # a checkpoint written on another device resumes here (its tensors are CPU tensors)
    path = tmp_path / CHECKPOINT_NAME
    checkpoint = load_checkpoint(path)
    checkpoint["config"]["device"] = "cuda:0"
    save_checkpoint(path, checkpoint)
    resumed, _ = train_language_model(config, tokens, 11, output_dir=tmp_path, resume=True, checkpoint_every=4)
    for key, value in full.state_dict().items():
        assert torch.equal(value, resumed.state_dict()[key]), key


def test_checkpoint_of_an_older_trainer_resumes(tmp_path):
    """Before issue 11: no threshold/surrogate/device fields, one AdamW group over model.parameters()."""
    tokens = _tokens()
    config = LMConfig(**{**SMALL, "epochs": 2, "weight_decay": 0.1})
    full, _ = train_language_model(config, tokens, 11)
    train_language_model(config, tokens, 11, output_dir=tmp_path, checkpoint_every=4, max_steps=30)
    path = tmp_path / CHECKPOINT_NAME
    checkpoint = load_checkpoint(path)
    for name in ("rnn_type", "threshold_init", "threshold_beta", "threshold_max", "min_threshold",
                 "threshold_lr_scale", "surrogate_dampening", "surrogate_width", "device"):
        del checkpoint["config"][name]
    model = build_model(config, 11)
    groups = build_optimizer(config, model).param_groups
    position = {id(p): i for i, p in enumerate(p for g in groups for p in g["params"])}
    old_order = [position[id(p)] for p in model.parameters()]
    saved = checkpoint["optimizer"]
    one = {k: v for k, v in saved["param_groups"][0].items() if k not in ("params", "lr_scale")}
    checkpoint["optimizer"] = {"state": {i: saved["state"][j] for i, j in enumerate(old_order) if j in saved["state"]},
                               "param_groups": [{**one, "params": list(range(len(old_order)))}]}
    save_checkpoint(path, checkpoint)
    resumed, _ = train_language_model(config, tokens, 11, output_dir=tmp_path, resume=True, checkpoint_every=4)
    for key, value in full.state_dict().items():
        assert torch.equal(value, resumed.state_dict()[key]), key


# ---------------------------------------------------------------- device

@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
def test_cuda_training_checkpoints_load_on_cpu_and_resume_there(tmp_path):
    tokens, valid = _tokens(), _tokens(80, seed=1)
    config = LMConfig(**{**SMALL, **REFERENCE_NEURON, "epochs": 2, "device": "cuda", "prune_sparsity": 0.5,
                         "prune_begin": 1, "prune_frequency": 2, "prune_updates": 3, "dropconnect": 0.3})
    model, history = train_language_model(config, tokens, 11, valid, output_dir=tmp_path / "gpu",
                                          checkpoint_every=3, max_steps=17)     # killed in epoch 2
    assert model.embedding.weight.device.type == "cuda"
    assert all(b.device.type == "cuda" for b in model.buffers())            # masks live there too
    checkpoint = torch.load(tmp_path / "gpu" / CHECKPOINT_NAME, map_location=None, weights_only=False)
    tensors = [t for t in checkpoint["model"].values()] + list(checkpoint["position"]["state"][0][0])
    assert all(t.device.type == "cpu" for t in tensors)
    cpu = LMConfig(**{**vars(config), "device": "cpu"})
    resumed, history = train_language_model(cpu, tokens, 11, valid, output_dir=tmp_path / "gpu", resume=True)
    assert resumed.embedding.weight.device.type == "cpu" and len(history) == 2
    assert math.isfinite(history[-1]["valid_perplexity"])
    # without dropout the device changes only the float rounding
    plain = dict(SMALL, **REFERENCE_NEURON)
    _, gpu_history = train_language_model(LMConfig(**plain, device="cuda"), tokens, 11, valid)
    _, cpu_history = train_language_model(LMConfig(**plain), tokens, 11, valid)
    assert gpu_history[0]["train_loss"] == pytest.approx(cpu_history[0]["train_loss"], rel=0.02)
    assert gpu_history[0]["valid_loss"] == pytest.approx(cpu_history[0]["valid_loss"], rel=0.02)
