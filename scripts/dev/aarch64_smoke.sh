#!/usr/bin/env bash
# Smoke-test the cross-built aarch64 wheel under qemu with an emulated CPython 3.11
# (recipe: /work/shared/ARM64.md). Needs qemu-user-static (`make wheel-aarch64` installs it).
#   1. unpack Debian bookworm's arm64 CPython 3.11 and its libraries into $CACHE/root
#      (apt-get download + dpkg -x: installing python3.11:arm64 would break the host Python),
#   2. pip install (on the host, for aarch64) the wheel with --no-deps plus the runtime deps
#      the smoke imports (numpy, msgspec; versions from constraints.txt) into a fresh site dir,
#   3. run scripts/dev/aarch64_smoke.py under qemu-aarch64-static.
# Usage: scripts/dev/aarch64_smoke.sh [WHEEL]   (default: newest dist/*aarch64.whl)
set -euo pipefail
cd "$(dirname "$0")/../.."
CACHE="${AARCH64_CACHE:-.cache/aarch64}"
ROOT="$CACHE/root"
SITE="$CACHE/site"
PIP="${PIP:-.venv/bin/pip}"

wheel="${1:-$(ls -t dist/pi5trading-*aarch64*.whl 2>/dev/null | head -1)}"
if [ -z "$wheel" ] || [ ! -f "$wheel" ]; then
  echo "no aarch64 wheel in dist/: run 'make wheel-aarch64' first" >&2
  exit 1
fi
command -v qemu-aarch64-static >/dev/null || {
  echo "qemu-aarch64-static missing: apt-get install qemu-user-static" >&2
  exit 1
}

scripts/dev/arm64_python.sh "$ROOT"

echo ">> installing $(basename "$wheel") + numpy, msgspec (aarch64) into $SITE"
rm -rf "$SITE"
# Several manylinux tags: numpy's aarch64 wheels are manylinux_2_28 (the Pi OS bookworm
# glibc is 2.36, as is the extracted libc6); the project wheel itself is manylinux2014.
plat=(--platform manylinux2014_aarch64 --platform manylinux_2_28_aarch64
  --platform manylinux_2_36_aarch64)
# numpy and msgspec have no dependencies of their own, so one --no-deps install does.
"$PIP" install -q --target "$SITE" "${plat[@]}" --python-version 3.11 --implementation cp \
  --only-binary=:all: --no-deps -c constraints.txt "$wheel" numpy msgspec

echo ">> running the smoke under qemu-aarch64-static"
start=$(date +%s)
PYTHONPATH="$SITE" PYTHONDONTWRITEBYTECODE=1 \
  qemu-aarch64-static -L "$ROOT" "$ROOT/usr/bin/python3.11" scripts/dev/aarch64_smoke.py
echo ">> smoke passed in $(($(date +%s) - start)) s (emulated)"
