#!/usr/bin/env bash
# Runs the whole test suite on a fresh machine: sets up what is missing, then pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --no-run
export QT_QPA_PLATFORM=offscreen
exec .venv/bin/python -m pytest -q "$@"
