#!/usr/bin/env bash
# `make test-py`: wait for the TimescaleDB build that `make test` started in the background
# (scripts/dev/system_deps.sh with PI5_TIMESCALEDB_BACKGROUND=1); nothing to do when none
# was started. A failed build stops here with its log's end.
set -euo pipefail
state="$(cd "$(dirname "$0")/../.." && pwd)/.cache/timescaledb"
[ -f "$state/build.log" ] || exit 0
waited=0
while [ ! -f "$state/build.rc" ]; do
  if [ "$waited" -eq 0 ]; then echo ">> waiting for the TimescaleDB build (.cache/timescaledb/build.log)"; fi
  if ! kill -0 "$(cat "$state/build.pid" 2>/dev/null || echo 0)" 2>/dev/null && [ ! -f "$state/build.rc" ]; then
    echo "the TimescaleDB build stopped without finishing (interrupted?): run" >&2
    echo "  sudo scripts/dev/system_deps.sh test" >&2
    rm -f "$state/build.log" "$state/build.pid"
    exit 1
  fi
  if [ "$waited" -ge 1800 ]; then
    echo "TimescaleDB build still running after 30 minutes: see .cache/timescaledb/build.log" >&2
    exit 1
  fi
  sleep 2
  waited=$((waited + 2))
done
rc=$(cat "$state/build.rc")
if [ "$rc" != 0 ]; then
  echo "TimescaleDB build failed (exit $rc):" >&2
  tail -20 "$state/build.log" >&2
  exit 1
fi
tail -1 "$state/build.log"
rm -f "$state/build.log" "$state/build.rc" "$state/build.pid"
