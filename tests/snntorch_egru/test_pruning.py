"""Magnitude pruning: exact counts, global vs per-matrix thresholds, persistent masks, schedules."""

import pytest
import torch

from snntorch_egru import EGRU, EGRULanguageModel
from snntorch_egru.pruning import (
    CubicSchedule, Pruner, load_pruned_state_dict, magnitude_masks, prune_and_finetune, select_parameters,
)


def test_groups_and_patterns():
    lm = EGRULanguageModel(50, 8, [12, 8], tie_weights=False)
    assert sorted(select_parameters(lm, "input")) == ["rnn.weight_ih_l0", "rnn.weight_ih_l1"]
    assert sorted(select_parameters(lm, "recurrent")) == ["rnn.weight_hh_l0", "rnn.weight_hh_l1"]
    assert list(select_parameters(lm, "embedding")) == ["embedding.weight"]
    assert list(select_parameters(lm, "readout")) == ["readout.weight"]
    assert len(select_parameters(lm, "all")) == 6
    assert list(select_parameters(lm, "rnn.weight_hh_l1")) == ["rnn.weight_hh_l1"]
    assert sorted(select_parameters(lm, "all", exclude="rnn.*")) == ["embedding.weight", "readout.weight"]
    with pytest.raises(ValueError, match="matches no parameter"):
        select_parameters(lm, "decoder.*")
    with pytest.raises(ValueError, match="only weight matrices"):
        select_parameters(lm, "readout.bias")


def test_tied_embedding_and_readout_share_one_mask():
    lm = EGRULanguageModel(40, 8, [8], tie_weights=True)
    assert list(select_parameters(lm, ["embedding", "readout"])) == ["embedding.weight"]
    assert list(select_parameters(lm, "readout")) == ["embedding.weight"]
    pruner = Pruner(lm, "readout")
    pruner.prune(0.75)
    masks = [k for k in lm.state_dict() if k.endswith("_mask")]
    assert masks == ["embedding.weight_mask"]
    assert lm.readout.weight is lm.embedding.weight
    assert int((lm.readout.weight == 0).sum()) == round(0.75 * 40 * 8)


def test_global_threshold_and_exact_count():
    rnn = EGRU(5, 16, num_layers=2)
    with torch.no_grad():
        rnn.weight_hh_l1.mul_(0.1)  # small weights: pruned first under a global threshold
    chosen = select_parameters(rnn, ["input", "recurrent"])
    total = sum(p.numel() for p in chosen.values())
    pruner = Pruner(rnn, ["input", "recurrent"], scope="global")
    before = {n: p.detach().clone() for n, p in chosen.items()}
    pruner.prune(0.6)
    masks = pruner.masks()
    assert sum(int((~m).sum()) for m in masks.values()) == round(0.6 * total)
    kept = torch.cat([before[n][m].abs() for n, m in masks.items()])
    pruned = torch.cat([before[n][~m].abs() for n, m in masks.items()])
    assert kept.min() >= pruned.max()
    sparsity = pruner.sparsity()
    assert sparsity["weight_hh_l1"] > 0.95 and sparsity["weight_hh_l0"] < 0.6
    # the parameters keep their names and hold the zeros
    assert "weight_hh_l0" in dict(rnn.named_parameters())
    for name, mask in masks.items():
        param = getattr(rnn, name)
        assert torch.all(param[~mask] == 0) and torch.equal(param[mask], before[name][mask])


def test_per_matrix_scope():
    rnn = EGRU(5, 16, num_layers=2)
    with torch.no_grad():
        rnn.weight_hh_l1.mul_(0.1)
    pruner = Pruner(rnn, ["input", "recurrent"], scope="matrix")
    pruner.prune(0.6)
    for name, param in pruner.parameters.items():
        assert int((param == 0).sum()) == round(0.6 * param.numel()), name


def test_ties_are_broken_exactly():
    w = {"a": torch.zeros(4, 5), "b": torch.ones(3, 3)}
    masks = magnitude_masks(w, 0.8, "global")
    assert sum(int((~m).sum()) for m in masks.values()) == round(0.8 * 29)
    assert not masks["a"].any()  # the zeros go first
    assert int(masks["b"].sum()) == 29 - 23  # ties among the ones: exactly the count asked for
    assert magnitude_masks(w, 1.0, "matrix")["b"].sum() == 0
    assert magnitude_masks(w, 0.0, "matrix")["b"].all()
    with pytest.raises(ValueError):
        magnitude_masks(w, 1.5)


