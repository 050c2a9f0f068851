#!/usr/bin/env bash
# Create or reuse the project's two virtual environments, inside the repo:
#
#   .venv/lava    Python 3.10 + lava-nc 0.10.0 + lava-dl 0.6.0 (+ torch 2.3.1,
#                 numpy<2): the full stack, `pip install -e ".[lava,test]"`.
#   .venv/modern  the default python3 (>= 3.11) + torch ${EGRU_TORCH_SPEC_VERSION:-2.13.0}
#                 + numpy>=2 + snntorch 1.0.0: everything that does not need Lava.
#
# Use it either way:
#   bash scripts/env.sh [modern|lava|all]      (default: all)
#   source scripts/env.sh; egru_env_modern; egru_env_lava
#
# Each venv holds a stamp file with a hash of pyproject.toml, this script and
# the requested versions. If the venv works and its stamp matches, nothing is
# installed (fast path). If the stamp differs, the installs are rerun into the
# existing venv. If the venv is broken (its python does not run), it is recreated.
#
# Environment variables:
#   EGRU_PYTHON310            path of a Python 3.10 interpreter for .venv/lava
#   EGRU_PYTHON_MODERN        interpreter for .venv/modern (default: python3, must be >= 3.11)
#   EGRU_TORCH_SPEC_VERSION   torch version for .venv/modern (default: 2.13.0)
#
# Return codes of egru_env_lava / egru_env_modern: 0 ok, 1 install failed,
# 3 no suitable Python interpreter found.

EGRU_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
EGRU_VENV_DIR="$EGRU_ROOT/.venv"
EGRU_STAMP_NAME="egru-env.stamp"
EGRU_NO_PYTHON=3

_egru_log() { echo "[env] $*" >&2; }

# pip, with the harmless "Location 'file:///opt/pypi...' is ignored" lines filtered
# out; returns pip's own exit status whatever the shell options are.
_egru_pip() {
    local py="$1"; shift
    local rc
    if "$py" -m pip --disable-pip-version-check "$@" 2>&1 \
        | { grep -v "is ignored: it is neither a file nor a directory" || true; }; then
        rc=${PIPESTATUS[0]}
    else
        rc=${PIPESTATUS[0]}
    fi
    return "$rc"
}

# Prints the real path of a python whose major.minor is $2 (e.g. 3.10) if
# "$1" runs and has that version; fails otherwise. Pyenv shims that refuse to
# run fail here.
_egru_python_is() {
    local cand="$1" want="$2"
    "$cand" -c "import sys
if '%d.%d' % sys.version_info[:2] != '$want': raise SystemExit(1)
print(sys.executable)" 2>/dev/null
}

egru_python310_help() {
    cat >&2 <<'EOF'
[env] no Python 3.10 found: the Lava stack (lava-nc 0.10.0, lava-dl 0.6.0)
[env]        needs exactly Python 3.10 (>=3.10,<3.11). Get one with any of:
[env]          pyenv install 3.10        (found automatically under $(pyenv root)/versions/3.10.*)
[env]          uv python install 3.10    then: export EGRU_PYTHON310="$(uv python find 3.10)"
[env]          conda create -n py310 python=3.10   then: export EGRU_PYTHON310=<env>/bin/python3.10
[env]        or point EGRU_PYTHON310 at any Python 3.10 interpreter.
[env]        The modern leg (Python >= 3.11, no Lava) can still run:
[env]          EGRU_LEGS=modern bash scripts/test.sh
EOF
}

# Prints the path of a Python 3.10: $EGRU_PYTHON310, else python3.10 on PATH if
# it actually runs, else the newest $(pyenv root)/versions/3.10.*/bin/python3.10.
egru_find_python310() {
    local found
    if [ -n "${EGRU_PYTHON310:-}" ]; then
        if found="$(_egru_python_is "$EGRU_PYTHON310" 3.10)"; then
            echo "$found"; return 0
        fi
        _egru_log "ERROR: EGRU_PYTHON310=$EGRU_PYTHON310 does not run as Python 3.10"
        return "$EGRU_NO_PYTHON"
    fi
    if command -v python3.10 >/dev/null 2>&1 && found="$(_egru_python_is python3.10 3.10)"; then
        echo "$found"; return 0
    fi
    local pyenv_root=""
    if command -v pyenv >/dev/null 2>&1; then
        pyenv_root="$(pyenv root 2>/dev/null || true)"
    fi
    pyenv_root="${pyenv_root:-${PYENV_ROOT:-$HOME/.pyenv}}"
    local cand
    if [ -d "$pyenv_root/versions" ]; then
        while IFS= read -r cand; do
            [ -n "$cand" ] || continue
            if found="$(_egru_python_is "$cand" 3.10)"; then
                echo "$found"; return 0
            fi
        done < <(ls -d "$pyenv_root"/versions/3.10.*/bin/python3.10 2>/dev/null | sort -V -r)
    fi
    return "$EGRU_NO_PYTHON"
}

# Prints the path of the modern-stack Python ($EGRU_PYTHON_MODERN or python3), >= 3.11.
egru_find_python_modern() {
    local cand="${EGRU_PYTHON_MODERN:-python3}" info
    if ! info="$("$cand" -c 'import sys; print("%d.%d" % sys.version_info[:2], sys.executable)' 2>/dev/null)"; then
        _egru_log "ERROR: $cand does not run; the modern leg needs Python >= 3.11 (set EGRU_PYTHON_MODERN)"
        return "$EGRU_NO_PYTHON"
    fi
    local ver="${info%% *}" exe="${info#* }"
    if [ "${ver%%.*}" -lt 3 ] || { [ "${ver%%.*}" -eq 3 ] && [ "${ver#*.}" -lt 11 ]; }; then
        _egru_log "ERROR: $cand is Python $ver; the modern leg needs Python >= 3.11 (set EGRU_PYTHON_MODERN)"
        return "$EGRU_NO_PYTHON"
    fi
    echo "$exe"
}

