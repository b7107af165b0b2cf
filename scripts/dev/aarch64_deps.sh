#!/usr/bin/env bash
# Install (as root) or name (otherwise) the Debian packages `make wheel-aarch64` and
# `make smoke-aarch64` need (recipe: /work/shared/ARM64.md). Rust comes from Debian's
# rustc-web/cargo-web, because rustup's toolchain here has no aarch64 standard library.
set -euo pipefail
pkgs=(rustc-web cargo-web libstd-rust-web-dev:arm64 gcc-aarch64-linux-gnu qemu-user-static)

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
  echo ">> installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  dpkg --print-foreign-architectures | grep -qx arm64 || dpkg --add-architecture arm64
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
else
  echo "Missing Debian packages: ${missing[*]}" >&2
  echo "Install them with:" >&2
  dpkg --print-foreign-architectures | grep -qx arm64 || echo "  sudo dpkg --add-architecture arm64" >&2
  echo "  sudo apt-get update && sudo apt-get install ${missing[*]}" >&2
  exit 1
fi
