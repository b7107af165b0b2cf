"""deployments/systemd/ units (systemd-analyze verify when it is installed, and the keys the
service must have either way) and deployments/install.sh --dry-run into a staging root."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
UNITS = REPO / "deployments" / "systemd"
INSTALL = REPO / "deployments" / "install.sh"
SHELL_SCRIPTS = [
    INSTALL,
    REPO / "scripts" / "backup.sh",
    REPO / "scripts" / "restore.sh",
    REPO / "scripts" / "install_env.sh",
    REPO / "scripts" / "setup_cron.sh",
]


def unit(name: str) -> dict[str, dict[str, list[str]]]:
    """Section -> key -> every value (systemd keys may repeat), comments dropped."""
    out: dict[str, dict[str, list[str]]] = {}
    section: dict[str, list[str]] = {}
    for raw in (UNITS / name).read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if m := re.fullmatch(r"\[(\w+)\]", line):
            section = out.setdefault(m[1], {})
            continue
        key, sep, value = line.partition("=")
        assert sep, f"{name}: not key=value: {raw!r}"
        section.setdefault(key, []).append(value)
    return out


HARDENING = {
    "NoNewPrivileges": "yes",
    "ProtectSystem": "strict",
    "ProtectHome": "yes",
    "PrivateTmp": "yes",
    "PrivateDevices": "yes",
    "ProtectKernelTunables": "yes",
    "ProtectKernelModules": "yes",
    "ProtectControlGroups": "yes",
    "RestrictSUIDSGID": "yes",
    "User": "pi5trading",
    "Group": "pi5trading",
    "EnvironmentFile": "/etc/pi5trading/env",
    "UMask": "0077",
    "CapabilityBoundingSet": "",
}


def test_the_service_has_its_limits_and_hardening() -> None:
    svc = unit("pi5trading.service")["Service"]
    for key, value in {**HARDENING, "Restart": "on-failure", "MemoryMax": "1G"}.items():
        assert svc.get(key) == [value], key
    assert svc["ExecStart"] == ["/opt/pi5trading/venv/bin/pi5trading serve"]
    assert "/var/lib/pi5trading" in svc["ReadWritePaths"]
    assert unit("pi5trading.service")["Install"]["WantedBy"] == ["multi-user.target"]


def test_the_backup_timer_runs_the_backup_daily_at_two() -> None:
    svc = unit("pi5trading-backup.service")["Service"]
    for key, value in {**HARDENING, "Type": "oneshot"}.items():
        assert svc.get(key) == [value], key
    assert svc["ExecStart"] == ["/opt/pi5trading/venv/bin/pi5trading backup"]
    assert "/var/lib/pi5trading" in svc["ReadWritePaths"]
    timer = unit("pi5trading-backup.timer")
    assert timer["Timer"]["OnCalendar"] == ["*-*-* 02:00:00"]
    assert timer["Timer"]["Persistent"] == ["true"]
    assert timer["Timer"]["Unit"] == ["pi5trading-backup.service"]
    assert timer["Install"]["WantedBy"] == ["timers.target"]


def test_install_sh_and_the_units_agree_on_the_paths() -> None:
    text = INSTALL.read_text()
    assert "PREFIX=/opt/pi5trading\n" in text
    assert "DATA_DIR=/var/lib/pi5trading\n" in text
    assert "CONF_DIR=/etc/pi5trading\n" in text
    assert "USER_NAME=pi5trading\n" in text
    for name in ("pi5trading.service", "pi5trading-backup.service", "pi5trading-backup.timer"):
        assert name in text


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze absent")
def test_systemd_analyze_verifies_the_units(tmp_path: Path) -> None:
    # The virtualenv is not installed here: ExecStart points at an existing program instead.
    for f in UNITS.iterdir():
        text = f.read_text().replace("/opt/pi5trading/venv/bin/pi5trading", "/bin/true")
        (tmp_path / f.name).write_text(text)
    names = sorted(str(p) for p in tmp_path.iterdir())
    res = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", *names],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert res.returncode == 0, res.stderr
    assert res.stderr == ""


def test_shell_scripts_parse() -> None:
    for script in SHELL_SCRIPTS:
        assert os.access(script, os.X_OK), script
        res = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
        assert res.returncode == 0, res.stderr
    if shutil.which("shellcheck"):
        res = subprocess.run(
            ["shellcheck", "-x", *map(str, SHELL_SCRIPTS)], capture_output=True, text=True, cwd=REPO
        )
        assert res.returncode == 0, res.stdout


def dry_run(root: Path, wheel: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(INSTALL), "--wheel", str(wheel), "--dry-run", "--root", str(root), *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def tree(root: Path) -> list[tuple[str, int]]:
    return sorted((str(p), p.stat().st_mtime_ns) for p in root.rglob("*"))


def test_install_dry_run_on_a_fresh_system(tmp_path: Path) -> None:
    wheel = tmp_path / "pi5trading-1.0.0-cp311-abi3-manylinux_2_28_aarch64.whl"
    wheel.write_bytes(b"")
    root = tmp_path / "root"
    root.mkdir()
    res = dry_run(root, wheel)
    assert res.returncode == 0, res.stderr
    out = res.stdout
    assert "useradd --system --user-group --home-dir /var/lib/pi5trading" in out
    assert "+ python3 -m venv /opt/pi5trading/venv\n" in out
    assert f"/opt/pi5trading/venv/bin/pip install --quiet --upgrade {wheel}\n" in out
    assert "+ write /etc/pi5trading/env (mode 0600, owner pi5trading:pi5trading):" in out
    assert "PI5_AUTH__JWT_SECRET=<generated>" in out
    assert "PI5_DATA_DIR=/var/lib/pi5trading" in out
    assert "+ runuser -u pi5trading -- /opt/pi5trading/bin/pi5trading migrate\n" in out
    for name in ("pi5trading.service", "pi5trading-backup.service", "pi5trading-backup.timer"):
        assert f"/etc/systemd/system/{name}\n" in out
    assert "+ systemctl enable --now pi5trading.service pi5trading-backup.timer\n" in out
    assert "==> done (dry run: nothing was changed)" in out
    assert list(root.iterdir()) == []

    # A local PostgreSQL: a role with a generated password (never shown) and a database.
    res = dry_run(root, wheel, "--database", "postgres")
    assert res.returncode == 0, res.stderr
    out = res.stdout
    assert "PI5_DATABASE__URL=postgresql://pi5trading:***@127.0.0.1:5432/pi5trading\n" in out
    assert "psql -c <create role pi5trading with the generated password>" in out
    assert "+ runuser -u postgres -- createdb --owner pi5trading pi5trading\n" in out
    assert list(root.iterdir()) == []


def test_install_dry_run_again_keeps_what_is_there(tmp_path: Path) -> None:
    wheel = tmp_path / "pi5trading-1.0.1-cp311-abi3-manylinux_2_28_aarch64.whl"
    wheel.write_bytes(b"")
    root = tmp_path / "root"
    (root / "etc" / "pi5trading").mkdir(parents=True)
    (root / "etc" / "passwd").write_text("pi5trading:x:999:999::/var/lib/pi5trading:/bin/false\n")
    (root / "etc" / "pi5trading" / "env").write_text("PI5_AUTH__JWT_SECRET=keep-me\n")
    (root / "opt" / "pi5trading" / "venv" / "bin").mkdir(parents=True)
    (root / "opt" / "pi5trading" / "venv" / "bin" / "python").write_text("")
    before = tree(root)
    res = dry_run(root, wheel, "--database-url", "postgresql://pi:secret@db.lan:5432/trading")
    assert res.returncode == 0, res.stderr
    out = res.stdout
    assert "user pi5trading exists" in out
    assert "useradd" not in out
    assert "/opt/pi5trading/venv exists: upgrading pi5trading in it" in out
    assert "python3 -m venv" not in out
    assert "/etc/pi5trading/env exists: kept as it is" in out
    assert "write /etc/pi5trading/env" not in out
    assert "createdb" not in out  # an existing server: nothing to create
    assert "keep-me" not in out
    assert tree(root) == before


def test_install_refuses_bad_arguments(tmp_path: Path) -> None:
    wheel = tmp_path / "x.whl"
    wheel.write_bytes(b"")
    cases = {
        (): "install.sh: --wheel FILE is required (the pi5trading wheel to install)\n",
        ("--wheel", str(tmp_path / "nope.whl")): f"install.sh: --wheel {tmp_path}/nope.whl:"
        " no such file\n",
        ("--wheel", str(wheel), "--database", "mysql"): "install.sh: --database: expected sqlite"
        " or postgres, got 'mysql'\n",
        ("--wheel", str(wheel), "--root", str(tmp_path)): "install.sh: --root is only for"
        " --dry-run\n",
    }
    for args, error in cases.items():
        res = subprocess.run([str(INSTALL), *args], capture_output=True, text=True, check=False)
        assert res.returncode == 1
        assert res.stderr == error
        assert res.stdout == ""
