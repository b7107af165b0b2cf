#!/usr/bin/env bash
# Back the pi5trading database up: `pi5trading backup` from the install's virtualenv, with
# the install's settings. For cron (scripts/setup_cron.sh) and by hand; the systemd timer
# (deployments/systemd/pi5trading-backup.timer) runs the same command.
#
#   backup.sh                      # PostgreSQL: pg_dump; SQLite: the online backup API
#   backup.sh --copy-to /media/usb # also copy it to a USB stick (must be mounted)
#   backup.sh --list               # the backups, their size, time and checksum
#
# Environment: PI5TRADING_VENV (default /opt/pi5trading/venv), PI5TRADING_ENV_FILE (default
# /etc/pi5trading/env, read when readable: KEY=value lines, as systemd reads them;
# the environment wins over the file).
# Exit status: pi5trading's (1 when the backup failed; a Gotify alert went out if set up).
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
  exec "$venv/bin/pi5trading" backup "$@"
fi
command -v pi5trading >/dev/null || {
  echo "backup.sh: pi5trading not found in $venv/bin or on the PATH (set PI5TRADING_VENV)" >&2
  exit 1
}
exec pi5trading backup "$@"
