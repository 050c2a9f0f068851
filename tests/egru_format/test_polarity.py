"""Format version 3: the event polarity of each EGRU layer (``layer/k/neuron/polarity``).

Written by every writer of this version, read back exactly; files of versions 1 and 2 have no
such entry and load as the positive (reference) neuron; an unknown value, a missing entry in a
version-3 file, or the entry in an older file is a FormatError naming the layer. numpy and h5py
only (no torch).
"""

from __future__ import annotations

import h5py
import pytest

import egru_format as fmt
from egru_format import DenseQuantization, EGRUQuantization, FormatError, InputQuantization, read_network, validate_spec, write_network
from tests.egru_format._helpers import egru_spec, expect_error, lm_spec


def signed_spec(seed=0):
    spec = egru_spec(seed)
    spec.layers[2].polarity = "signed"         # layer 1 positive, layer 2 signed: per layer, not per file
    return spec


def test_polarity_round_trips_per_layer(tmp_path):
    spec = signed_spec()
    path = write_network(spec, tmp_path / "net.h5", sparse=True)
    with h5py.File(path) as f:
        assert int(f.attrs["format_version"]) == fmt.FORMAT_VERSION == 3
        assert f["layer/1/neuron/polarity"][()].tobytes().rstrip(b"\0") == b"positive"
        assert f["layer/2/neuron/polarity"][()].tobytes().rstrip(b"\0") == b"signed"
    back = read_network(path)
    assert [layer.polarity for layer in back.egru_layers] == ["positive", "signed"]
    assert back == spec


def test_quantised_signed_layer_round_trips(tmp_path):
    spec = lm_spec()
    for layer in spec.egru_layers:
        layer.polarity = "signed"
    q = EGRUQuantization(frac_preact=14, frac_state=12, scale_exp_ih=-5, scale_exp_hh=-5)
    spec.layers[0].quantization = InputQuantization(0)
    spec.layers[1].quantization = spec.layers[4].quantization = DenseQuantization(frac_state=12, scale_exp=-5)
    spec.layers[2].quantization = spec.layers[3].quantization = q
    back = read_network(write_network(spec, tmp_path / "lm.h5"))
    assert back.quantized and back == spec
    assert [layer.polarity for layer in back.egru_layers] == ["signed", "signed"]


@pytest.mark.parametrize("version", [1, 2])
def test_older_versions_load_as_the_positive_neuron(tmp_path, version):
    path = write_network(egru_spec(), tmp_path / "old.h5")
    with h5py.File(path, "r+") as f:      # what the writer of that version produced: no polarity entry
        f.attrs["format_version"] = version
        for k in (1, 2):
            del f[f"layer/{k}/neuron/polarity"]
    assert [layer.polarity for layer in read_network(path).egru_layers] == ["positive", "positive"]


def test_polarity_entry_in_an_older_file_is_unknown(tmp_path):
    path = write_network(signed_spec(), tmp_path / "old.h5")
    with h5py.File(path, "r+") as f:      # never read as positive: a version-2 reader knows no such entry
        f.attrs["format_version"] = 2
    expect_error(path, "layer/1/neuron/polarity", "unknown entry in a version-2 file")


def test_missing_polarity_in_version_3(tmp_path):
    path = write_network(egru_spec(), tmp_path / "net.h5")
    with h5py.File(path, "r+") as f:
        del f["layer/2/neuron/polarity"]
    expect_error(path, "layer/2/neuron/polarity", "missing")


@pytest.mark.parametrize("value", ["negative", "Signed", ""])
def test_unknown_polarity_value_names_the_layer_and_the_value(tmp_path, value):
    path = write_network(egru_spec(), tmp_path / "net.h5")
    with h5py.File(path, "r+") as f:
        del f["layer/2/neuron/polarity"]
        f["layer/2/neuron"].create_dataset("polarity", data=value.encode())
    error = expect_error(path, "layer/2/neuron/polarity", f"unknown event polarity {value!r}")
    assert "positive" in str(error) and "signed" in str(error)


@pytest.mark.parametrize("value", ["bipolar", None, 1])
def test_writer_refuses_an_unknown_polarity_and_writes_nothing(tmp_path, value):
    spec = egru_spec()
    spec.layers[1].polarity = value
    with pytest.raises(FormatError, match="layer/1/neuron/polarity: unknown event polarity"):
        validate_spec(spec)
    with pytest.raises(FormatError, match="layer/1/neuron/polarity"):
        write_network(spec, tmp_path / "net.h5")
    assert list(tmp_path.iterdir()) == []
