#!/usr/bin/env bash
# The project's test command. Creates or reuses both virtual environments
# (see scripts/env.sh), then runs pytest in each:
#
#   1. the modern leg (.venv/modern: Python >= 3.11, numpy 2, torch 2.13),
#      EGRU_TEST_LEG=modern: tests marked `lava` are skipped there;
#   2. the full-stack leg (.venv/lava: Python 3.10, Lava, torch 2.3.1),
#      EGRU_TEST_LEG=lava: every test runs, a missing Lava is an error.
#
# Extra arguments go to pytest in both legs:  bash scripts/test.sh -k foo
# One leg only:  EGRU_LEGS=modern bash scripts/test.sh   (or EGRU_LEGS=lava)
# Exits non-zero if a leg fails, cannot set up its environment, or collects
# no test (pytest exit 5).
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=scripts/env.sh
source "$ROOT/scripts/env.sh"

legs="${EGRU_LEGS:-modern lava}"
legs="${legs//,/ }"
for leg in $legs; do
    case "$leg" in
        modern|lava) ;;
        *) echo "[test] ERROR: unknown leg '$leg' in EGRU_LEGS (use modern, lava or both)" >&2; exit 2 ;;
    esac
done

declare -A env_rc=() result=()

# 1. environments
for leg in $legs; do
    rc=0
    "egru_env_$leg" || rc=$?
    env_rc[$leg]=$rc
    if [ "$rc" -ne 0 ]; then
        echo "[test] ERROR: could not set up .venv/$leg (exit $rc); the $leg leg will not run" >&2
    fi
done

# 2. tests
for leg in $legs; do
    if [ "${env_rc[$leg]}" -ne 0 ]; then
        result[$leg]="FAILED (environment .venv/$leg could not be set up)"
        continue
    fi
    echo
    echo "[test] ===== $leg leg: .venv/$leg, EGRU_TEST_LEG=$leg ====="
    t0=$SECONDS
    rc=0
    EGRU_TEST_LEG="$leg" "$(egru_venv_python "$leg")" -m pytest \
        -o cache_dir=".pytest_cache/$leg" "$@" || rc=$?
    took=$((SECONDS - t0))
    case "$rc" in
        0) result[$leg]="passed (pytest exit 0, ${took} s)" ;;
        5) result[$leg]="FAILED (pytest exit 5: no tests collected, ${took} s)" ;;
        *) result[$leg]="FAILED (pytest exit $rc, ${took} s)" ;;
    esac
done

# 3. summary
echo
echo "[test] ===== summary ====="
status=0
for leg in $legs; do
    printf '[test] %-7s leg: %s\n' "$leg" "${result[$leg]}"
    case "${result[$leg]}" in passed*) ;; *) status=1 ;; esac
done
exit "$status"
