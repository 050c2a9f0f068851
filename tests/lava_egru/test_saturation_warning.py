"""``lava_egru.simulate(..., precision="fixed_pt")`` warns (``SaturationWarning``, a
``RuntimeWarning``) whenever an overflow counter fired, in the default API too: saturation
is never silent. One short simulation of a small quantised network driven out of range."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import converters  # noqa: E402
from snntorch_egru import EGRU  # noqa: E402
from snntorch_egru.quantization import calibrate  # noqa: E402

pytestmark = pytest.mark.lava


def test_fixed_point_saturation_warns_in_the_default_api(tmp_path):
    from lava_egru import simulate
    from lava_egru.simulation import SaturationWarning, saturation_message

    assert issubclass(SaturationWarning, RuntimeWarning)
    torch.manual_seed(7)
    model = EGRU(2, 5, threshold=0.05)
    spec = calibrate(model, torch.randn(50, 2, 2))
    network = converters.load_lava(converters.export(model, tmp_path / "q.h5", quantization=spec))
    x = np.array([[0.5, -0.25], [1e9, -1e9], [3.0, 0.1], [-1e30, 0.1]])   # 3 inputs beyond 24 bits
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        output = simulate(network, x, precision="fixed_pt")                # the default API: an array
    assert isinstance(output, np.ndarray) and output.shape == (4, 5)
    saturation = [w for w in caught if issubclass(w.category, SaturationWarning)]
    assert len(saturation) == 1, [str(w.message) for w in caught]
    message = str(saturation[0].message)
    assert "saturated" in message and "layer/0: input 3" in message
    assert saturation[0].filename == __file__                              # points at the caller
    assert saturation_message({"layer/0": {"input": 0}, "layer/1": {"preact": 0}}) is None
