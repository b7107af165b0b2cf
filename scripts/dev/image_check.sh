#!/usr/bin/env bash
# `make image-check`: build the arm64 image from deployments/Dockerfile here, without a
# Docker engine (buildah, qemu through binfmt_misc), with the aarch64 wheel in dist/, then
# run it with podman and use it (scripts/dev/image_check.py says what is checked). Results:
# test-artifacts/image/image.json. Root only: binfmt_misc registration, container storage.
# Usage: scripts/dev/image_check.sh [--no-archive]
set -euo pipefail
cd "$(dirname "$0")/../.."
PY="${PY:-.venv/bin/python}"

if [ "$(id -u)" -ne 0 ]; then
  echo "image check: needs root (binfmt_misc, buildah/podman storage)" >&2
  exit 1
fi
missing=()
for cmd in mmdebstrap buildah podman runc catatonit qemu-aarch64-static gzip; do
  command -v "$cmd" >/dev/null 2>&1 || [ -x "/usr/libexec/podman/$cmd" ] || missing+=("$cmd")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "image check: missing ${missing[*]} (scripts/dev/system_deps.sh image installs them)" >&2
  exit 1
fi

# qemu-aarch64 through binfmt_misc, so the build's arm64 RUN steps and the container run
# emulated. The mount is not there at boot on a machine without systemd. Debian's entry has
# the F flag: the interpreter is opened now, no qemu inside the image is needed.
mountpoint -q /proc/sys/fs/binfmt_misc || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
if [ ! -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]; then
  cat /usr/lib/binfmt.d/qemu-aarch64.conf > /proc/sys/fs/binfmt_misc/register
fi
grep -q '^enabled' /proc/sys/fs/binfmt_misc/qemu-aarch64

exec "$PY" scripts/dev/image_check.py "$@"
