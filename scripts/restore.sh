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
# Environment (scripts/install_env.sh): PI5TRADING_VENV (default /opt/pi5trading/venv), PI5TRADING_ENV_FILE (default
# /etc/pi5trading/env, read when readable; the environment wins over it). Exit status: pi5trading's (1 on any failure).
set -euo pipefail

# shellcheck source=scripts/install_env.sh
source "$(dirname "$(readlink -f "$0")")/install_env.sh" restore "$@"
