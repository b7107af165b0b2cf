"""scripts/backup.sh, restore.sh (thin wrappers over the CLI, run here against a real SQLite
file) and setup_cron.sh (idempotent, against a crontab file, never the real crontab)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parents[3] / "scripts"
VENV = Path(sys.prefix)


def run(
    script: str, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SCRIPTS / script), *args],
        capture_output=True,
        text=True,
        check=False,
        # The settings come from the env file, as under cron (the tests' PI5_DATA_DIR is not).
        env={k: v for k, v in os.environ.items() if not k.startswith("PI5_")} | (env or {}),
        timeout=120,
    )


def test_setup_cron_is_idempotent(tmp_path: Path) -> None:
    tab = tmp_path / "crontab"
    tab.write_text('MAILTO=""\n5 4 * * * /usr/local/bin/other-job\n')
    for _ in range(2):
        res = run("setup_cron.sh", "--crontab", str(tab))
        assert res.returncode == 0, res.stderr
    lines = tab.read_text().splitlines()
    assert lines[:2] == ['MAILTO=""', "5 4 * * * /usr/local/bin/other-job"]
    [entry] = [ln for ln in lines if "# pi5trading-backup" in ln]
    assert entry.startswith(f"0 2 * * * {SCRIPTS / 'backup.sh'}")
    assert len(lines) == 3
    assert res.stdout.startswith("daily backup at 02:00: 0 2 * * * ")

    res = run("setup_cron.sh", "--crontab", str(tab), "--time", "03:30")
    assert res.returncode == 0, res.stderr
    [entry] = [ln for ln in tab.read_text().splitlines() if "pi5trading-backup" in ln]
    assert entry.startswith("30 3 * * * ")

    res = run("setup_cron.sh", "--crontab", str(tab), "--remove")
    assert res.returncode == 0, res.stderr
    assert tab.read_text() == 'MAILTO=""\n5 4 * * * /usr/local/bin/other-job\n'


def test_setup_cron_for_cron_d_and_bad_input(tmp_path: Path) -> None:
    tab = tmp_path / "pi5trading"  # /etc/cron.d format: a user field
    res = run("setup_cron.sh", "--crontab", str(tab), "--user", "pi5trading")
    assert res.returncode == 0, res.stderr
    assert tab.read_text().startswith(f"0 2 * * * pi5trading {SCRIPTS / 'backup.sh'}")
    assert oct(tab.stat().st_mode & 0o777) == "0o644"
    res = run("setup_cron.sh", "--crontab", str(tab), "--time", "24:00")
    assert res.returncode == 2
    assert res.stderr == "setup_cron.sh: --time: expected HH:MM (00:00-23:59), got '24:00'\n"
    res = run("setup_cron.sh", "--bogus")
    assert res.returncode == 2
    assert tab.read_text().count("# pi5trading-backup") == 1


@pytest.fixture
def env_file(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    f = tmp_path / "env"
    f.write_text(f"# the install's settings\nPI5_DATA_DIR={data}\nPI5_DATABASE__URL=\n")
    res = subprocess.run(
        [str(VENV / "bin" / "pi5trading"), "migrate"],
        env={**os.environ, "PI5_DATA_DIR": str(data), "PI5_DATABASE__URL": ""},
        capture_output=True,
        text=True,
        check=False,
    )
    assert res.returncode == 0, res.stderr
    return f


def test_backup_and_restore_scripts_run_the_cli(env_file: Path, tmp_path: Path) -> None:
    env = {"PI5TRADING_VENV": str(VENV), "PI5TRADING_ENV_FILE": str(env_file)}
    res = run("backup.sh", env=env)
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith(f"wrote {tmp_path / 'data' / 'backups'}/pi5trading-pi5trading-")
    res = run("backup.sh", "--list", env=env)
    assert "checksum ok" in res.stdout
    res = run("restore.sh", "--latest", env=env)
    assert res.returncode == 0, res.stderr
    assert "migrations consistent" in res.stdout

    # A failure is the script's exit status (what cron and systemd see).
    res = run("backup.sh", "--copy-to", str(tmp_path / "not-mounted"), env=env)
    assert res.returncode == 1
    assert "it does not exist (not mounted?)" in res.stderr
    res = run("restore.sh", env=env)
    assert res.returncode == 2

    # The environment wins over the file.
    other = tmp_path / "elsewhere"
    res = run("backup.sh", env={**env, "PI5_DATA_DIR": str(other)})
    assert res.returncode == 1
    assert res.stderr == f"Error: no SQLite database at {other}/pi5trading.db: nothing to back up\n"
