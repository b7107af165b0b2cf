"""`pi5trading serve` as a user runs it: a real process answering GET /health."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request

import pytest

import pi5trading
from tests.services import free_port

pytestmark = pytest.mark.integration


def test_serve_answers_health(tmp_path: object) -> None:
    port = free_port()
    env = {**os.environ, "PI5_API__PORT": str(port)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "pi5trading", "serve"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        body = None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as r:
                    assert r.status == 200
                    body = json.loads(r.read())
                    break
            except OSError:
                time.sleep(0.1)
        assert body is not None, "server never answered /health"
        assert body["status"] == "healthy"
        assert body["version"] == pi5trading.__version__
        assert body["core"]["profile"] == "release"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/schema/openapi.json") as r:
            schema = json.loads(r.read())
        assert "/health" in schema["paths"]
    finally:
        proc.terminate()
        proc.wait(10)
        if proc.stdout is not None:
            proc.stdout.close()
