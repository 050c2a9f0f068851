"""A small EGRU learns delayed XOR on CPU in well under a minute while activity sparse."""

from egru.delayed_xor import DelayedXorConfig, train_delayed_xor


def test_egru_learns_delayed_xor_while_activity_sparse():
    result = train_delayed_xor(DelayedXorConfig(steps=400, seed=0))
    assert result["accuracy"] >= 0.95, f"test accuracy {result['accuracy']:.3f} < 0.95"
    assert result["activity"] <= 0.3, f"activity {result['activity']:.3f}: fewer than 70% of outputs are zero"
    assert result["activity"] > 0.0


def test_training_is_reproducible_with_the_same_seed():
    config = DelayedXorConfig(steps=20, seed=3)
    a, b = train_delayed_xor(config), train_delayed_xor(config)
    assert a["accuracy"] == b["accuracy"] and a["activity"] == b["activity"]
    for (name, p), q in zip(a["model"].named_parameters(), b["model"].parameters()):
        assert p.equal(q), name
