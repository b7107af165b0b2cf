"""Install a built wheel the way a user would, outside the checkout, and use it.

    python scripts/dev/wheel_check.py native  dist/pi5trading-...x86_64.whl
    python scripts/dev/wheel_check.py aarch64 dist/pi5trading-...aarch64.whl --root ROOT

native: a fresh virtualenv of this interpreter, the wheel and its dependencies from the
package index. aarch64: a fresh virtualenv of Debian's arm64 CPython (extracted into ROOT by
scripts/dev/wheel_check.sh) run under qemu-aarch64-static; the wheel and its dependencies
are resolved on the host *for that interpreter* (aarch64, CPython 3.11.2, binary wheels
only: anything that would build from source fails the check).

In a temporary folder (never the checkout) it then runs: ``--version``; ``migrate`` on a
fresh SQLite database; a short backtest whose fills are written to the results; ``serve``
answering ``/health``, a signed-in ``/api/v1/portfolio/summary`` and ``/`` (the dashboard's
index.html when the wheel carries it); and a graceful stop. It reports the wheel size, the
installed size, the import time and the server's RSS, in
``test-artifacts/wheel/<target>.json``. Exit status 1 on the first failed step, with what
the command printed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts" / "wheel"
PASSWORD = "wheel-check-password-1"
# Emulation is slow (a Python start-up takes seconds): generous, bounded waits.
SLOW = {"native": 1, "aarch64": 12}


class CheckError(Exception):
    pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def du(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


class Target:
    """How to run the installed package's interpreter for one architecture."""

    def __init__(self, kind: str, work: Path, root: Path | None) -> None:
        self.kind = kind
        self.work = work
        self.venv = work / "venv"
        self.root = root
        self.env = {
            **os.environ,
            "PI5_DATA_DIR": str(work / "data"),
            "PYTHONDONTWRITEBYTECODE": "1",
            "NO_COLOR": "1",
            "COLUMNS": "120",
        }
        # A user's environment, not the developer's: no checkout on the path.
        for key in ("PYTHONPATH", "VIRTUAL_ENV", "PI5_DATABASE__URL", "PI5_REDIS__URL"):
            self.env.pop(key, None)

    @property
    def python(self) -> list[str]:
        if self.kind == "native":
            return [str(self.venv / "bin" / "python")]
        assert self.root is not None
        # The venv's interpreter is a link to ROOT's: run it through qemu with ROOT as the
        # library root, so sys.prefix is the venv (a real virtualenv, as on a Pi).
        return ["qemu-aarch64-static", "-L", str(self.root), str(self.venv / "bin" / "python3.11")]

    def site(self) -> Path:
        return self.venv / "lib" / "python3.11" / "site-packages"

    def create(self, wheel: Path) -> None:
        if self.kind == "native":
            run([sys.executable, "-m", "venv", str(self.venv)], timeout=120)
            run([str(self.venv / "bin" / "pip"), "install", "-q", str(wheel)], timeout=900)
            return
        assert self.root is not None
        interp = self.root / "usr" / "bin" / "python3.11"
        # `-m venv --without-pip` needs only the stdlib; pip then runs on the host.
        run(
            [
                "qemu-aarch64-static",
                "-L",
                str(self.root),
                str(interp),
                "-m",
                "venv",
                "--without-pip",
                "--copies",
                str(self.venv),
            ],
            timeout=300,
        )
        # Several manylinux tags: numpy's and pyarrow's aarch64 wheels are manylinux_2_28;
        # Pi OS bookworm (glibc 2.36) takes them all.
        platforms = ["manylinux2014_aarch64", "manylinux_2_28_aarch64", "manylinux_2_36_aarch64"]
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--target",
            str(self.site()),
            "--python-version",
            "3.11.2",
            "--implementation",
            "cp",
            "--abi",
            "cp311",
            "--abi",
            "abi3",
            "--abi",
            "none",
            "--only-binary=:all:",
        ]
        for p in platforms:
            cmd += ["--platform", p]
        run([*cmd, str(wheel)], timeout=900)


