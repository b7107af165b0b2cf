"""Build the arm64 container image from deployments/Dockerfile without a Docker engine, run
it here under qemu, and use it (called by scripts/dev/image_check.sh, as root).

The recipe (docs/DEPLOYMENT.md, "The container image"): two Debian bookworm bases built
once with mmdebstrap's ``extract`` variant (nothing runs inside them, so no emulation) and
cached under ``.cache/image/``: the arm64 runtime base (python3, its venv module,
libstdc++6, passwd: what the default ``python:3.11-slim-bookworm`` offers) and the host's
build base (python3 and pip, for the Dockerfile's ``site`` stage); ``podman import``; the
aarch64 wheel from ``dist/`` and its dependencies' aarch64 wheels (resolved on the host for
the base's CPython 3.11.2) in ``dist/wheelhouse/``; ``buildah bud --isolation chroot
--pull=never --format docker`` (the docker format keeps the HEALTHCHECK; OCI drops it) with
``WHEEL_SOURCE=dist`` and ``PIP_ARGS=--no-index``. The packages are unpacked for arm64 on
the host; only the virtualenv's creation and one ``pi5trading --version`` run emulated.

The image is then started with ``podman --runtime runc run --init`` (crun refuses this
machine's hybrid cgroups; under qemu the server as PID 1 hangs after SIGTERM without an
init) and ulimits this host allows. Checked: ``/health`` answers with
``"target_arch":"aarch64"``; the image's own HEALTHCHECK passes; the server runs as the
non-root user; the migrations ran at start into the data volume; a short backtest inside
the running container gives the same fills as the x86_64 wheel check (when its results are
there); ``podman stop`` stops it within its grace period (no SIGKILL). Sizes and times go to
``test-artifacts/image/image.json``. Exit status 1 on the first failed step.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
CACHE = REPO / ".cache" / "image"
ARTIFACTS = REPO / "test-artifacts" / "image"
IMAGE = "localhost/pi5trading:arm64"
CONTAINER = "pi5trading-image-check"
VOLUME = "pi5trading-image-check-data"
# What every base root needs: a shell, coreutils, the loader's libc tools, the users.
ROOT_PACKAGES = ("base-files", "base-passwd", "bash", "dash", "coreutils", "libc-bin")
# The arm64 runtime base: what python:3.11-slim-bookworm offers for the image (no tzdata:
# the wheel depends on the tzdata package; no CA certificates: the check makes no TLS
# connection). libstdc++6: numpy's and pyarrow's wheels link it; passwd and login: the
# Dockerfile's groupadd/useradd and the user's nologin shell.
BASE_PACKAGES = (*ROOT_PACKAGES, "login", "passwd", "python3", "python3-venv", "libstdc++6")
# The build machine's Python for the Dockerfile's `site` stage (BUILD_PYTHON_IMAGE): the
# same CPython with pip, native (the host's architecture): no install step is emulated.
BUILD_PACKAGES = (*ROOT_PACKAGES, "python3", "python3-pip")
# Run natively on the unpacked root ($1) in place of the maintainer scripts the extract
# variant skips: users and groups, the stdlib's bytecode, no host resolv.conf or hostname.
FIXUP = (
    'cp "$1"/usr/share/base-passwd/passwd.master "$1"/etc/passwd'
    ' && cp "$1"/usr/share/base-passwd/group.master "$1"/etc/group'
    ' && touch "$1"/etc/shadow "$1"/etc/gshadow && chmod 0640 "$1"/etc/shadow "$1"/etc/gshadow'
    ' && python3.11 -m compileall -q -j0 -s "$1" -p / "$1"/usr/lib/python3.11 >/dev/null'
    ' && rm -f "$1"/etc/resolv.conf "$1"/etc/hostname'
)
BASE_PYTHON = "3.11.2"  # bookworm's; redis needs async-timeout below 3.11.3
# The same backtest as scripts/dev/wheel_check.py, so the fills can be compared.
BACKTEST = (
    "backtest -s sma_crossover -p fast=5 -p slow=20 --data generated:3000:7 "
    "--risk none --monte-carlo 0 -q --no-save -o /tmp/bt"
)


class CheckError(Exception):
    pass


def run(cmd: list[str], *, timeout: float = 600, check: bool = True) -> str:
    try:
        done = subprocess.run(
            cmd, capture_output=True, text=True, timeout=timeout, check=False, cwd=REPO
        )
    except subprocess.TimeoutExpired as exc:
        raise CheckError(f"timed out after {timeout:.0f} s: {' '.join(cmd)}") from exc
    if check and done.returncode != 0:
        raise CheckError(
            f"exit {done.returncode}: {' '.join(cmd)}\n{done.stdout[-3000:]}{done.stderr[-3000:]}"
        )
    return done.stdout


def podman(*args: str, timeout: float = 300, check: bool = True) -> str:
    # runc: crun refuses the hybrid cgroup layout of this kind of machine.
    return run(["podman", "--runtime", "runc", *args], timeout=timeout, check=check)


def ulimits() -> list[str]:
    # root here lacks CAP_SYS_RESOURCE: podman's default nofile (1048576) cannot be set, and
    # podman caps its own NPROC at 32768. The host's hard limits can.
    out = run(["bash", "-c", "ulimit -Hn"]).strip()
    nofile = "1048576" if out == "unlimited" else out
    return ["--ulimit", f"nofile={nofile}:{nofile}", "--ulimit", "nproc=32768:32768"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def timed(results: dict[str, Any], key: str, started: float) -> None:
    results.setdefault("times_s", {})[key] = round(time.monotonic() - started, 1)


def base_image(results: dict[str, Any], arch: str, packages: tuple[str, ...]) -> str:
    """A Debian bookworm base for ``arch``, built once (the tar cached under .cache/image/,
    keyed by its recipe) and imported into podman.

    mmdebstrap's ``extract`` variant only unpacks the packages: nothing runs inside the
    root, so the arm64 base needs no emulation (the ``essential`` variant ran every
    maintainer script under qemu: 3.5-4.5 minutes, most of the check's first run). What those
    scripts would have set up and the image needs is done here natively: the users and
    groups of base-passwd (groupadd/useradd in the Dockerfile), the standard library's
    bytecode (compiled by the host's CPython 3.11: the same bytecode on every architecture).
    The dynamic loader finds Debian's multiarch libraries without an ld.so.cache."""
    recipe = [
        "--variant=extract",
        f"--include={','.join(packages)}",
        '--aptopt=APT::Install-Recommends "false"',
        "bookworm",
    ]
    key = hashlib.sha256(" ".join([arch, *recipe, FIXUP]).encode()).hexdigest()[:12]
    name = f"localhost/pi5trading-base:{arch}-{key}"
    tar = CACHE / f"base-{arch}-{key}.tar"
    started = time.monotonic()
    if image_exists(name):
        results[f"base_{arch}"] = "cached image"
        return name
    if not tar.is_file():
        CACHE.mkdir(parents=True, exist_ok=True)
        partial = tar.with_suffix(".partial")
        partial.unlink(missing_ok=True)
        # No mirror given: the host's apt sources. Documentation and translations left out.
        run(
            [
                "mmdebstrap",
                "-q",
                f"--arch={arch}",
                *recipe[:-1],
                "--dpkgopt=path-exclude=/usr/share/man/*",
                "--dpkgopt=path-exclude=/usr/share/locale/*",
                "--dpkgopt=path-exclude=/usr/share/info/*",
                "--dpkgopt=path-exclude=/usr/share/doc/*",
                "--dpkgopt=path-include=/usr/share/doc/*/copyright",
                f"--customize-hook={FIXUP}",
                "--format=tar",
                recipe[-1],
                str(partial),
            ],
            timeout=900,
        )
        partial.rename(tar)
        # Bases of an older recipe are not used again.
        for old in CACHE.glob(f"base-{arch}-*.tar"):
            if old != tar:
                old.unlink()
        timed(results, f"base_{arch}_mmdebstrap", started)
        results[f"base_{arch}"] = "built"
    else:
        results[f"base_{arch}"] = "cached tar"
    started = time.monotonic()
    podman("import", "-q", "--arch", arch, "--os", "linux", str(tar), name, timeout=300)
    timed(results, f"base_{arch}_import", started)
    results[f"base_{arch}_tar_mib"] = round(tar.stat().st_size / 2**20, 1)
    return name


def image_exists(name: str) -> bool:
    done = subprocess.run(["podman", "image", "exists", name], check=False, capture_output=True)
    return done.returncode == 0


def wheelhouse(wheel: Path) -> None:
    """The wheel's dependencies as aarch64 wheels for the base's CPython, in dist/wheelhouse/
    (the build runs offline: pip inside the emulated build cannot reach the index here)."""
    house = REPO / "dist" / "wheelhouse"
    shutil.rmtree(house, ignore_errors=True)
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "-q",
        "--disable-pip-version-check",
        "-d",
        str(house),
        "--only-binary=:all:",
        "--implementation",
        "cp",
        "--python-version",
        BASE_PYTHON,
        "--abi",
        "cp311",
        "--abi",
        "abi3",
        "--abi",
        "none",
    ]
    for p in ("manylinux2014_aarch64", "manylinux_2_28_aarch64", "manylinux_2_36_aarch64"):
        cmd += ["--platform", p]
    # pip evaluates the markers of the dependencies for the host's Python (3.11.7 here)
    # even with --python-version: async-timeout (redis, below 3.11.3) is named.
    run([*cmd, str(wheel), "async-timeout>=4.0.3"], timeout=600)
    for own in house.glob("pi5trading-*.whl"):
        own.unlink()  # the wheel itself is in dist/


def build(base: str, build_base: str, host: str, results: dict[str, Any]) -> None:
    started = time.monotonic()
    bud = [
        "buildah",
        "bud",
        "-q",
        "--arch",
        "arm64",
        "--os",
        "linux",
        "--isolation",
        "chroot",
        "--pull=never",
        "--format",
        "docker",
        "--layers=false",
        "--build-arg",
        f"BASE_IMAGE={base}",
        "--build-arg",
        f"BUILD_PYTHON_IMAGE={build_base}",
        # buildah 1.28 leaves $BUILDPLATFORM and $TARGETPLATFORM empty (BuildKit sets them):
        # the `site` stage would look for an arm64 build base and not find it.
        "--build-arg",
        f"BUILDPLATFORM=linux/{host}",
        "--build-arg",
        "TARGETPLATFORM=linux/arm64",
        "--build-arg",
        "WHEEL_SOURCE=dist",
        "--build-arg",
        "PIP_ARGS=--no-index",
        "-f",
        "deployments/Dockerfile",
    ]
    # WHEEL_SOURCE must be given: buildah 1.28 (Debian 12) resolves `FROM wheel-${WHEEL_SOURCE}`
    # to the stage of that name only for a --build-arg, not for the ARG's default.
    # The previous image goes first (it would stay behind untagged), and what a failed build
    # left behind (dangling images) after.
    podman("rm", "-f", "-i", CONTAINER, check=False)
    podman("rmi", "-i", IMAGE, check=False)
    # Bases of an older recipe are not used again (their tars are gone already).
    names = podman("images", "--format", "{{.Repository}}:{{.Tag}}", check=False).split()
    for name in names:
        if name.startswith("localhost/pi5trading-base:") and name not in (base, build_base):
            podman("rmi", name, check=False)
    try:
        run([*bud, "-t", IMAGE, "."], timeout=1800)
    finally:
        # buildah 1.28 leaves the working containers of the stages that COPY --from reads
        # (and their 274 MB images) behind: removed, so runs do not pile them up.
        run(["buildah", "rm", "--all"], check=False)
        podman("image", "prune", "-f", check=False)
    timed(results, "buildah_bud", started)
    info = json.loads(podman("image", "inspect", IMAGE))[0]
    results["image_mib"] = round(int(info["Size"]) / 2**20, 1)
    results["image_arch"] = info.get("Architecture")
    config = info.get("Config") or {}
    results["image_user"] = config.get("User")
    results["image_healthcheck"] = (info.get("Healthcheck") or config.get("Healthcheck") or {}).get(
        "Test"
    )
    if results["image_arch"] != "arm64":
        raise CheckError(f"the image is {results['image_arch']}, not arm64")
    if not results["image_healthcheck"]:
        raise CheckError("the image has no HEALTHCHECK (built in OCI format?)")


def archive(results: dict[str, Any]) -> None:
    """docker-archive for `docker load` on the Pi (gzipped: podman 4.3's load cannot read
    that, docker's can)."""
    started = time.monotonic()
    out = CACHE / "pi5trading-arm64.docker.tar"
    out.unlink(missing_ok=True)
    run(["buildah", "push", "-q", IMAGE, f"docker-archive:{out}:pi5trading:arm64"], timeout=600)
    run(["gzip", "-1", "-f", str(out)], timeout=600)
    timed(results, "archive", started)
    results["archive"] = str(out.relative_to(REPO)) + ".gz"
    results["archive_gz_mib"] = round(Path(f"{out}.gz").stat().st_size / 2**20, 1)


def http_json(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=10) as r:
        body: dict[str, Any] = json.loads(r.read())
        return body


def serve(results: dict[str, Any]) -> None:
    podman("rm", "-f", "-i", CONTAINER, check=False)
    podman("volume", "rm", "-f", VOLUME, check=False)
    port = free_port()
    started = time.monotonic()
    podman(
        "run",
        "-d",
        "--name",
        CONTAINER,
        "--init",
        "--arch",
        "arm64",
        *ulimits(),
        "-p",
        f"127.0.0.1:{port}:8080",
        "-v",
        f"{VOLUME}:/var/lib/pi5trading",
        IMAGE,
    )
    try:
        health: dict[str, Any] = {}
        while True:
            state = json.loads(podman("inspect", CONTAINER))[0]["State"]
            if not state.get("Running"):
                raise CheckError(f"the container exited {state.get('ExitCode')}:\n{logs()}")
            if time.monotonic() - started > 120:
                raise CheckError(f"no answer on /health after 120 s:\n{logs()}")
            try:
                health = http_json(f"http://127.0.0.1:{port}/health")
                break
            except (OSError, ValueError):
                time.sleep(0.5)
        timed(results, "serve_healthy", started)
        results["health"] = health
        if health.get("status") != "healthy" or health.get("core", {}).get("target_arch") != (
            "aarch64"
        ):
            raise CheckError(f"/health is not an aarch64 healthy answer: {health}")
        checks(results)
        backtest(results)
    except BaseException:
        podman("rm", "-f", "-t", "0", CONTAINER, check=False)
        raise
    stop(results)


def checks(results: dict[str, Any]) -> None:
    # The image's own HEALTHCHECK command, run once (no systemd timer here to schedule it).
    started = time.monotonic()
    done = subprocess.run(
        ["podman", "--runtime", "runc", "healthcheck", "run", CONTAINER],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    timed(results, "healthcheck_cmd", started)
    if done.returncode != 0:
        raise CheckError(f"the image's HEALTHCHECK failed: {done.stdout}{done.stderr}")
    pid = json.loads(podman("inspect", CONTAINER))[0]["State"]["Pid"]
    # --init: the server is the init's child; both run as the image's user.
    uids = set()
    for p in [pid, *Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]:
        status = Path(f"/proc/{p}/status").read_text()
        uids.add(next(ln.split()[1] for ln in status.splitlines() if ln.startswith("Uid:")))
    results["process_uids"] = sorted(uids)
    if "0" in uids:
        raise CheckError(f"a process of the container runs as root: uids {uids}")
    mount = json.loads(podman("volume", "inspect", VOLUME))[0]["Mountpoint"]
    db = Path(mount) / "pi5trading.db"
    if not db.is_file():
        raise CheckError(f"no database in the data volume: {sorted(os.listdir(mount))}")
    import sqlite3

    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    if not {"orders", "fills", "bars"} <= tables:
        raise CheckError(f"the migrations did not run at start: tables {sorted(tables)}")
    results["migrated_tables"] = len(tables)


def backtest(results: dict[str, Any]) -> None:
    started = time.monotonic()
    out = podman(
        "exec",
        CONTAINER,
        "sh",
        "-c",
        f"pi5trading {BACKTEST} && cat /tmp/bt/trades.csv /tmp/bt/equity.csv | sha256sum"
        " && wc -l < /tmp/bt/trades.csv",
        timeout=300,
    )
    timed(results, "backtest", started)
    lines = out.split()
    results["backtest_fills_sha256"] = lines[-3]
    results["backtest_trades"] = int(lines[-1]) - 1
    native = REPO / "test-artifacts" / "wheel" / "native.json"
    if native.is_file():
        expected = json.loads(native.read_text()).get("fills_sha256")
        results["backtest_same_fills_as_x86_64_wheel"] = expected == lines[-3]
        if expected and expected != lines[-3]:
            raise CheckError(f"fills differ from the x86_64 wheel check ({native})")


def stop(results: dict[str, Any]) -> None:
    started = time.monotonic()
    podman("stop", "-t", "30", CONTAINER, timeout=120)
    timed(results, "stop", started)
    state = json.loads(podman("inspect", CONTAINER))[0]["State"]
    results["exit_code"] = state.get("ExitCode")
    log = logs()
    podman("rm", "-f", CONTAINER, check=False)
    podman("volume", "rm", "-f", VOLUME, check=False)
    # uvicorn re-raises SIGTERM after its graceful shutdown: 143 is a clean stop, 137 a kill.
    if results["exit_code"] not in (0, 143) or results["times_s"]["stop"] >= 29:
        raise CheckError(f"not a clean stop (exit {results['exit_code']}):\n{log}")


def logs() -> str:
    return "\n".join(podman("logs", CONTAINER, check=False).splitlines()[-30:])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--no-archive", action="store_true", help="skip the docker-archive.tar.gz")
    args = ap.parse_args()
    started = time.monotonic()
    results: dict[str, Any] = {}
    step = "wheel"
    try:
        wheels = sorted((REPO / "dist").glob("pi5trading-*aarch64.whl"), key=os.path.getmtime)
        if not wheels:
            raise CheckError("no aarch64 wheel in dist/: run 'make wheel-aarch64' first")
        results["wheel"] = wheels[-1].name
        step = "base"
        base = base_image(results, "arm64", BASE_PACKAGES)
        host = run(["dpkg", "--print-architecture"]).strip()
        build_base = base_image(results, host, BUILD_PACKAGES)
        step = "wheelhouse"
        t0 = time.monotonic()
        wheelhouse(wheels[-1])
        timed(results, "wheelhouse", t0)
        step = "build"
        build(base, build_base, host, results)
        if not args.no_archive:
            step = "archive"
            archive(results)
        step = "run"
        serve(results)
    except CheckError as exc:
        results["failed"] = f"{step}: {exc}"
    results["total_s"] = round(time.monotonic() - started, 1)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "image.json").write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps({k: v for k, v in results.items() if k != "health"}, indent=2))
    if "failed" in results:
        print(f"image check FAILED at {results['failed']}", file=sys.stderr)
        return 1
    print(f"image check passed in {results['total_s']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
