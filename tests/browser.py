"""Headless Chromium for tests that look at what a person sees (a screenshot, or a page
driven over the DevTools protocol), and a small PNG reader.

Debian's `chromium` is used (no browser download); a missing binary is an error naming the
package, never a skip.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import signal
import struct
import subprocess
import tempfile
import time
import urllib.request
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    raise RuntimeError(
        "Chromium not found: `apt-get install chromium` (make test does this as root)"
    )


def screenshot(url: str, out: Path, width: int = 1200, height: int = 2600) -> Path:
    """Render ``url`` headless and save a PNG screenshot to ``out``."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="pi5-chromium-") as profile:
        res = subprocess.run(
            [
                chromium(),
                *FLAGS,
                f"--user-data-dir={profile}",
                f"--window-size={width},{height}",
                f"--screenshot={out}",
                url,
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    if res.returncode != 0 or not out.exists():
        raise RuntimeError(f"chromium screenshot failed ({res.returncode}): {res.stderr[-2000:]}")
    return out


def read_png(path: Path) -> tuple[int, int, list[bytes]]:
    """Decode an 8-bit RGB/RGBA non-interlaced PNG into rows of pixel bytes."""
    data = path.read_bytes()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    pos, idat = 8, b""
    width = height = channels = 0
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", body)
            if depth != 8 or interlace != 0 or color not in (2, 6):
                raise ValueError("unsupported PNG format")
            channels = 3 if color == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = width * channels
    rows: list[bytes] = []
    prev = bytearray(stride)
    for y in range(height):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - channels] if i >= channels else 0
            b = prev[i]
            c = prev[i - channels] if i >= channels else 0
            if f == 1:
                line[i] = (line[i] + a) & 0xFF
            elif f == 2:
                line[i] = (line[i] + b) & 0xFF
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 0xFF
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[i] = (line[i] + pred) & 0xFF
        # Normalise to RGB.
        rgb = bytes(line) if channels == 3 else bytes(v for j, v in enumerate(line) if j % 4 != 3)
        rows.append(rgb)
        prev = line
    return width, height, rows


def count_color(rows: list[bytes], rgb: tuple[int, int, int], tolerance: int = 40) -> int:
    """Pixels within ``tolerance`` (per channel) of ``rgb``."""
    r0, g0, b0 = rgb
    n = 0
    for row in rows:
        for i in range(0, len(row), 3):
            if (
                abs(row[i] - r0) <= tolerance
                and abs(row[i + 1] - g0) <= tolerance
                and abs(row[i + 2] - b0) <= tolerance
            ):
                n += 1
    return n


class Page:
    """One headless Chromium tab driven over the DevTools protocol, for tests that watch
    a page while the services behind it fail (tests/integration/test_dashboard_outages.py).

        with Page.open() as page:
            page.goto("http://127.0.0.1:8080/system")
            page.wait_for("document.body.innerText.includes('Ready')")
    """

    def __init__(self, proc: subprocess.Popen[bytes], ws: Any, profile: str) -> None:
        self._proc = proc
        self._ws = ws
        self._profile = profile
        self._next = 0

    @classmethod
    @contextmanager
    def open(cls, width: int = 1280, height: int = 1600) -> Iterator[Page]:
        from websockets.sync.client import connect

        # Chromium's helper processes may still write to the profile as it is removed.
        with tempfile.TemporaryDirectory(
            prefix="pi5-chromium-", ignore_cleanup_errors=True
        ) as profile:
            proc = subprocess.Popen(
                [
                    chromium(),
                    *FLAGS,
                    f"--user-data-dir={profile}",
                    f"--window-size={width},{height}",
                    "--remote-debugging-port=0",
                    "about:blank",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,  # its helpers in one group, ended together
            )
            try:
                port = _devtools_port(Path(profile), proc)
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as r:
                    targets = json.load(r)
                url = next(t["webSocketDebuggerUrl"] for t in targets if t["type"] == "page")
                with connect(url, max_size=None, open_timeout=10) as ws:
                    page = cls(proc, ws, profile)
                    page.send("Page.enable")
                    page.send("Runtime.enable")
                    yield page
            finally:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(10)

    def send(self, method: str, **params: Any) -> dict[str, Any]:
        """One protocol command; its result (events arriving meanwhile are skipped)."""
        self._next += 1
        ident = self._next
        self._ws.send(json.dumps({"id": ident, "method": method, "params": params}))
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            msg = json.loads(self._ws.recv(timeout=30))
            if msg.get("id") == ident:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return dict(msg.get("result", {}))
        raise TimeoutError(f"{method}: no answer within 30 s")

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (promises awaited)."""
        got = self.send(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
        if "exceptionDetails" in got:
            raise RuntimeError(f"{expression}: {got['exceptionDetails']}")
        return got.get("result", {}).get("value")

    def goto(self, url: str) -> None:
        self.send("Page.navigate", url=url)
        self.wait_for("document.readyState === 'complete'")

    def wait_for(self, expression: str, timeout: float = 30.0, what: str = "") -> Any:
        """Polls ``expression`` until it is truthy; its value."""
        deadline = time.monotonic() + timeout
        while True:
            value = self.evaluate(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                text = self.evaluate("document.body ? document.body.innerText : ''")
                raise AssertionError(
                    f"timed out waiting for {what or expression}; the page says:\n{text[:3000]}"
                )
            time.sleep(0.1)

    def text(self, selector: str = "body") -> str:
        """The visible text of the first element matching ``selector`` ('' if none)."""
        return str(
            self.evaluate(
                f"(e => e ? e.innerText : '')(document.querySelector({json.dumps(selector)}))"
            )
        )

    def screenshot(self, out: Path) -> Path:
        out.parent.mkdir(parents=True, exist_ok=True)
        data = self.send("Page.captureScreenshot", format="png")["data"]
        out.write_bytes(base64.b64decode(data))
        return out


# What the dashboard's System page shows, read from its DOM: ``check(name)`` is a readiness
# check's state ('up', 'down' or '' when absent), ``breaker(name)`` a breaker's badge,
# ``banner()`` the live connection's offline banner ('' when connected).
SYSTEM_PAGE_JS = """
const check = name => {
  for (const li of document.querySelectorAll('ul.checks li')) {
    const span = li.querySelector('span');
    const text = li.innerText.replace(/^[✓✗]\\s*/, '').trim();
    if (span && (text === name || text.startsWith(name + ' '))) return span.className;
  }
  return '';
};
const breaker = name => {
  for (const li of document.querySelectorAll('ul.checks li')) {
    if (li.querySelector('strong')?.innerText === name)
      return li.querySelector('.badge')?.innerText ?? '';
  }
  return '';
};
const banner = () => document.querySelector('[data-testid=offline-banner]')?.innerText ?? '';
"""


def open_system_page(page: Page, url: str, username: str, password: str) -> None:
    """Signs in to the dashboard at ``url`` (the session put where the dashboard keeps it)
    and opens its System page."""
    import httpx

    r = httpx.post(
        f"{url}/api/v1/auth/login", json={"username": username, "password": password}, timeout=10
    )
    assert r.status_code == 200, r.text
    pair = r.json()
    session = {"access": pair["access_token"], "refresh": pair["refresh_token"],
               "user": pair["user"]}  # fmt: skip
    page.goto(f"{url}/login")
    page.evaluate(
        f"localStorage.setItem('pi5.session', JSON.stringify({{...{json.dumps(session)},"
        f" expiresAt: Date.now() + {int(pair['expires_in'])} * 1000}}))"
    )
    page.goto(f"{url}/system")


def shows(page: Page, condition: str, what: str, timeout: float = 30.0) -> None:
    """Waits until the System page shows ``condition`` (JavaScript over ``SYSTEM_PAGE_JS``)."""
    page.wait_for(f"(() => {{ {SYSTEM_PAGE_JS} return {condition}; }})()", timeout, what)


def _devtools_port(profile: Path, proc: subprocess.Popen[bytes]) -> int:
    """The port Chromium chose (``--remote-debugging-port=0`` writes it to the profile)."""
    marker = profile / "DevToolsActivePort"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"chromium exited ({proc.returncode}) before DevTools opened")
        if marker.exists():
            first = marker.read_text().splitlines()[:1]
            if first and first[0].isdigit():
                return int(first[0])
        time.sleep(0.05)
    raise RuntimeError("chromium did not open DevTools within 30 s")