def run(
    cmd: list[str],
    *,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 300,
    stdin: str | None = None,
) -> str:
    try:
        done = subprocess.run(
            cmd,
            env=env,
            cwd=cwd,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise CheckError(f"timed out after {timeout:.0f} s: {' '.join(cmd)}") from exc
    if done.returncode != 0:
        raise CheckError(
            f"exit {done.returncode}: {' '.join(cmd)}\n{done.stdout[-3000:]}{done.stderr[-3000:]}"
        )
    return done.stdout


def http(url: str, *, data: Any = None, token: str | None = None) -> tuple[int, bytes, str]:
    body = json.dumps(data).encode() if data is not None else None
    req = urllib.request.Request(url, data=body, method="POST" if body else "GET")
    if body:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.read(), r.headers.get("Content-Type", "")
    except urllib.error.HTTPError as e:
        return e.code, e.read(), e.headers.get("Content-Type", "")


def rss_mib(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def serve_check(t: Target, expect_dashboard: bool, results: dict[str, Any]) -> None:
    slow = SLOW[t.kind]
    run(
        [*t.python, "-m", "pi5trading", "user", "create", "--admin", "smoke", "--password-stdin"],
        env=t.env,
        cwd=t.work,
        timeout=60 * slow,
        stdin=PASSWORD + "\n",
    )
    port = free_port()
    log = (t.work / "serve.log").open("w")
    env = {**t.env, "PI5_NODE__DEMO_STRATEGIES": "true"}
    proc = subprocess.Popen(
        [*t.python, "-m", "pi5trading", "serve", "--port", str(port)],
        env=env,
        cwd=t.work,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        started = time.monotonic()
        while True:
            if proc.poll() is not None:
                raise CheckError(f"serve exited {proc.returncode}:\n{tail(t.work / 'serve.log')}")
            if time.monotonic() - started > 30 * slow:
                raise CheckError(f"serve did not answer /health:\n{tail(t.work / 'serve.log')}")
            try:
                status, _, _ = http(base + "/health")
                if status == 200:
                    break
            except OSError:
                pass
            time.sleep(0.5)
        results["serve_start_s"] = round(time.monotonic() - started, 1)
        status, body, _ = http(
            base + "/api/v1/auth/login", data={"username": "smoke", "password": PASSWORD}
        )
        if status != 200:
            raise CheckError(f"login answered {status}: {body[:300]!r}")
        token = json.loads(body)["access_token"]
        status, body, _ = http(base + "/api/v1/portfolio/summary", token=token)
        if status != 200:
            raise CheckError(f"/api/v1/portfolio/summary answered {status}: {body[:300]!r}")
        results["summary"] = json.loads(body)
        status, body, ctype = http(base + "/")
        if status != 200 or "text/html" not in ctype:
            raise CheckError(f"/ answered {status} {ctype}: {body[:300]!r}")
        results["dashboard"] = b"<title>pi5trading" in body and b"/assets/" in body
        if expect_dashboard and not results["dashboard"]:
            raise CheckError(f"/ is not the dashboard's index.html: {body[:300]!r}")
        time.sleep(2 * slow)  # some trading on the simulated feed before RSS is read
        results["serve_rss_mib"] = rss_mib(proc.pid)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            code = proc.wait(timeout=30 * slow)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise CheckError(
                f"serve did not stop on SIGINT:\n{tail(t.work / 'serve.log')}"
            ) from None
        log.close()
    if code != 0:
        raise CheckError(f"serve stopped with exit {code}:\n{tail(t.work / 'serve.log')}")


def tail(path: Path, n: int = 40) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-n:])


def check(kind: str, wheel: Path, root: Path | None, expect_dashboard: bool) -> dict[str, Any]:
    results: dict[str, Any] = {
        "target": kind,
        "wheel": wheel.name,
        "wheel_mib": round(wheel.stat().st_size / 2**20, 2),
    }
    with tempfile.TemporaryDirectory(prefix=f"pi5-wheel-{kind}-") as tmp:
        t = Target(kind, Path(tmp), root)
        slow = SLOW[kind]
        step = "install"
        try:
            started = time.monotonic()
            t.create(wheel)
            results["install_s"] = round(time.monotonic() - started, 1)
            results["installed_mib"] = round(du(t.venv) / 2**20, 1)
            sizes = sorted(
                ((du(p), p.name) for p in t.site().iterdir() if p.is_dir()), reverse=True
            )
            results["largest"] = {name: round(size / 2**20, 1) for size, name in sizes[:6]}
            step = "--version"
            out = run(
                [*t.python, "-m", "pi5trading", "--version"],
                env=t.env,
                cwd=t.work,
                timeout=60 * slow,
            )
            results["version"] = out.strip()
            step = "import time"
            started = time.monotonic()
            run(
                [*t.python, "-c", "import pi5trading.cli"], env=t.env, cwd=t.work, timeout=60 * slow
            )
            results["import_cli_s"] = round(time.monotonic() - started, 2)
            step = "migrate"
            run(
                [*t.python, "-m", "pi5trading", "migrate"], env=t.env, cwd=t.work, timeout=60 * slow
            )
            status = json.loads(
                run(
                    [*t.python, "-m", "pi5trading", "migrate", "--status", "--json"],
                    env=t.env,
                    cwd=t.work,
                    timeout=60 * slow,
                )
            )
            schema = [m["status"] for m in status["migrations"] if m["series"] == "schema"]
            if not schema or set(schema) != {"applied"}:
                raise CheckError(f"migrations not applied: {status}")
            step = "backtest"
            report = t.work / "report"
            run(
                [
                    *t.python,
                    "-m",
                    "pi5trading",
                    "backtest",
                    "-s",
                    "sma_crossover",
                    "-p",
                    "fast=5",
                    "-p",
                    "slow=20",
                    "--data",
                    "generated:3000:7",
                    "--risk",
                    "none",
                    "--monte-carlo",
                    "0",
                    "-q",
                    "-o",
                    str(report),
                ],
                env=t.env,
                cwd=t.work,
                timeout=120 * slow,
            )
            # Every trade (entry and exit fills, commission, P&L) and the equity curve.
            digest = hashlib.sha256()
            for name in ("trades.csv", "equity.csv"):
                if not (report / name).is_file():
                    raise CheckError(f"the backtest wrote no {name}: {sorted(report.iterdir())}")
                digest.update((report / name).read_bytes())
            results["trades"] = (report / "trades.csv").read_bytes().count(b"\n") - 1
            results["fills_sha256"] = digest.hexdigest()
            step = "serve"
            serve_check(t, expect_dashboard, results)
        except CheckError as exc:
            results["failed"] = f"{step}: {exc}"
    return results


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("target", choices=["native", "aarch64"])
    ap.add_argument("wheel", type=Path)
    ap.add_argument("--root", type=Path, help="extracted arm64 CPython (aarch64 only)")
    ap.add_argument(
        "--expect-dashboard",
        action="store_true",
        help="fail when / is not the dashboard's index.html",
    )
    ap.add_argument(
        "--same-fills-as",
        type=Path,
        help="results JSON of another target whose fills must be identical",
    )
    args = ap.parse_args()
    if args.target == "aarch64" and (
        args.root is None or shutil.which("qemu-aarch64-static") is None
    ):
        print("aarch64 needs --root and qemu-aarch64-static (scripts/dev/wheel_check.sh)")
        return 2
    started = time.monotonic()
    root = args.root.resolve() if args.root is not None else None
    results = check(args.target, args.wheel.resolve(), root, args.expect_dashboard)
    results["total_s"] = round(time.monotonic() - started, 1)
    if "failed" not in results and args.same_fills_as is not None:
        other = json.loads(args.same_fills_as.read_text())
        if other.get("fills_sha256") != results["fills_sha256"]:
            results["failed"] = (
                f"fills differ from {other.get('target')}: {results['trades']} trades "
                f"({results['fills_sha256'][:12]}) vs {other.get('trades')} "
                f"({str(other.get('fills_sha256'))[:12]})"
            )
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / f"{args.target}.json").write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps({k: v for k, v in results.items() if k != "summary"}, indent=2))
    if "failed" in results:
        print(f"wheel check ({args.target}) FAILED at {results['failed']}", file=sys.stderr)
        return 1
    print(f"wheel check ({args.target}) passed in {results['total_s']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
