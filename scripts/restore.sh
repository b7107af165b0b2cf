#!/usr/bin/env bash
# Restore a pi5trading backup: `pi5trading restore` from the install's virtualenv, with the
# install's settings. It verifies the backup's checksum, refuses while the server is running
# (stop it first: sudo systemctl stop pi5trading), takes a safety backup, restores and
# reports every table's row count.
#
#   sudo systemctl stop pi5trading
#   sudo -u pi5trading restore.sh --latest
#   sudo -u pi5trading restore.sh /var/lib/pi5trading/backups/pi5trading-trading-20261203T020000Z.dump
#   sudo systemctl start pi5trading
#
# Environment: PI5TRADING_VENV (default /opt/pi5trading/venv), PI5TRADING_ENV_FILE (default
# /etc/pi5trading/env, read when readable; the environment wins over it). Exit status: pi5trading's (1 on any failure).
set -euo pipefail

venv=${PI5TRADING_VENV:-/opt/pi5trading/venv}
env_file=${PI5TRADING_ENV_FILE:-/etc/pi5trading/env}

if [ -r "$env_file" ]; then
  # Exported as written (no shell expansion: a '$' in a password stays a '$'); a variable
  # already in the environment wins over the file.
  while IFS= read -r line || [ -n "$line" ]; do
    [[ $line =~ ^([A-Za-z_][A-Za-z0-9_]*)= ]] || continue
    [ -n "${!BASH_REMATCH[1]+set}" ] || export "${line?}"
  done <"$env_file"
fi

if [ -x "$venv/bin/pi5trading" ]; then
  exec "$venv/bin/pi5trading" restore "$@"
fi
command -v pi5trading >/dev/null || {
  echo "restore.sh: pi5trading not found in $venv/bin or on the PATH (set PI5TRADING_VENV)" >&2
  exit 1
}
exec pi5trading restore "$@"
