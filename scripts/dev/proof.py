"""The long proof (issue 17): the tests ``make test`` runs CI-sized, at scale, and the
fault tests, one after the other, timed, with a report of what ran and what passed.

    python scripts/dev/proof.py                    # every step (make proof)
    python scripts/dev/proof.py --steps determinism,rust-properties
    python scripts/dev/proof.py --quick            # CI sizes: checks the driver itself

Steps (docs/RELIABILITY.md says what each proves):

- ``determinism``: the same backtest twice, two processes, byte-identical report files,
  on ``--bars`` generated bars (200,000) with ``--resamples`` Monte Carlo resamples (1,000);
- ``python-properties``: the engine, venue and portfolio property tests (Hypothesis),
  ``--scale`` times their examples (20x): accounting identity, fills inside their bar,
  round trips against a plain reference, live stepping equal to a backtest;
- ``rust-properties``: ``cargo test`` of the core with ``PROPTEST_CASES=--rust-cases``
  (2,000) for every property test (random order flows through the engine, the venue, the
  book, the portfolio, risk);
- ``hostile-input``: forged tokens, nested and oversized bodies, WebSocket sign-ins,
  hostile strategy parameters (every value on every parameter when ``--scale`` > 1);
- ``api-fuzz``: schemathesis over every route as each role, ``--fuzz-scale`` times the
  examples per route (12 in CI; 5x by default: 20x took 11 minutes on the 2-CPU build VM);
- ``faults``: the fault tests against real services (the node SIGKILLed mid-fills and
  restarted, backtest jobs SIGKILLed, storage outages with the breaker and journal,
  PostgreSQL and Redis stopped and restarted under a trading node, the journal's disk
  full, Redis away, the Alpaca stream misbehaving and the Alpaca broker failing under a
  node, the dashboard watching the database, Redis, the node and the broker go away and
  come back): PostgreSQL and Redis are started by the fixtures (tests/services.py);
- ``load``: benches/live_load.py for ``--load-seconds`` (180): `pi5trading serve` with six
  strategies on 24 symbols, REST pollers, an order probe and 100 WebSocket clients (one
  too slow): events/s, REST and WebSocket p50/p99, dropped clients, RSS over time, writer
  queue depth (``load.md`` / ``load.json`` here, and in the report).

Writes ``test-artifacts/proof/report.md`` and ``report.json`` (and each step's output as
``<step>.log``). Exit status 1 when a step failed; the report says which, with the tail
of its output. Nothing is retried and nothing is left out of the report.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
OUT = REPO / "test-artifacts" / "proof"

PROPERTY_TESTS = [
    "tests/unit/engine/test_backtest.py::test_random_order_flow_reconciles_and_fills_inside_bars",
    "tests/unit/engine/test_backtest.py::test_round_trips_match_a_plain_reference",
    "tests/unit/engine/test_live_stepping.py",
    "tests/unit/core/test_venue_properties.py",
    "tests/unit/core/test_portfolio.py",
]
FAULT_TESTS = [
    "tests/integration/test_node_sigkill.py",
    "tests/integration/test_backtest_jobs_sigkill.py",
    "tests/integration/test_storage_outage.py",
    "tests/integration/test_node_outages.py",
    "tests/integration/test_journal_disk_full.py",
    "tests/integration/test_node_journal_full.py",
    "tests/integration/test_feed_faults.py",
    "tests/integration/test_yahoo_feed_faults.py",
    "tests/integration/test_broker_faults.py",
    "tests/integration/test_dashboard_outages.py",
    "tests/integration/test_dashboard_broker_outage.py",
    "tests/integration/test_api_workers_redis.py",
    "tests/unit/storage/test_breaker.py",
    "tests/unit/api/test_auth.py::test_unreadable_revocations_refuse_rather_than_let_a_token_in",
]


@dataclass
class Step:
    name: str
    proves: str
    command: list[str]
    env: dict[str, str] = field(default_factory=dict)
    status: str = "not run"
    seconds: float = 0.0
    summary: str = ""
    log: str = ""
    timed: dict[str, float] = field(default_factory=dict)
    """Each test's seconds (setup + call + teardown), from pytest's ``--durations=0``."""


def _pytest(*targets: str) -> list[str]:
    # The long steps outlast the per-test timeout of the test command (300 s).
    return [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "timeout=0",
            *targets]  # fmt: skip


def plan(args: argparse.Namespace) -> list[Step]:
    scale = "1" if args.quick else str(args.scale)
    fuzz_scale = "1" if args.quick else str(args.fuzz_scale)
    bars = "6000" if args.quick else str(args.bars)
    resamples = "200" if args.quick else str(args.resamples)
    cases = "" if args.quick else str(args.rust_cases)
    load_s = "5" if args.quick else str(getattr(args, "load_seconds", 180))
    rust_env = {"PROPTEST_CASES": cases} if cases else {}
    return [
        Step(
            "determinism",
            f"the same backtest twice (two processes) writes byte-identical report files; "
            f"{bars} bars, {resamples} Monte Carlo resamples",
            _pytest("tests/unit/cli/test_report_determinism.py"),
            {"PROOF_BARS": bars, "PROOF_RESAMPLES": resamples},
        ),
        Step(
            "python-properties",
            f"engine/venue/portfolio property tests at {scale}x their examples: accounting "
            "identity, fills inside their bar, round trips, live stepping = backtest",
            _pytest(*PROPERTY_TESTS),
            {"PROOF_SCALE": scale},
        ),
        Step(
            "rust-properties",
            "the core's tests, every proptest at "
            + (f"{cases} cases" if cases else "its CI case count"),
            ["cargo", "test", "-p", "pi5trading-core", "--no-default-features", "-q"],
            rust_env,
        ),
        Step(
            "hostile-input",
            "forged and misused tokens 401 with their reason, nested/oversized bodies 4xx, "
            "hostile WebSocket sign-ins closed 4401, hostile strategy parameters "
            + ("(every value on every parameter)" if scale != "1" else "(CI subset)")
            + " and injection text never 5xx",
            _pytest("tests/unit/api/test_hostile_input.py"),
            {"PROOF_SCALE": scale},
        ),
        Step(
            "api-fuzz",
            f"schemathesis over every route as each role, {fuzz_scale}x12 examples per route: "
            "no 5xx, responses match the schema",
            _pytest("tests/unit/api/test_schema_fuzz.py"),
            {"PROOF_SCALE": fuzz_scale},
        ),
        Step(
            "faults",
            "node SIGKILLed mid-fills and restarted, backtest jobs SIGKILLed, storage outages "
            "(breaker, journal, replay), PostgreSQL and Redis restarted under a trading "
            "node, the journal's disk full, Redis away (503, not a revoked token let in), "
            "the Alpaca stream dropping, sending junk and old data, going silent under a node, "
            "the Alpaca broker answering 5xx and timing out while the node routes orders, "
            "the dashboard showing the database, Redis and API outages and their end, "
            "the journal's disk full under a trading node (trading pauses, nothing lost), "
            "the Yahoo poller's vendor failing, the dashboard during a broker outage, "
            "Redis restarted under an API-only worker",
            [*_pytest(*FAULT_TESTS), "--durations=0", "--durations-min=0"],
            # > 1: the PostgreSQL restart is also tried with the server killed
            # (pg_ctl -m immediate), not only stopped cleanly; the feed faults play twice
            # the tape.
            {"PROOF_SCALE": "1" if args.quick else "2"},
        ),
        Step(
            "load",
            f"a live node under {load_s} s of load: 6 strategies, 24 symbols, REST pollers, "
            "100 WebSocket clients (one too slow: dropped, the others get every event in "
            "order), no 5xx, fills stored once; figures in load.md",
            [
                sys.executable,
                "benches/live_load.py",
                "--seconds",
                load_s,
                "--out",
                str(getattr(args, "out", OUT)),
            ],
        ),
    ]


_PYTEST_SUMMARY = re.compile(r"^=*\s*(\d+ (passed|failed|error)[^=]*?)\s*=*$", re.MULTILINE)
_CARGO_SUMMARY = re.compile(r"^test result: .*$", re.MULTILINE)
_LOAD_SUMMARY = re.compile(r"^LOAD RESULT: (.*)$", re.MULTILINE)


def _summary(output: str) -> str:
    load = _LOAD_SUMMARY.findall(output)
    if load:
        return str(load[-1])
    found = _PYTEST_SUMMARY.findall(output)
    if found:
        return str(found[-1][0])
    results = _CARGO_SUMMARY.findall(output)
    if results:
        passed = sum(int(m) for r in results for m in re.findall(r"(\d+) passed", r))
        failed = sum(int(m) for r in results for m in re.findall(r"(\d+) failed", r))
        return f"{passed} passed, {failed} failed ({len(results)} test binaries)"
    return ""


def run(step: Step, out: Path) -> None:
    log = out / f"{step.name}.log"
    env = {**os.environ, **step.env}
    env.setdefault("PYTHONPATH", str(REPO / "python"))
    started = time.monotonic()
    print(f">> proof: {step.name}: {step.proves}", flush=True)
    if shutil.which(step.command[0]) is None and not Path(step.command[0]).exists():
        step.status, step.summary = "not run", f"{step.command[0]} not found"
        print(f">> proof: {step.name}: NOT RUN ({step.summary})", flush=True)
        return
    with log.open("w") as fh:
        fh.write(f"$ {' '.join(step.command)}\n# env: {step.env}\n\n")
        fh.flush()
        proc = subprocess.run(
            step.command, cwd=REPO, env=env, stdout=fh, stderr=subprocess.STDOUT, check=False
        )
    step.seconds = round(time.monotonic() - started, 1)
    output = log.read_text(errors="replace")
    step.summary = _summary(output)
    step.timed = _durations(output)
    step.status = "passed" if proc.returncode == 0 else "failed"
    step.log = log.name
    if proc.returncode != 0:
        step.summary = (step.summary or f"exit status {proc.returncode}") + (
            "\n\n" + "\n".join(output.splitlines()[-25:])
        )
    print(f">> proof: {step.name}: {step.status} in {step.seconds} s ({_first(step.summary)})",
          flush=True)  # fmt: skip


_DURATION = re.compile(r"^([0-9.]+)s (?:setup|call|teardown)\s+(\S+)$", re.MULTILINE)


def _durations(output: str) -> dict[str, float]:
    """pytest's ``--durations=0`` lines, summed per test: what each fault took."""
    timed: dict[str, float] = {}
    for seconds, test in _DURATION.findall(output):
        timed[test] = round(timed.get(test, 0.0) + float(seconds), 2)
    return timed


