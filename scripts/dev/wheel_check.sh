#!/usr/bin/env bash
# `make wheel-check`: the wheels as a user gets them. The x86_64 wheel in a fresh native
# virtualenv, the aarch64 wheel in a fresh virtualenv of Debian's arm64 CPython under qemu,
# each with its dependencies from the package index, run outside the checkout
# (scripts/dev/wheel_check.py says what is checked). The aarch64 backtest must give the same
# trades and equity, to the byte, as the x86_64 one. Results: test-artifacts/wheel/*.json.
# Usage: scripts/dev/wheel_check.sh [--expect-dashboard]
set -euo pipefail
cd "$(dirname "$0")/../.."
PY="${PY:-.venv/bin/python}"
ROOT="${AARCH64_CACHE:-.cache/aarch64}/root"
native=$(ls -t dist/pi5trading-*x86_64.whl 2>/dev/null | head -1)
aarch=$(ls -t dist/pi5trading-*aarch64.whl 2>/dev/null | head -1)
if [ -z "$native" ] || [ -z "$aarch" ]; then
  echo "no wheels in dist/: run 'make wheel' first" >&2
  exit 1
fi
"$PY" scripts/dev/wheel_check.py native "$native" "$@"
scripts/dev/arm64_python.sh "$ROOT"
"$PY" scripts/dev/wheel_check.py aarch64 "$aarch" --root "$ROOT" \
  --same-fills-as test-artifacts/wheel/native.json "$@"