def test_masks_reapplied_after_optimizer_steps():
    rnn = EGRU(4, 8)
    pruner = Pruner(rnn, "all")
    pruner.prune(0.7)
    optimizer = torch.optim.AdamW(rnn.parameters(), lr=0.05, weight_decay=0.1)
    pruner.attach(optimizer)
    for _ in range(3):
        y, _ = rnn(torch.randn(6, 2, 4))
        optimizer.zero_grad()
        (y.sum() + rnn.weight_hh_l0.sum()).backward()
        optimizer.step()
        for name, mask in pruner.masks().items():
            assert torch.all(pruner.parameters[name][~mask] == 0)
    pruner.detach()
    optimizer.step()  # without the hook the masked weights move again
    assert any(torch.any(pruner.parameters[n][~m] != 0) for n, m in pruner.masks().items())


def test_checkpoint_round_trip():
    lm = EGRULanguageModel(30, 6, [10, 6], tie_weights=True)
    pruner = Pruner(lm, ["recurrent", "input", "embedding"], schedule=CubicSchedule(0.8, frequency=1, n_updates=2))
    for _ in range(4):
        pruner.step()
    state, pruner_state = lm.state_dict(), pruner.state_dict()
    assert {k for k in state if k.endswith("_mask")} == {
        "embedding.weight_mask", "rnn.weight_ih_l0_mask", "rnn.weight_ih_l1_mask",
        "rnn.weight_hh_l0_mask", "rnn.weight_hh_l1_mask"}
    # resume: model, then pruner (registers masks), then load
    fresh = EGRULanguageModel(30, 6, [10, 6], tie_weights=True)
    resumed = Pruner(fresh, ["recurrent", "input", "embedding"], schedule=CubicSchedule(0.8, frequency=1, n_updates=2))
    fresh.load_state_dict(state)
    resumed.load_state_dict(pruner_state)
    assert resumed.step_count == 4
    for name, mask in pruner.masks().items():
        assert torch.equal(resumed.masks()[name], mask)
    # or load into a plain model without a pruner
    plain = EGRULanguageModel(30, 6, [10, 6], tie_weights=True)
    load_pruned_state_dict(plain, state)
    assert torch.equal(plain.rnn.weight_hh_l1, lm.rnn.weight_hh_l1)
    assert torch.equal(plain.rnn.weight_hh_l1_mask, lm.rnn.weight_hh_l1_mask)
    # removing the masks keeps the zeros
    pruner.remove()
    assert not any(k.endswith("_mask") for k in lm.state_dict())
    zeros = sum(int((p == 0).sum()) for p in pruner.parameters.values())
    assert zeros == round(0.8 * sum(p.numel() for p in pruner.parameters.values()))


def test_cubic_schedule_formula():
    s = CubicSchedule(final_sparsity=0.9, initial_sparsity=0.1, begin_step=10, frequency=5, n_updates=4)
    assert s.sparsity_at(9) == 0.0
    assert s.end_step == 30
    for j in range(5):
        t = 10 + 5 * j
        expected = 0.9 + (0.1 - 0.9) * (1 - j / 4) ** 3
        assert s.is_update_step(t)
        assert s.sparsity_at(t) == pytest.approx(expected)
        assert s.sparsity_at(t + 1) == pytest.approx(expected) or t == 30
    assert not s.is_update_step(11) and not s.is_update_step(35)
    assert s.sparsity_at(1000) == pytest.approx(0.9)
    with pytest.raises(ValueError):
        CubicSchedule(1.2)


def test_gradual_pruning_never_revives_weights():
    rnn = EGRU(4, 12)
    pruner = Pruner(rnn, "recurrent", schedule=CubicSchedule(0.9, frequency=2, n_updates=4))
    optimizer = torch.optim.SGD(rnn.parameters(), lr=0.5)
    pruner.attach(optimizer)
    previous = torch.ones_like(rnn.weight_hh_l0, dtype=torch.bool)
    applied = []
    for _ in range(12):
        y, _ = rnn(torch.randn(5, 1, 4))
        optimizer.zero_grad()
        y.sum().backward()
        optimizer.step()
        s = pruner.step()
        if s is not None:
            applied.append(round(s, 4))
        mask = rnn.weight_hh_l0_mask
        assert not torch.any(mask & ~previous)
        previous = mask.clone()
    assert applied == [0.0, round(0.9 * (1 - 0.75 ** 3), 4), round(0.9 * (1 - 0.5 ** 3), 4),
                       round(0.9 * (1 - 0.25 ** 3), 4), 0.9]
    with pytest.raises(RuntimeError):
        Pruner(EGRU(2, 3), "recurrent").step()


