#!/usr/bin/env bash
# Install pi5trading as a service on a fresh Raspberry Pi OS (64-bit) or Debian/Ubuntu:
# the `pi5trading` system user, a virtualenv from the wheel, /etc/pi5trading/env (0600, a
# generated JWT secret), the data dir, the database, the systemd units (the API+node
# service and the daily backup timer), the migrations; then it enables and starts them.
# Idempotent: run it again (e.g. with a newer wheel to upgrade); the env file, the data and
# the database are kept. docs/DEPLOYMENT.md, "Running as a service (systemd)".
#
#   sudo deployments/install.sh --wheel pi5trading-1.0.0-cp311-abi3-manylinux_2_28_aarch64.whl
#   sudo deployments/install.sh --wheel … --database postgres   # a local PostgreSQL, created
#   sudo deployments/install.sh --wheel … --database-url postgresql://user:pw@host:5432/db
#   deployments/install.sh --wheel … --dry-run [--root /tmp/staging]   # print, change nothing
#
# Options:
#   --wheel FILE         the pi5trading wheel to install (required)
#   --database KIND      sqlite (default: the embedded file in the data dir) or postgres
#                        (installs PostgreSQL if missing, creates a role and a database)
#   --database-url URL   an existing PostgreSQL instead (written to the env file)
#   --no-start           install and enable, but do not start the service now
#   --dry-run            print every step, change nothing (no root needed)
#   --root DIR           with --dry-run: look at DIR as the target system's / (staging, tests)
set -euo pipefail

USER_NAME=pi5trading
PREFIX=/opt/pi5trading
DATA_DIR=/var/lib/pi5trading
CONF_DIR=/etc/pi5trading
UNIT_DIR=/etc/systemd/system
UNITS=(pi5trading.service pi5trading-backup.service pi5trading-backup.timer)

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$here")
wheel=""
database=sqlite
database_url=""
dry_run=0
root=""
start=1

