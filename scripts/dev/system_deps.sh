#!/usr/bin/env bash
# Install (as root) or name (otherwise) the Debian packages that `make run` / `make test` need.
# Usage: scripts/dev/system_deps.sh run|test|image
set -euo pipefail
what="${1:-test}"

# Build: a C toolchain for the Rust linker and Python packages with C parts.
pkgs=(build-essential pkg-config ca-certificates git)
if [ "$what" = "test" ]; then
  # Real services for the integration tests (started by the fixtures, never as system services).
  pkgs+=(postgresql redis-server)
  # wrk: the C HTTP load client of benches/api_orders_wrk.py (PERFORMANCE.md "API").
  pkgs+=(wrk)
  # Headless browser for report and dashboard tests (Debian's build: no browser download).
  pkgs+=(chromium fonts-dejavu-core)
  # Shell scripts (backup, restore, install) are linted by the tests.
  pkgs+=(shellcheck)
  # TimescaleDB is built from source (../shared/vendor/timescaledb/build.sh, below): as root,
  # its build dependencies come with the rest.
  if [ "$(id -u)" -eq 0 ]; then pkgs+=(cmake postgresql-server-dev-all); fi
fi
if [ "$what" = "image" ]; then
  # The arm64 image check (make image-check, scripts/dev/image_check.sh): an arm64 Debian
  # base (mmdebstrap), qemu through binfmt_misc, buildah to build, podman to run with runc
  # (crun refuses hybrid cgroups) and catatonit for --init.
  pkgs=(qemu-user-static mmdebstrap arch-test buildah podman runc catatonit)
fi

# The dashboard (frontend/): Node.js >= 20.19 with npm. Debian's nodejs and npm when none is
# on the PATH (a newer one from elsewhere is used as it is).
node_ok() {
  command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 &&
    node -e 'const [a,b]=process.versions.node.split(".").map(Number);process.exit(a>20||(a===20&&b>=19)?0:1)'
}
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  if [ "$what" = "test" ] || [ "$(id -u)" -eq 0 ]; then
    pkgs+=(nodejs npm)
  fi
fi

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

have_cargo=1
command -v cargo >/dev/null 2>&1 || [ -x "$HOME/.cargo/bin/cargo" ] || have_cargo=0
if [ "$have_cargo" = 0 ]; then
  # Debian's newer Rust (bookworm-security); rustup's toolchain is used when present.
  missing+=(rustc-web cargo-web)
fi

check_node() {
  if [ "$what" = "test" ] && ! node_ok; then
    echo "The dashboard's tests need Node.js >= 20.19 with npm (found: $(node --version 2>/dev/null || echo none)): install a newer nodejs" >&2
    exit 1
  fi
}

# TimescaleDB for the tests' third storage backend: no Debian package, so built from the
# source in ../shared (beside the checkout) for Debian's PostgreSQL. Idempotent; about two
# minutes the first time. Without root it is only checked: the TimescaleDB tests then skip,
# each naming this command.
timescale() {
  local root build
  root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
  build="$root/../shared/vendor/timescaledb/build.sh"
  if [ "$(id -u)" -eq 0 ]; then
    if [ ! -f "$build" ]; then
      # As root the tests require it (CI clones the repository with ../shared beside it).
      echo "TimescaleDB source not found: $build (clone the repository with ../shared beside it)" >&2
      exit 1
    fi
    local version
    version=$(sed -n 's/^version=//p' "$build" | head -1)
    if [ "${PI5_TIMESCALEDB_BACKGROUND:-0}" = 1 ] &&
      ! ls /usr/share/postgresql/*/extension/"timescaledb--$version.sql" >/dev/null 2>&1; then
      # make test: the build (about 2.5 minutes of both cores) runs beside the virtualenv,
      # the core and the lint gates; `make test-py` waits for it (timescaledb_wait.sh).
      local state="$root/.cache/timescaledb"
      mkdir -p "$state" && rm -f "$state/build.rc"
      echo ">> building TimescaleDB in the background (log: .cache/timescaledb/build.log)"
      ( bash "$build" >"$state/build.log" 2>&1; echo $? >"$state/build.rc" ) \
        </dev/null >/dev/null 2>&1 &
      echo $! >"$state/build.pid"
    else
      bash "$build"
    fi
  elif ! ls /usr/share/postgresql/*/extension/timescaledb.control >/dev/null 2>&1; then
    echo "TimescaleDB is not installed: its tests will be SKIPPED. Install it with:" >&2
    echo "  sudo scripts/dev/system_deps.sh test     (runs $build)" >&2
  fi
}

if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then
    echo ">> installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    if [ "${PI5_APT_UPDATED:-0}" != 1 ]; then apt-get update -q; fi
    apt-get install -y -q --no-install-recommends "${missing[@]}"
  else
    echo "Missing Debian packages: ${missing[*]}" >&2
    echo "Install them with:  sudo apt-get install ${missing[*]}" >&2
    exit 1
  fi
fi
check_node
if [ "$what" = "test" ]; then timescale; fi
