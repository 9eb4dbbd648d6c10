#!/usr/bin/env bash
# The newest releases on Python 3.12, in two fresh virtualenvs (no constraints file):
#   newest:   pip install -e ".[test]", then pip install -U jax jaxlib flax optax
#             orbax-checkpoint chex (the newest the registry serves);
#   jax0112:  pip install -e ".[test]" jax==0.11.2 jaxlib==0.11.2 (the rest as the
#             resolver picks within setup.cfg's ranges).
# Each venv: the versions, `pip check`, the fast part of the suite (pytest -m "not slow"),
# a synthetic runlocal LOSO (configs/synthetic.py:runlocal), and one PASS/FAIL line.
#
# Usage: .ci/newest_releases.sh [DIR]   (DIR: where the venvs and runs go; default a new
# temporary directory, kept). Python: $PYTHON312, else python3.12 (with pyenv, e.g.
# PYENV_VERSION=3.12.1). Exit status: 0 when both venvs pass.
set -uo pipefail
cd "$(dirname "$0")/.."
DIR="${1:-$(mktemp -d -t mmnet_newest.XXXXXX)}"
mkdir -p "$DIR"
DIR="$(cd "$DIR" && pwd)"
PY="${PYTHON312:-python3.12}"
if ! "$PY" -c 'import sys; assert sys.version_info[:2] == (3, 12)' 2>/dev/null; then
  echo "error: $PY is not a Python 3.12 (set PYTHON312, or PYENV_VERSION=3.12.x)" >&2
  exit 2
fi
echo "dir: $DIR; python: $("$PY" --version); repo: $(git rev-parse --short HEAD 2>/dev/null)"

SUMMARY=()

run_venv() {  # name, then the pip arguments of the -U step (none: no -U step), after --
  local name="$1"; shift
  local extra=() upgrade=()
  while [ $# -gt 0 ] && [ "$1" != "--" ]; do extra+=("$1"); shift; done
  [ $# -gt 0 ] && shift
  upgrade=("$@")
  local v="$DIR/$name" start=$SECONDS ok=1 tests="not run" line="not run"
  echo; echo "=== $name: venv $v"
  rm -rf "$v"
  if "$PY" -m venv "$v" && "$v/bin/pip" install -q -U pip \
      && "$v/bin/pip" install -q -e ".[test]" "${extra[@]}" \
      && { [ ${#upgrade[@]} -eq 0 ] || "$v/bin/pip" install -q -U "${upgrade[@]}"; }; then
    "$v/bin/pip" list 2>/dev/null | grep -E "jax|flax|optax|orbax|chex|numpy|tensorflow"
    "$v/bin/pip" check || echo "($name: pip check reports the above; continuing)"
    local t0=$SECONDS
    "$v/bin/python" -m pytest -q -m "not slow" -p no:cacheprovider --durations=15 \
      2>&1 | tee "$v/pytest.log" | tail -40
    local rc=${PIPESTATUS[0]}
    tests="$(grep -E '(passed|failed|errors?|deselected|no tests ran).* in [0-9.]+s' \
      "$v/pytest.log" | tail -1 | sed 's/=//g; s/^ *//; s/ *$//') (rc $rc, $((SECONDS - t0)) s)"
    [ "$rc" -eq 0 ] || ok=0
    local t1=$SECONDS
    "$v/bin/python" train.py --config configs/synthetic.py:runlocal --workdir "$v/run" \
      --config.compilation_cache_dir= --config.progress_bar=false \
      --config.data.data_dir="$v/tfds" 2>&1 | tee "$v/train.log" | tail -15
    rc=${PIPESTATUS[0]}
    line="$(grep '^LOSO at epoch' "$v/train.log" | tail -1)"
    [ -n "$line" ] || line="$(grep -E '^[A-Za-z.]*(Error|Exception)|^error:' "$v/train.log" \
      | tail -1 | cut -c1-200)"
    line="$line (rc $rc, $((SECONDS - t1)) s)"
    [ "$rc" -eq 0 ] || ok=0
  else
    echo "$name: install failed"; ok=0
  fi
  local verdict=FAIL; [ $ok -eq 1 ] && verdict=PASS
  SUMMARY+=("$verdict $name ($((SECONDS - start)) s): tests: $tests; runlocal: $line")
}

run_venv newest -- jax jaxlib flax optax orbax-checkpoint chex
run_venv jax0112 "jax==0.11.2" "jaxlib==0.11.2"

echo; echo "=== summary ($DIR)"
status=0
for s in "${SUMMARY[@]}"; do echo "$s"; [[ $s == PASS* ]] || status=1; done
exit $status
