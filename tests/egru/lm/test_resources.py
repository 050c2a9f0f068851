"""The trainer's memory estimate and device checks (``egru.lm.resources``): exact parameter counts, the
refusal naming the estimate and the available memory, before anything is allocated."""

from __future__ import annotations

import pytest
import torch

from egru.lm import resources
from egru.lm.resources import (FLOATS_PER_LOGIT, FLOATS_PER_PARAMETER, FLOATS_PER_UNIT, ResourceError,
                               available_memory, check_training_memory, estimate_training_memory, parameter_count)
from egru.lm.trainer import LMConfig, build_model, train_language_model


@pytest.mark.parametrize("rnn_type", ["egru", "gru", "lstm"])
@pytest.mark.parametrize("tie", [True, False])
def test_parameter_count_is_the_built_models(rnn_type, tie):
    config = LMConfig(rnn_type=rnn_type, embedding_size=5, hidden_sizes=(7, 9, 5), tie_weights=tie)
    model = build_model(config, 11)
    assert parameter_count(config, 11) == sum(p.numel() for p in model.parameters())


def test_the_estimate_adds_parameters_and_one_segments_activations():
    config = LMConfig(embedding_size=6, hidden_sizes=(10, 6), batch_size=8, bptt=20)
    estimate = estimate_training_memory(config, 50)
    assert estimate.parameter_bytes == parameter_count(config, 50) * FLOATS_PER_PARAMETER * 4
    assert estimate.activation_bytes == 20 * 8 * (FLOATS_PER_UNIT * (6 + 10 + 6) + FLOATS_PER_LOGIT * 50) * 4
    assert estimate.total_bytes == estimate.parameter_bytes + estimate.activation_bytes
    halved = estimate_training_memory(config, 50, world=2)          # each rank holds half the batch
    assert (halved.batch_size, halved.parameter_bytes) == (4, estimate.parameter_bytes)
    assert halved.activation_bytes * 2 == estimate.activation_bytes


def test_the_reference_model_fits_in_a_few_gigabytes():
    config = LMConfig(embedding_size=750, hidden_sizes=(1350, 1350, 750), batch_size=64, bptt=70)
    assert 1.5 * 2 ** 30 < estimate_training_memory(config, 10000).total_bytes < 2 * 2 ** 30


def test_available_memory_of_the_host():
    free = available_memory("cpu")
    assert 0 < free <= resources.os.sysconf("SC_PHYS_PAGES") * resources.os.sysconf("SC_PAGE_SIZE")


def test_the_refusal_names_the_estimate_and_the_available_memory():
    config = LMConfig(embedding_size=8, hidden_sizes=(16, 8))
    estimate = check_training_memory(config, 100, "cpu", available=2 ** 40)
    with pytest.raises(ResourceError) as info:
        check_training_memory(config, 100, "cpu", available=estimate.total_bytes - 1)
    message = str(info.value)
    assert message.startswith("training needs about ") and f"{estimate.parameters:,} parameters" in message
    assert "activations of batch 32 x bptt 35" in message and "but cpu has " in message
    assert isinstance(info.value, ValueError) and isinstance(info.value, RuntimeError)


def test_the_trainer_refuses_before_allocating(monkeypatch):
    def no_model(*args, **kwargs):
        raise AssertionError("the model must not be built")

    monkeypatch.setattr("egru.lm.trainer.build_model", no_model)
    config = LMConfig(embedding_size=8, hidden_sizes=(200_000, 8))
    with pytest.raises(ResourceError, match="TB of memory"):
        train_language_model(config, torch.arange(400) % 7, 7)


def test_a_model_given_to_the_trainer_is_not_estimated_again(monkeypatch):
    monkeypatch.setattr(resources, "available_memory", lambda device: 0)
    config = LMConfig(embedding_size=4, hidden_sizes=(4,), batch_size=2, bptt=5)
    model = build_model(config, 7)
    trained, history = train_language_model(config, torch.arange(100) % 7, 7, model=model, max_steps=1)
    assert trained is model and history == []
    with pytest.raises(ResourceError):
        train_language_model(config, torch.arange(100) % 7, 7, max_steps=1)


def test_docstring_examples():
    import doctest

    result = doctest.testmod(resources, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