def test_prune_and_finetune_rounds():
    rnn = EGRU(3, 8, num_layers=2)
    optimizer = torch.optim.SGD(rnn.parameters(), lr=0.1)
    calls = []

    def finetune(model, sparsity):
        for _ in range(2):
            y, _ = model(torch.randn(4, 1, 3))
            optimizer.zero_grad()
            y.sum().backward()
            optimizer.step()
        calls.append(sparsity)
        return float(sparsity)

    pruner = Pruner(rnn, ["input", "recurrent"])
    history = prune_and_finetune(pruner, [0.5, 0.8, 0.9], finetune, optimizer)
    assert calls == [0.5, 0.8, 0.9]
    assert [round(h["achieved"], 2) for h in history] == [0.5, 0.8, 0.9]
    with pytest.raises(ValueError, match="must not decrease"):
        prune_and_finetune(pruner, [0.9, 0.5], finetune)


def test_prune_and_finetune_schedule_rounds():
    """A schedule round: the fine-tuning drives the schedule; the round ends at its final sparsity."""
    torch.manual_seed(0)
    rnn = EGRU(3, 8, num_layers=2)
    optimizer = torch.optim.SGD(rnn.parameters(), lr=0.1)
    seen = []

    def finetune(model, sparsity, steps=3):
        for _ in range(steps):
            y, _ = model(torch.randn(4, 1, 3))
            optimizer.zero_grad()
            y.sum().backward()
            optimizer.step()
            seen.append(pruner.step())
        return sparsity

    pruner = Pruner(rnn, ["input", "recurrent"])
    one_shot, gradual = CubicSchedule.one_shot(0.5), CubicSchedule(0.9, initial_sparsity=0.5, frequency=2, n_updates=2)
    history = prune_and_finetune(pruner, [one_shot, gradual], finetune, optimizer)
    # one-shot: updates at steps 0 and 1 (both 0.5); gradual, from step 0 again: 0.5, then 0.9 - 0.4 / 2**3
    assert seen == [0.5, 0.5, None, 0.5, None, pytest.approx(0.85)]
    assert pruner.schedule is gradual and pruner.step_count == 3
    # the gradual schedule's last update (step 4) was not reached: the round still ends at 0.9
    assert [h["sparsity"] for h in history] == [0.5, 0.9]
    assert [round(h["achieved"], 2) for h in history] == [0.5, 0.9]
    with pytest.raises(ValueError, match="must not decrease, got 0.0 after 0.9"):
        prune_and_finetune(pruner, [0.9, CubicSchedule(0.95)], finetune)   # would start again from 0


def test_export_sees_the_zeros(tmp_path):
    from converters import snntorch_bridge as converters

    rnn = EGRU(4, 16, num_layers=2)
    Pruner(rnn, ["input", "recurrent"]).prune(0.9)
    path = converters.export_snntorch(rnn, tmp_path / "pruned.h5")
    again = converters.load_snntorch(path)
    for k in range(2):
        assert torch.equal(again.weight_hh_l0 if k == 0 else again.weight_hh_l1, getattr(rnn, f"weight_hh_l{k}"))


def test_pruner_group_holds_one_pruner_and_schedules_the_other():
    from snntorch_egru import EGRULanguageModel
    from snntorch_egru.pruning import CubicSchedule, Pruner, PrunerGroup
    torch.manual_seed(0)
    lm = EGRULanguageModel(40, 6, [10, 6], tie_weights=True)
    rnn = Pruner(lm, targets=["input", "recurrent"])
    rnn.prune(0.9)
    held = {k: v.clone() for k, v in rnn.masks().items()}
    readout = Pruner(lm, targets=["readout"], schedule=CubicSchedule(final_sparsity=0.5, begin_step=0, frequency=2,
                                                                     n_updates=2))
    group = PrunerGroup(rnn, readout)
    optimizer = torch.optim.SGD(lm.parameters(), lr=0.1)
    group.attach(optimizer)
    tokens = torch.randint(0, 40, (12, 3))
    for _ in range(5):
        loss = lm(tokens)[0].pow(2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        group.step()
    group.detach()
    assert all(torch.equal(rnn.masks()[k], held[k]) for k in held)          # no schedule: masks held
    assert group.sparsity()["embedding.weight"] == pytest.approx(0.5, abs=0.01)
    assert set(group.masks()) == set(held) | {"embedding.weight"}
    state = group.state_dict()
    assert state == {"pruners": [{"step_count": 0}, {"step_count": 5}]}
    group.load_state_dict(state)
    with pytest.raises(ValueError, match="same model"):
        PrunerGroup(rnn, Pruner(EGRULanguageModel(40, 6, [10, 6], tie_weights=True), targets=["readout"]))
    with pytest.raises(ValueError, match="must belong to one pruner"):
        PrunerGroup(rnn, Pruner(lm, targets=["recurrent"]))
    with pytest.raises(TypeError):
        PrunerGroup()
    with pytest.raises(ValueError, match="holds 1 pruners"):
        group.load_state_dict({"pruners": [{"step_count": 0}]})
