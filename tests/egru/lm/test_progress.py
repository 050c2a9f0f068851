"""Progress bars that leave the multiprocessing start method alone (egru.lm.progress): Lava imports after a bar."""

import subprocess
import sys

import pytest

from tests.conftest import REPO_ROOT


@pytest.mark.lava
def test_lava_imports_after_a_progress_bar():
    """Lava's import calls multiprocessing.set_start_method("fork"); a tqdm bar shown before
    (training, then Lava, in one process) must not have fixed the context already."""
    code = ("from egru.lm.progress import progress_bar\n"
            "import io\n"
            "for _ in progress_bar(range(3), file=io.StringIO()): pass\n"
            "import lava_egru\n"
            "print('imported')\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and "imported" in proc.stdout, proc.stderr[-2000:]
