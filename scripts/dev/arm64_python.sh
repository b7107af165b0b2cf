#!/usr/bin/env bash
# Extract Debian bookworm's arm64 CPython 3.11 and the libraries it needs into a folder
# (recipe: /work/shared/ARM64.md): `qemu-aarch64-static -L ROOT ROOT/usr/bin/python3.11`
# then runs it here. Installing python3.11:arm64 through apt would break the host Python.
# Usage: scripts/dev/arm64_python.sh ROOT   (nothing to do when ROOT has it already)
set -euo pipefail
ROOT="${1:?usage: arm64_python.sh ROOT}"
[ -x "$ROOT/usr/bin/python3.11" ] && exit 0
if ! dpkg --print-foreign-architectures | grep -qx arm64; then
  echo "arm64 is not a dpkg architecture here: dpkg --add-architecture arm64 && apt-get update" >&2
  exit 1
fi
debs=(python3.11-minimal libpython3.11-minimal libpython3.11-stdlib libc6 libffi8 zlib1g
  libexpat1 libssl3 libbz2-1.0 liblzma5 libsqlite3-0 libuuid1 libncursesw6 libtinfo6
  libreadline8 libdb5.3 libgdbm6 libnsl2 libtirpc3 libcrypt1 libgcc-s1 libstdc++6)
echo ">> extracting arm64 CPython 3.11 into $ROOT"
tmp="$ROOT.debs"
rm -rf "$tmp" "$ROOT" && mkdir -p "$tmp" "$ROOT"
# (As root apt warns that it downloads unsandboxed into this folder: harmless, filtered.)
(cd "$tmp" && apt-get download -qq "${debs[@]/%/:arm64}") 2> >(grep -v unsandboxed >&2)
for d in "$tmp"/*.deb; do dpkg -x "$d" "$ROOT"; done
rm -rf "$tmp"
