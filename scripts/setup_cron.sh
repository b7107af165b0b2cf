#!/usr/bin/env bash
# Run backup.sh every day at 02:00 from cron. Idempotent: the entry carries the marker
# "# pi5trading-backup", and running this again replaces it (one entry, never two).
#
#   setup_cron.sh                         # the current user's crontab (crontab -l / crontab -)
#   sudo -u pi5trading setup_cron.sh      # the service user's crontab (what install.sh suggests)
#   setup_cron.sh --crontab FILE          # edit FILE instead (a copy, or /etc/cron.d/… with --user)
#   setup_cron.sh --crontab /etc/cron.d/pi5trading --user pi5trading
#   setup_cron.sh --time 03:30            # another time of day
#   setup_cron.sh --remove                # take the entry out
#
# The output goes to syslog (journalctl -t pi5trading-backup) when `logger` exists.
# The systemd timer (deployments/systemd/pi5trading-backup.timer) is the alternative: use
# one or the other, not both.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
marker="# pi5trading-backup"
file=""
user=""
at="02:00"
command=$(printf %q "$here/backup.sh")
remove=0

usage() { sed -n '2,16p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }
die() { echo "setup_cron.sh: $*" >&2; exit 2; }

while [ $# -gt 0 ]; do
  case $1 in
    --crontab) [ $# -ge 2 ] || die "--crontab needs a file"; file=$2; shift 2 ;;
    --user) [ $# -ge 2 ] || die "--user needs a name"; user=$2; shift 2 ;;
    --time) [ $# -ge 2 ] || die "--time needs HH:MM"; at=$2; shift 2 ;;
    --command) [ $# -ge 2 ] || die "--command needs a command"; command=$2; shift 2 ;;
    --remove) remove=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown argument: $1 (see --help)" ;;
  esac
done

[[ $at =~ ^([01][0-9]|2[0-3]):([0-5][0-9])$ ]] || die "--time: expected HH:MM (00:00-23:59), got '$at'"
hour=$((10#${BASH_REMATCH[1]}))
minute=$((10#${BASH_REMATCH[2]}))

log=""
command -v logger >/dev/null && log=" 2>&1 | logger -t pi5trading-backup"
entry="$minute $hour * * * ${user:+$user }$command$log $marker"

current() {
  if [ -n "$file" ]; then
    [ -f "$file" ] && cat "$file"
    return 0
  fi
  command -v crontab >/dev/null || die "crontab not found: install cron (sudo apt-get install cron) or use --crontab FILE"
  crontab -l 2>/dev/null || true
}

new=$(current | grep -vF "$marker" || true)
if [ "$remove" -eq 0 ]; then
  new=$(printf '%s\n%s' "$new" "$entry" | sed '/./,$!d')
fi

if [ -n "$file" ]; then
  tmp=$(mktemp "$(dirname "$file")/.pi5cron.XXXXXX")
  if [ -n "$new" ]; then printf '%s\n' "$new" >"$tmp"; fi
  if [ -f "$file" ]; then chmod --reference="$file" "$tmp"; else chmod 0644 "$tmp"; fi
  mv -f "$tmp" "$file"
else
  if [ -n "$new" ]; then printf '%s\n' "$new" | crontab -; else crontab -r 2>/dev/null || true; fi
fi

if [ "$remove" -eq 1 ]; then
  echo "removed the pi5trading backup entry${file:+ from $file}"
else
  echo "daily backup at $at: $entry${file:+ (in $file)}"
fi
