"""The digits pipeline's helpers (egru.pipelines.digits)."""

import numpy as np


def test_replicate_spec_is_block_diagonal_without_negative_zeros():
    import torch

    from egru.pipelines.digits import DigitsClassifier, classifier_spec, replicate_spec
    torch.manual_seed(0)
    spec = classifier_spec(DigitsClassifier(hidden=5))
    copies = replicate_spec(spec, 3)
    egru, big = spec.layers[1], copies.layers[1]
    for name in ("weight_ih", "weight_hh"):
        small, large = getattr(egru, name), getattr(big, name)
        assert large.shape == (3 * small.shape[0], 3 * small.shape[1])
        assert not np.any((large == 0) & np.signbit(large))            # no -0.0 (stored as entries)
        assert np.count_nonzero(large) == 3 * np.count_nonzero(small)
        h = small.shape[0] // 3                                         # copy 1's reset-gate block
        np.testing.assert_array_equal(large[h:2 * h, small.shape[1]:2 * small.shape[1]], small[:h])
    dense = copies.layers[2].weight
    assert not np.any((dense == 0) & np.signbit(dense))
