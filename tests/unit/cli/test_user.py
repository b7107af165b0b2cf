"""`pi5trading user`: the first admin from the command line, and the usual mistakes."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from pi5trading.cli import main


def run(tmp_path: Path, *args: str, stdin: str = "") -> tuple[int, str]:
    result = CliRunner().invoke(
        main, ["user", *args], input=stdin, env={"PI5_DATA_DIR": str(tmp_path)}
    )
    return result.exit_code, result.output


def test_create_and_list_users(tmp_path: Path) -> None:
    code, out = run(tmp_path, "list")
    assert code == 0
    assert "no users yet" in out
    code, out = run(tmp_path, "create", "--admin", "Alice", "--password-stdin",
                    stdin="a long enough secret\n")  # fmt: skip
    assert (code, out.strip()) == (0, "created admin alice")
    # Prompted twice when not from stdin; the two must match.
    code, out = run(tmp_path, "create", "--trader", "bob",
                    stdin="my own password!\nmy own password!\n")  # fmt: skip
    assert code == 0, out
    code, out = run(tmp_path, "list")
    lines = [line.split() for line in out.strip().splitlines()]
    assert lines == [["alice", "admin", "active"], ["bob", "trader", "active"]]


def test_bad_users_are_refused_with_one_line(tmp_path: Path) -> None:
    cases = [
        (("create", "carol", "--password-stdin"), "short\n", "at least 12 characters"),
        (("create", "x", "--password-stdin"), "a long enough secret\n", "3-32 characters"),
        (("create", "dave", "--password-stdin"), "dave-is-the-best\n", "must not contain"),
    ]
    for args, stdin, why in cases:
        code, out = run(tmp_path, *args, stdin=stdin)
        assert code == 1
        assert why in out
        assert "Traceback" not in out
    run(tmp_path, "create", "erin", "--password-stdin", stdin="a long enough secret\n")
    code, out = run(tmp_path, "create", "ERIN", "--password-stdin", stdin="a long enough secret\n")
    assert code == 1
    assert "taken" in out
