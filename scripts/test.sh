#!/usr/bin/env bash
# Runs the whole test suite on a fresh machine: sets up what is missing, then the linters (ruff,
# mypy, actionlint) and pytest; a full run (no arguments) then builds the desktop app as a release does (a
# client-only environment, PyInstaller) and smoke-tests it with nothing but a model archive
# packed from the installed model. About 20 minutes on two cores (the tests ~15, the build ~4),
# plus the first setup. Any step that fails ends the run and names the steps it skipped.
set -uo pipefail
cd "$(dirname "$0")/.."

step() {  # step NAME COMMAND...: run it; on failure name what is skipped and stop
  local name=$1; shift
  echo "· $name"
  "$@"
  local status=$?
  if [ $status -ne 0 ]; then
    echo "✗ $name failed (exit $status)${SKIPPED:+; skipped: $SKIPPED}" >&2
    exit $status
  fi
}

bash scripts/setup.sh --no-run || { echo "✗ setup failed; nothing was tested" >&2; exit 1; }
export QT_QPA_PLATFORM=offscreen
if [ $# -eq 0 ]; then
  SKIPPED="mypy, the tests, the desktop build and its smoke test"
  step "ruff" .venv/bin/ruff check capswriter tests scripts
  SKIPPED="actionlint, the tests, the desktop build and its smoke test"
  step "mypy" .venv/bin/mypy
  SKIPPED="the tests, the desktop build and its smoke test"
  # The workflows: action versions whose runtime GitHub retires, expressions, job graph.
  step "actionlint" .venv/bin/actionlint
  SKIPPED="the desktop build and its smoke test"
fi
# pytest exits 5 when it collected no test: that is a failure here too.
step "pytest" .venv/bin/python -m pytest -q "$@"
if [ $# -eq 0 ]; then
  SKIPPED="the desktop build and its smoke test"
  step "packing the model" .venv/bin/capswriter --models-dir models models pack whisper-base \
    --output dist
  SKIPPED="the smoke test of the desktop build"
  step "building the desktop app" bash scripts/build_frozen.sh
  SKIPPED=""
  step "smoke-testing the desktop app" bash scripts/smoke_frozen.sh build/frozen/dist/CapsWriter \
    dist/capswriter-model-whisper-base-*.tar.gz
fi
