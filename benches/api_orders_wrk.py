"""Order submission over loopback measured with wrk (a C client, one connection) instead
of a Python one, against the same `pi5trading serve` as benches/api_latency.py (node and
demo strategies running, SQLite, risk profile unlimited): `GET /health`, then
`POST /api/v1/orders` (limit orders resting below the market, each one different).
Needs Debian's `wrk` (`apt-get install wrk`). See docs/PERFORMANCE.md "API".

    PYTHONPATH=python .venv/bin/python benches/api_orders_wrk.py [--seconds 8]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from api_latency import PASSWORD, start_server

# Each request a different order (the risk engine refuses duplicates within a second).
LUA = """
counter = 0
request = function()
  counter = counter + 1
  local limit = string.format("%.2f", PRICE * 0.95 - (counter % 5000) * 0.01)
  local body = '{"symbol":"SYMBOL","side":"buy","quantity":"' .. (1 + counter % 7)
    .. '","type":"limit","price":"' .. limit .. '"}'
  return wrk.format("POST", "/api/v1/orders",
    {["Content-Type"]="application/json", ["Authorization"]="Bearer TOKEN"}, body)
end
done = function(summary, latency, requests)
  io.write(string.format("non-2xx answers: %d\\n", summary.errors.status))
end
"""


def wrk(url: str, seconds: float, script: Path | None = None) -> str:
    cmd = ["wrk", "-t1", "-c1", f"-d{seconds:g}s", "--latency"]
    if script is not None:
        cmd += ["-s", str(script)]
    out = subprocess.run([*cmd, url], capture_output=True, text=True, check=True).stdout
    keep = ("50%", "90%", "99%", "Requests/sec", "non-2xx")
    return "\n".join(line for line in out.splitlines() if any(k in line for k in keep))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=8.0)
    args = ap.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk not found: apt-get install wrk")
    port, server = start_server()
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if httpx.get(base + "/ready").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        login = {"username": "bench", "password": PASSWORD}
        token = httpx.post(base + "/api/v1/auth/login", json=login).json()["access_token"]
        time.sleep(2)  # prices flowing
        auth = {"Authorization": f"Bearer {token}"}
        quote = httpx.get(base + "/api/v1/market/quotes", headers=auth).json()[0]
        lua = LUA.replace("PRICE", quote["price"]).replace("SYMBOL", quote["symbol"])
        script = Path(tempfile.mkdtemp()) / "orders.lua"
        script.write_text(lua.replace("TOKEN", token))
        print(f"GET /health, 1 connection, {args.seconds:g} s:")
        print(wrk(base + "/health", args.seconds))
        print(f"POST /api/v1/orders, 1 connection, {args.seconds:g} s:")
        print(wrk(base + "/api/v1/orders", args.seconds, script))
    finally:
        server.terminate()
        server.wait(10)


if __name__ == "__main__":
    main()
