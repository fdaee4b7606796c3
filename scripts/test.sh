#!/usr/bin/env bash
# Runs the whole test suite on a fresh machine: sets up what is missing, then pytest; a full run
# (no arguments) then builds the desktop app as a release does (a client-only environment,
# PyInstaller) and smoke-tests it with nothing but a model archive packed from the installed
# model: about two minutes on two cores.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --no-run
export QT_QPA_PLATFORM=offscreen
# The workflows: action versions whose runtime GitHub retires, expressions, job graph.
.venv/bin/actionlint
.venv/bin/python -m pytest -q "$@"
if [ $# -eq 0 ]; then
  .venv/bin/capswriter --models-dir models models pack whisper-base --output dist
  bash scripts/build_frozen.sh
  bash scripts/smoke_frozen.sh build/frozen/dist/CapsWriter dist/capswriter-model-whisper-base-*.tar.gz
fi
