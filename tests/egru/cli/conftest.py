"""Fixtures of the command-line tests: one quick ``egru pipeline`` run (digits), whose files several tests read."""

import pytest

from egru import cli


@pytest.fixture(scope="session")
def quick_pipeline(tmp_path_factory):
    out = tmp_path_factory.mktemp("pipeline")
    assert cli.main(["pipeline", "--quick", "--output-dir", str(out)]) == 0
    return out
