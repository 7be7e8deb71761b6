#!/usr/bin/env bash
# Sets up (or reuses) .venv and runs the test suite. Extra arguments go to pytest,
# e.g. `bash scripts/test.sh -m "not slow"`.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup_venv.sh
python -m pytest "$@"
