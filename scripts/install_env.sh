# Sourced by backup.sh and restore.sh: run `pi5trading "$@"` from the install's virtualenv
# with the install's settings.
# Environment: PI5TRADING_VENV (default /opt/pi5trading/venv), PI5TRADING_ENV_FILE (default
# /etc/pi5trading/env, read when readable: KEY=value lines, as systemd reads them;
# the environment wins over the file).
# shellcheck shell=bash

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
  exec "$venv/bin/pi5trading" "$@"
fi
command -v pi5trading >/dev/null || {
  echo "$(basename "$0"): pi5trading not found in $venv/bin or on the PATH (set PI5TRADING_VENV)" >&2
  exit 1
}
exec pi5trading "$@"