def _first(text: str) -> str:
    return text.splitlines()[0] if text else ""


def _git(*args: str) -> str:
    try:
        return subprocess.run(
            ["git", *args], cwd=REPO, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def write_report(steps: list[Step], args: argparse.Namespace, out: Path, seconds: float) -> None:
    machine = {
        "cpus": os.cpu_count(),
        "machine": platform.machine(),
        "python": platform.python_version(),
        "system": f"{platform.system()} {platform.release()}",
    }
    head = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": _git("rev-parse", "--short", "HEAD"),
        "dirty": bool(_git("status", "--porcelain")),
        "quick": args.quick,
        "scale": args.scale,
        "fuzz_scale": args.fuzz_scale,
        "bars": args.bars,
        "resamples": args.resamples,
        "rust_cases": args.rust_cases,
        "machine": machine,
        "seconds": round(seconds, 1),
        "passed": all(s.status == "passed" for s in steps),
    }
    (out / "report.json").write_text(
        json.dumps({**head, "steps": [asdict(s) for s in steps]}, indent=2) + "\n"
    )
    verdict = (
        "every step passed"
        if head["passed"]
        else "NOT every step passed: "
        + ", ".join(f"{s.name} {s.status}" for s in steps if s.status != "passed")
    )
    lines = [
        "# Proof run (issue 17)",
        "",
        f"{head['date']}, commit {head['commit']}"
        f"{' (uncommitted changes)' if head['dirty'] else ''}"
        f", {machine['cpus']} CPUs {machine['machine']}, Python {machine['python']}"
        f"{', QUICK (CI sizes)' if args.quick else ''}: **{verdict}** in {head['seconds']} s.",
        "",
        "| step | status | time (s) | result | what it shows |",
        "|---|---|---:|---|---|",
    ]
    for s in steps:
        lines.append(f"| {s.name} | {s.status} | {s.seconds} | {_first(s.summary)} | {s.proves} |")
    lines += ["", "Commands (each step's full output is in its `.log` here):", ""]
    for s in steps:
        env = " ".join(f"{k}={v}" for k, v in s.env.items())
        cmd = ["python", *s.command[1:]] if s.command[0] == sys.executable else s.command
        lines.append(f"- {s.name}: `{(env + ' ') if env else ''}{' '.join(cmd)}`")
    for s in steps:
        if s.timed:
            lines += ["", f"## {s.name}: each test, timed", "", "| test | seconds |", "|---|---:|"]
            lines += [f"| {t} | {sec:.1f} |" for t, sec in sorted(s.timed.items())]
    load = out / "load.md"
    if any(s.name == "load" and s.status != "not run" for s in steps) and load.exists():
        lines += ["", load.read_text().replace("# Load", "## Load", 1)]
    failed = [s for s in steps if s.status == "failed"]
    for s in failed:
        lines += ["", f"## {s.name} failed", "", "```", s.summary, "```"]
    (out / "report.md").write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    names = [s.name for s in plan(argparse.Namespace(quick=True))]
    p.add_argument("--steps", default=",".join(names), help=f"comma-separated, of {names}")
    p.add_argument("--scale", type=int, default=20, help="example multiplier (Hypothesis, fuzz)")
    p.add_argument(
        "--fuzz-scale", type=int, default=5, help="schemathesis example multiplier (12 in CI)"
    )
    p.add_argument("--bars", type=int, default=200_000, help="bars in the determinism run")
    p.add_argument("--resamples", type=int, default=1000, help="Monte Carlo resamples there")
    p.add_argument("--rust-cases", type=int, default=2000, help="PROPTEST_CASES")
    p.add_argument("--load-seconds", type=int, default=180, help="the live load's length")
    p.add_argument("--quick", action="store_true", help="CI sizes (checks the driver)")
    p.add_argument("--out", type=Path, default=OUT)
    args = p.parse_args(argv)
    chosen = [n.strip() for n in args.steps.split(",") if n.strip()]
    unknown = sorted(set(chosen) - set(names))
    if unknown:
        p.error(f"unknown steps {unknown}; known: {names}")
    args.out.mkdir(parents=True, exist_ok=True)
    steps = [s for s in plan(args) if s.name in chosen]
    started = time.monotonic()
    for step in steps:
        run(step, args.out)
    write_report(steps, args, args.out, time.monotonic() - started)
    ok = all(s.status == "passed" for s in steps)
    print(f">> proof: {'every step passed' if ok else 'FAILED'}; report: {args.out / 'report.md'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
