"""The LM trainer (egru.lm.trainer): the cosine schedule, checkpoints and resume, pruning, and training a given
model through the ``forward`` and ``after_step`` arguments."""

from __future__ import annotations

import json

import pytest
import torch

from egru.lm.checkpoint import load_checkpoint
from egru.lm.trainer import CHECKPOINT_NAME, LOG_NAME, CosineTailSchedule, LMConfig, train_language_model
from snntorch_egru import EGRULanguageModel
from tests.snntorch_egru._helpers import tied_lm


def _tokens(n=900, vocab=11, seed=0):
    g = torch.Generator().manual_seed(seed)
    base = torch.arange(n) % vocab
    noise = torch.randint(0, vocab, (n,), generator=g)
    return torch.where(torch.rand(n, generator=g) < 0.2, noise, base)


def test_cosine_tail_schedule():
    s = CosineTailSchedule(1e-3, fraction=0.3, min_lr=1e-5)
    assert s.lr_at(0.0) == s.lr_at(0.7) == 1e-3
    assert abs(s.lr_at(1.0) - 1e-5) < 1e-12
    assert s.lr_at(0.8) > s.lr_at(0.9) > s.lr_at(0.99)


RECIPE = dict(embedding_size=8, hidden_sizes=(12, 8), epochs=2, batch_size=4, bptt=12, lr=1e-2,
              dropout_embedding=0.3, dropout_between=0.25, dropout_output=0.2, dropout_words=0.1,
              dropconnect=0.5, weight_decay=0.1, clip=0.5, cosine_fraction=0.5, prune_sparsity=0.5,
              prune_targets=("recurrent",), prune_begin=2, prune_frequency=3, prune_updates=4, seed=3)


def test_killed_run_resumes_to_exactly_the_same_weights(tmp_path):
    tokens, valid = _tokens(), _tokens(120, seed=1)
    config = LMConfig(**RECIPE)
    full, history = train_language_model(config, tokens, 11, valid, output_dir=tmp_path / "full")
    steps = history[-1]["step"]
    assert steps > 12 and len(history) == 2
    # kill mid-epoch 2 (steps since the last checkpoint are lost and redone after resuming)
    kill_at = steps - 4
    train_language_model(config, tokens, 11, valid, output_dir=tmp_path / "cut", checkpoint_every=3,
                         max_steps=kill_at)
    checkpoint = load_checkpoint(tmp_path / "cut" / CHECKPOINT_NAME)
    position = checkpoint["position"]
    assert position["epoch"] == 2 and 0 < position["segment"] and position["global_step"] < kill_at + 1
    assert position["state"] is not None and checkpoint["pruner"]["step_count"] == position["global_step"]
    resumed, resumed_history = train_language_model(config, tokens, 11, valid, output_dir=tmp_path / "cut",
                                                    resume=True, checkpoint_every=3)
    expected, got = full.state_dict(), resumed.state_dict()
    assert expected.keys() == got.keys() and any(k.endswith("_mask") for k in got)
    for key in expected:
        assert torch.equal(expected[key], got[key]), key
    assert (resumed.rnn.weight_hh_l0 == 0).float().mean() >= 0.45  # pruned, masks persisted
    assert [h["train_loss"] for h in resumed_history] == [h["train_loss"] for h in history]
    assert not [p for p in (tmp_path / "cut").iterdir() if p.name.endswith(".tmp")]
    with pytest.raises(ValueError, match="lr"):
        train_language_model(LMConfig(**{**RECIPE, "lr": 0.5}), tokens, 11, output_dir=tmp_path / "cut", resume=True)
    lines = [json.loads(line) for line in (tmp_path / "full" / LOG_NAME).read_text().splitlines()]
    assert [r["epoch"] for r in lines] == [1, 2] and "valid_perplexity" in lines[0]


def test_existing_callers_without_output_dir_and_progress_lines():
    printed = []
    config = LMConfig(embedding_size=8, hidden_sizes=(8,), epochs=1, batch_size=2, bptt=10)
    model, history = train_language_model(config, _tokens(300), 11, log=printed.append, progress=True)
    assert isinstance(model, EGRULanguageModel) and len(history) == 1
    assert any("step" in line and "loss" in line for line in printed)