# Stamp: hash of pyproject.toml, this script and the extra text given.
_egru_stamp() {
    {
        cat "$EGRU_ROOT/pyproject.toml" "$EGRU_ROOT/scripts/env.sh"
        printf '%s\n' "$@"
    } | sha256sum | cut -d' ' -f1
}

# _egru_ensure_venv NAME MAJOR.MINOR FIND_FN INSTALL_FN STAMP_EXTRA...
_egru_ensure_venv() {
    local name="$1" want="$2" find_fn="$3" install_fn="$4"; shift 4
    local venv="$EGRU_VENV_DIR/$name"
    local stamp; stamp="$(_egru_stamp "$name" "$want" "$@")"
    local healthy=0
    if [ -e "$venv" ]; then
        if _egru_python_is "$venv/bin/python" "$want" >/dev/null; then
            healthy=1
        else
            _egru_log ".venv/$name is broken or not Python $want; recreating it"
            rm -rf "$venv"
        fi
    fi
    if [ "$healthy" = 1 ] && [ -f "$venv/$EGRU_STAMP_NAME" ] \
        && [ "$(cat "$venv/$EGRU_STAMP_NAME")" = "$stamp" ]; then
        _egru_log ".venv/$name is up to date; skipping installs"
        return 0
    fi
    if [ "$healthy" = 0 ]; then
        local base rc=0
        base="$("$find_fn")" || rc=$?
        if [ "$rc" -ne 0 ]; then return "$rc"; fi
        _egru_log "creating .venv/$name with $base ..."
        mkdir -p "$EGRU_VENV_DIR"
        if ! "$base" -m venv "$venv"; then
            _egru_log "ERROR: '$base -m venv $venv' failed"
            rm -rf "$venv"
            return 1
        fi
    else
        _egru_log ".venv/$name exists but pyproject.toml or scripts/env.sh changed; reinstalling"
    fi
    rm -f "$venv/$EGRU_STAMP_NAME"
    local t0=$SECONDS
    if ! "$install_fn" "$venv/bin/python"; then
        _egru_log "ERROR: installing into .venv/$name failed (see pip's messages above)"
        return 1
    fi
    echo "$stamp" > "$venv/$EGRU_STAMP_NAME"
    _egru_log ".venv/$name ready ($((SECONDS - t0)) s of installs)"
}

_egru_install_lava() {
    local py="$1"
    _egru_log "pip install -e \".[lava,test]\" (lava-nc, lava-dl, torch 2.3.1; large download the first time) ..."
    _egru_pip "$py" install -q -e "$EGRU_ROOT[lava,test]" || return
    _egru_install_neurobench "$py"
}

# NeuroBench's metrics need only torch and snntorch; its declared dependencies (numba,
# tonic, torchaudio pinning torch) would replace the stack, hence --no-deps.
_egru_install_neurobench() {
    _egru_log "pip install --no-deps neurobench==2.3.0 (operation-count cross-check) ..."
    _egru_pip "$1" install -q --no-deps "neurobench==2.3.0"
}

_egru_install_modern() {
    local py="$1" torch_version="${EGRU_TORCH_SPEC_VERSION:-2.13.0}"
    _egru_log "pip install torch==$torch_version ..."
    _egru_pip "$py" install -q "torch==$torch_version" || return
    _egru_log "pip install -e \".[test]\" numpy>=2 snntorch==1.0.0 ..."
    _egru_pip "$py" install -q -e "$EGRU_ROOT[test]" "numpy>=2" "snntorch==1.0.0" || return
    _egru_install_neurobench "$py"
}

# .venv/lava: the full stack on Python 3.10.
egru_env_lava() {
    local rc=0
    _egru_ensure_venv lava 3.10 egru_find_python310 _egru_install_lava || rc=$?
    if [ "$rc" -eq "$EGRU_NO_PYTHON" ] && [ -z "${EGRU_PYTHON310:-}" ]; then
        egru_python310_help
    fi
    return "$rc"
}

# .venv/modern: the default python3 (>= 3.11), numpy 2, torch ${EGRU_TORCH_SPEC_VERSION:-2.13.0}.
egru_env_modern() {
    local want info
    # The venv keeps the minor version of the interpreter it was made with.
    if info="$(egru_find_python_modern)"; then
        want="$("$info" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
    else
        return "$EGRU_NO_PYTHON"
    fi
    _egru_ensure_venv modern "$want" egru_find_python_modern _egru_install_modern \
        "torch==${EGRU_TORCH_SPEC_VERSION:-2.13.0}"
}

egru_venv_python() { echo "$EGRU_VENV_DIR/$1/bin/python"; }

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    set -euo pipefail
    what="${1:-all}"
    case "$what" in
        modern) egru_env_modern ;;
        lava) egru_env_lava ;;
        all) rc=0; egru_env_modern || rc=$?; egru_env_lava || rc=$?; exit "$rc" ;;
        *) echo "usage: bash scripts/env.sh [modern|lava|all]" >&2; exit 2 ;;
    esac
fi
