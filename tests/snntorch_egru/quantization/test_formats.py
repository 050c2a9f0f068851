"""The formats (snntorch_egru.quantization.formats): the gate format, and the names that moved to the hub
(egru_format) still read from here with a DeprecationWarning."""

from __future__ import annotations

import pytest

from egru_format import FRAC_GATE


def test_frac_gate_constant():
    assert FRAC_GATE == 12


@pytest.mark.parametrize("name", ["LayerQuantization", "FRAC_GATE", "INT24_MAX", "OVERFLOW_KEYS"])
def test_former_re_exports_are_deprecated(name):
    import egru_format
    from snntorch_egru import quantization
    from snntorch_egru.quantization import formats

    hub_name = "EGRUQuantization" if name == "LayerQuantization" else name
    for module in (quantization, formats):
        with pytest.warns(DeprecationWarning, match=f"egru_format.{hub_name}"):
            assert getattr(module, name) is getattr(egru_format, hub_name)
    with pytest.raises(AttributeError):
        quantization.NOT_A_NAME
