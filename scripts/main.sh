#!/usr/bin/env bash
# The project's main job: the end-to-end pipeline on scikit-learn's bundled
# handwritten digits (`egru pipeline "$@"`, i.e. python -m egru pipeline):
# train an EGRU in snnTorch, prune it, export it, quantise it, run it in Lava in
# floating and fixed point, print a report, write plots to outputs/pipeline.
# Runs in the full-stack env .venv/lava (Python 3.10 + Lava); if no Python 3.10
# can be found, falls back to .venv/modern with --no-lava and a note.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=scripts/env.sh
source "$ROOT/scripts/env.sh"

leg=lava
rc=0
egru_env_lava || rc=$?
if [ "$rc" -eq "$EGRU_NO_PYTHON" ]; then
    echo "[main] NOTE: no Python 3.10 for the Lava stack; running in .venv/modern (Python >= 3.11, no Lava) instead" >&2
    leg=modern
    egru_env_modern
elif [ "$rc" -ne 0 ]; then
    echo "[main] ERROR: could not set up .venv/lava (exit $rc)" >&2
    exit "$rc"
fi

extra=()
if [ "$leg" = modern ]; then
    extra=(--no-lava)
fi
echo "[main] running egru pipeline ${extra[*]} $* in .venv/$leg" >&2
exec "$(egru_venv_python "$leg")" -m egru pipeline "${extra[@]}" "$@"
