"""Fixtures of the format's tests."""

from __future__ import annotations

import pytest

from egru_format import write_network
from tests.egru_format._helpers import egru_spec


@pytest.fixture
def good_file(tmp_path):
    """A valid two-layer EGRU file with every weight matrix stored as CSR."""
    path = tmp_path / "net.h5"
    write_network(egru_spec(), path, sparse=True)
    return path