def test_model_and_pruner_arguments_continue_training_an_existing_model():
    from snntorch_egru.pruning import CubicSchedule, Pruner
    config = LMConfig(embedding_size=6, hidden_sizes=(10, 6), epochs=1, batch_size=2, bptt=10, lr=1e-2)
    torch.manual_seed(0)
    start = EGRULanguageModel(11, 6, [10, 6], tie_weights=True)
    before = start.rnn.weight_ih_l0.detach().clone()
    schedule = CubicSchedule(final_sparsity=0.7, initial_sparsity=0.7, begin_step=0, frequency=1, n_updates=1)
    pruner = Pruner(start, targets=["input", "recurrent"], schedule=schedule)
    model, history = train_language_model(config, _tokens(300), 11, model=start, pruner=pruner)
    assert model is start and len(history) == 1
    assert not torch.equal(model.rnn.weight_ih_l0, before)          # it trained the given model
    masks = pruner.masks()                                          # global scope: 70% over all four
    kept = sum(int(m.sum()) for m in masks.values()) / sum(m.numel() for m in masks.values())
    assert abs(kept - 0.3) < 0.01
    assert all(torch.all(dict(model.named_parameters())[name][~m] == 0) for name, m in masks.items())
    with pytest.raises(ValueError, match="vocab_size 11"):
        train_language_model(config, _tokens(300), 12, model=start)
    with pytest.raises(ValueError, match="needs the model"):
        train_language_model(config, _tokens(300), 11, pruner=pruner)
    with pytest.raises(ValueError, match="different module"):
        train_language_model(config, _tokens(300), 11, model=EGRULanguageModel(11, 6, [10, 6]), pruner=pruner)


def _segment_loop(model, forward, tokens, config, after_step=None):
    """The plain truncated-BPTT loop the trainer replaced in the pipelines and benchmarks: one pass,
    AdamW in one group, clipping, ``after_step`` after each optimizer step, the state detached."""
    from egru.lm.data import batchify
    from egru.lm.trainer import bptt_segments
    data = batchify(tokens, config.batch_size)
    segments = bptt_segments(data.shape[0] - 1, config.bptt, torch.Generator().manual_seed(config.seed))
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, betas=(0.0, 0.999), weight_decay=0.0)
    model.train()
    state = None
    for segment in segments:
        logits, state = forward(data[segment], state)
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, model.vocab_size).float(),
                                                 data[segment.start + 1: segment.stop + 1].reshape(-1))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.clip)
        optimizer.step()
        if after_step is not None:
            after_step()
        state = tuple(tuple(t.detach() for t in part) for part in state)
    return len(segments)


def test_forward_argument_is_the_plain_segment_loop():
    """``forward=model``: the model's own forward pass, bit for bit the plain loop (no regularisers)."""
    import copy
    config = LMConfig(embedding_size=6, hidden_sizes=(10, 6), batch_size=4, bptt=10, lr=5e-3, seed=1)
    tokens = _tokens(400)
    reference = tied_lm()
    trained = copy.deepcopy(reference)
    steps = _segment_loop(reference, reference, tokens, config)
    model, history = train_language_model(config, tokens, 20, model=trained, forward=trained)
    assert model is trained and history[-1]["step"] == steps
    for (name, expected), got in zip(reference.state_dict().items(), model.state_dict().values()):
        assert torch.equal(expected, got), name


def test_qat_forward_pruner_holding_masks_and_after_step():
    """Quantisation-aware fine-tuning through the trainer equals the loop it replaced bit for bit:
    the QAT forward pass, the masks of a pruner without a schedule held, ``project_`` after each step."""
    import copy
    from snntorch_egru.pruning import Pruner
    from snntorch_egru.quantization import calibrate, quantization_aware
    config = LMConfig(embedding_size=6, hidden_sizes=(10, 6), batch_size=4, bptt=10, lr=5e-3, seed=2)
    tokens = _tokens(400)
    reference = tied_lm()
    Pruner(reference).prune(0.6)
    q = calibrate(reference, tokens[:200].view(-1, 4))
    trained = copy.deepcopy(reference)
    ref_masks, ref_qat = Pruner(reference), quantization_aware(reference, q, dtype=torch.float32)

    def hold_and_project():
        ref_masks.apply()
        ref_qat.project_()

    steps = _segment_loop(reference, ref_qat, tokens, config, after_step=hold_and_project)
    qat = quantization_aware(trained, q, dtype=torch.float32)
    calls = []

    def project():
        calls.append(qat.project_())

    _, history = train_language_model(config, tokens, 20, model=trained, pruner=Pruner(trained), forward=qat,
                                      after_step=project)
    assert len(calls) == steps == history[-1]["step"]
    assert 0.0 < history[-1]["train_activity"] < 1.0                    # from the QAT forward's events
    for (name, expected), got in zip(reference.state_dict().items(), trained.state_dict().values()):
        assert torch.equal(expected, got), name
    assert (trained.rnn.weight_hh_l0 == 0).float().mean() > 0.5


def test_forward_and_after_step_errors():
    config = LMConfig(embedding_size=6, hidden_sizes=(10, 6), batch_size=4, bptt=10)
    lm = tied_lm()
    with pytest.raises(ValueError, match="needs the model="):
        train_language_model(config, _tokens(200), 20, forward=lm)
    with pytest.raises(ValueError, match="dropconnect=0.5 .* must be 0"):
        train_language_model(LMConfig(**{**vars(config), "dropconnect": 0.5}), _tokens(200), 20, model=lm, forward=lm)
    with pytest.raises(TypeError, match="forward= must be callable"):
        train_language_model(config, _tokens(200), 20, model=lm, forward="lm")
    with pytest.raises(TypeError, match="after_step= must be callable"):
        train_language_model(config, _tokens(200), 20, model=lm, after_step=3)
