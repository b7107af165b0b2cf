#!/usr/bin/env bash
# Back the pi5trading database up: `pi5trading backup` from the install's virtualenv, with
# the install's settings. For cron (scripts/setup_cron.sh) and by hand; the systemd timer
# (deployments/systemd/pi5trading-backup.timer) runs the same command.
#
#   backup.sh                      # PostgreSQL: pg_dump; SQLite: the online backup API
#   backup.sh --copy-to /media/usb # also copy it to a USB stick (must be mounted)
#   backup.sh --list               # the backups, their size, time and checksum
#
# Environment (scripts/install_env.sh): PI5TRADING_VENV (default /opt/pi5trading/venv), PI5TRADING_ENV_FILE (default
# /etc/pi5trading/env, read when readable: KEY=value lines, as systemd reads them;
# the environment wins over the file).
# Exit status: pi5trading's (1 when the backup failed; a Gotify alert went out if set up).
set -euo pipefail

# shellcheck source=scripts/install_env.sh
source "$(dirname "$(readlink -f "$0")")/install_env.sh" backup "$@"