die() { echo "install.sh: $*" >&2; exit 1; }
usage() { sed -n '2,22p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

while [ $# -gt 0 ]; do
  case $1 in
    --wheel) [ $# -ge 2 ] || die "--wheel needs a file"; wheel=$2; shift 2 ;;
    --database) [ $# -ge 2 ] || die "--database needs sqlite or postgres"; database=$2; shift 2 ;;
    --database-url) [ $# -ge 2 ] || die "--database-url needs a URL"; database_url=$2; shift 2 ;;
    --no-start) start=0; shift ;;
    --dry-run) dry_run=1; shift ;;
    --root) [ $# -ge 2 ] || die "--root needs a folder"; root=${2%/}; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown argument: $1 (see --help)" ;;
  esac
done

[ -n "$wheel" ] || die "--wheel FILE is required (the pi5trading wheel to install)"
[ -f "$wheel" ] || die "--wheel $wheel: no such file"
wheel=$(cd "$(dirname "$wheel")" && pwd)/$(basename "$wheel")
case $database in sqlite|postgres) ;; *) die "--database: expected sqlite or postgres, got '$database'" ;; esac
if [ -n "$database_url" ]; then
  [[ $database_url =~ ^postgres(ql)?:// ]] || die "--database-url: expected postgresql://…"
  database=postgres
fi
[ -z "$root" ] || [ "$dry_run" -eq 1 ] || die "--root is only for --dry-run"
if [ "$dry_run" -eq 0 ] && [ "$(id -u)" -ne 0 ]; then
  die "run it as root (sudo $0 …), or with --dry-run to see what it would do"
fi
for f in "${UNITS[@]}"; do
  [ -f "$here/systemd/$f" ] || die "$here/systemd/$f is missing (run from the source tree)"
done

# -- how each step runs: printed always, executed unless --dry-run -----------------------

step() { echo "==> $*"; }
run() {
  echo "  +$(printf ' %q' "$@")"
  if [ "$dry_run" -eq 0 ]; then "$@"; fi
}
exists() { [ -e "$root$1" ]; }
have() { command -v "$1" >/dev/null 2>&1; }
package_missing() { ! dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

# A file written atomically with its mode and owner; shown (secrets masked) in a dry run.
write_file() {
  local path=$1 mode=$2 owner=$3 content=$4
  if [ "$dry_run" -eq 1 ]; then
    echo "  + write $path (mode $mode, owner $owner):"
    printf '%s\n' "$content" | sed -E 's/^(PI5_AUTH__JWT_SECRET=).*/\1<generated>/; s#(://[^:/@]+:)[^@]*@#\1***@#; s/^/      /'
    return 0
  fi
  local tmp
  tmp=$(mktemp "$(dirname "$path")/.pi5install.XXXXXX")
  printf '%s\n' "$content" >"$tmp"
  chmod "$mode" "$tmp"
  chown "$owner" "$tmp"
  mv -f "$tmp" "$path"
}

as_service_user() {
  run runuser -u "$USER_NAME" -- "$PREFIX/bin/pi5trading" "$@"
}

secret() { python3 -c 'import secrets; print(secrets.token_urlsafe(48))'; }

# -- 1. system packages ------------------------------------------------------------------

step "system packages"
pkgs=()
have python3 || pkgs+=(python3)
package_missing python3-venv && pkgs+=(python3-venv)
if [ "$database" = postgres ]; then
  have pg_dump || pkgs+=(postgresql-client)
  if [ -z "$database_url" ] && ! compgen -G "/usr/lib/postgresql/*/bin/postgres" >/dev/null; then
    pkgs+=(postgresql)
  fi
fi
if [ ${#pkgs[@]} -gt 0 ]; then
  run apt-get update -q
  run env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${pkgs[@]}"
else
  echo "  python3, python3-venv${database_url:+, postgresql-client} present"
fi

# -- 2. user and folders -----------------------------------------------------------------

step "user $USER_NAME and folders"
if [ -z "$root" ] && id -u "$USER_NAME" >/dev/null 2>&1; then
  echo "  user $USER_NAME exists"
elif [ -n "$root" ] && grep -q "^$USER_NAME:" "$root/etc/passwd" 2>/dev/null; then
  echo "  user $USER_NAME exists"
else
  run useradd --system --user-group --home-dir "$DATA_DIR" --no-create-home \
    --shell /usr/sbin/nologin --comment "pi5trading service" "$USER_NAME"
fi
run install -d -m 0755 -o root -g root "$PREFIX" "$PREFIX/bin"
run install -d -m 0700 -o "$USER_NAME" -g "$USER_NAME" "$DATA_DIR" "$DATA_DIR/backups"
run install -d -m 0750 -o root -g "$USER_NAME" "$CONF_DIR"

# -- 3. the virtualenv from the wheel ----------------------------------------------------

step "virtualenv $PREFIX/venv with $(basename "$wheel")"
if exists "$PREFIX/venv/bin/python"; then
  echo "  $PREFIX/venv exists: upgrading pi5trading in it"
else
  run python3 -m venv "$PREFIX/venv"
  run "$PREFIX/venv/bin/pip" install --quiet --upgrade pip
fi
run "$PREFIX/venv/bin/pip" install --quiet --upgrade "$wheel"
for s in backup.sh restore.sh install_env.sh setup_cron.sh; do
  run install -m 0755 -o root -g root "$repo/scripts/$s" "$PREFIX/bin/$s"
done
wrapper=$(cat <<EOF
#!/usr/bin/env bash
# pi5trading with the service's settings ($CONF_DIR/env, written by install.sh); run it
# as the service user: sudo -u $USER_NAME $PREFIX/bin/pi5trading user create --admin alice
set -euo pipefail
while IFS= read -r line || [ -n "\$line" ]; do
  [[ \$line =~ ^([A-Za-z_][A-Za-z0-9_]*)= ]] || continue
  [ -n "\${!BASH_REMATCH[1]+set}" ] || export "\${line?}"
done <$CONF_DIR/env
exec $PREFIX/venv/bin/pi5trading "\$@"
EOF
)
write_file "$PREFIX/bin/pi5trading" 0755 root:root "$wrapper"

# -- 4. settings: /etc/pi5trading/env ----------------------------------------------------

step "settings $CONF_DIR/env"
pg_password=""
if exists "$CONF_DIR/env"; then
  echo "  $CONF_DIR/env exists: kept as it is (secrets and database URL unchanged)"
else
  url=$database_url
  if [ "$database" = postgres ] && [ -z "$url" ]; then
    pg_password=$(secret)
    url="postgresql://$USER_NAME:$pg_password@127.0.0.1:5432/$USER_NAME"
  fi
  write_file "$CONF_DIR/env" 0600 "$USER_NAME:$USER_NAME" "# pi5trading settings (docs/configuration.md), read by systemd (EnvironmentFile=)
# and by $PREFIX/bin/backup.sh. KEY=value, one a line, no quotes. After a change:
# sudo systemctl restart pi5trading
PI5_DATA_DIR=$DATA_DIR
PI5_DATABASE__URL=$url
PI5_AUTH__JWT_SECRET=$(secret)
PI5_API__HOST=127.0.0.1
PI5_API__PORT=8080
PI5_LOGGING__FORMAT=json
PI5_BACKUP__KEEP_DAYS=7
# PI5_BACKUP__COPY_TO=/media/usb
# PI5_ALERTS__GOTIFY_URL=https://gotify.example.org
# PI5_ALERTS__GOTIFY_TOKEN=
# PI5_BROKER__PROVIDER=alpaca
# PI5_BROKER__KEY_ID=
# PI5_BROKER__SECRET_KEY=
# To enter broker and vendor keys through the API, encrypted: pi5trading credentials key
# PI5_SECURITY__CREDENTIALS_KEY="
fi

# -- 5. the database ---------------------------------------------------------------------

step "database"
if [ "$database" = postgres ] && [ -z "$database_url" ]; then
  if [ -n "$pg_password" ]; then
    # A new env file: the role gets its password (created, or reset if it already existed).
    sql="DO \$\$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '$USER_NAME') THEN
    CREATE ROLE $USER_NAME LOGIN;
  END IF;
  ALTER ROLE $USER_NAME PASSWORD '$pg_password';
END \$\$;"
    if [ "$dry_run" -eq 1 ]; then
      echo "  + runuser -u postgres -- psql -c <create role $USER_NAME with the generated password>"
    else
      runuser -u postgres -- psql -q -v ON_ERROR_STOP=1 -c "$sql"
    fi
  fi
  if [ "$dry_run" -eq 0 ] && runuser -u postgres -- psql -tAc \
      "SELECT 1 FROM pg_database WHERE datname = '$USER_NAME'" | grep -q 1; then
    echo "  database $USER_NAME exists"
  else
    run runuser -u postgres -- createdb --owner "$USER_NAME" "$USER_NAME"
  fi
fi
was_active=0
if [ -z "$root" ] && have systemctl && systemctl is-active --quiet pi5trading.service 2>/dev/null; then
  was_active=1
  run systemctl stop pi5trading.service  # an upgrade: migrate with the old version stopped
fi
as_service_user migrate

# -- 6. systemd units --------------------------------------------------------------------

step "systemd units"
for f in "${UNITS[@]}"; do
  run install -m 0644 -o root -g root "$here/systemd/$f" "$UNIT_DIR/$f"
done
run systemctl daemon-reload
if [ "$start" -eq 1 ]; then
  run systemctl enable --now pi5trading.service pi5trading-backup.timer
else
  run systemctl enable pi5trading.service pi5trading-backup.timer
  [ "$was_active" -eq 0 ] || echo "  pi5trading.service was stopped for the upgrade: start it with systemctl start pi5trading"
fi

cat <<EOF
==> done$([ "$dry_run" -eq 1 ] && echo " (dry run: nothing was changed)")
  status:       systemctl status pi5trading; journalctl -u pi5trading -f
  backup now:   sudo systemctl start pi5trading-backup; list: sudo -u $USER_NAME $PREFIX/bin/pi5trading backup --list
  first admin:  sudo -u $USER_NAME $PREFIX/bin/pi5trading user create --admin alice
  dashboard:    http://127.0.0.1:8080 on the Pi (PI5_API__HOST in $CONF_DIR/env to open it up)
  backups:      daily at 02:00 into $DATA_DIR/backups (systemctl list-timers pi5trading-backup.timer)
EOF
