"""Where the commands write: checked before the work starts, never created for a failed run."""

from __future__ import annotations

import os
from pathlib import Path

import click


def unwritable(path: Path, *, folder: bool) -> str | None:
    """Why ``path`` (a folder, or a file with its folder) cannot be written, or ``None``.

    Nothing is created: a command that fails later leaves no empty folder behind.
    ``os.access`` answers as the write will (a read-only mount fails it even for root).
    """
    p = path.expanduser()
    if p.exists():
        if folder != p.is_dir():
            return "it is a file, not a folder" if folder else "it is a folder, not a file"
        if not os.access(p, os.W_OK):
            return "it is read-only"
        parent = p if folder else p.parent
        # SQLite writes its -wal and -shm files next to the database.
        if not os.access(parent, os.W_OK | os.X_OK):
            return f"its folder {parent} is read-only"
        return None
    parent = p.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        return f"{parent} is a file, not a folder"
    if not os.access(parent, os.W_OK | os.X_OK):
        return f"{parent} is read-only"
    return None


def require_writable_folder(folder: Path, what: str, fix: str) -> Path:
    """``folder`` if it can be written (created later, when there is something to write)."""
    problem = unwritable(folder, folder=True)
    if problem is not None:
        raise click.ClickException(f"cannot write {what} to {folder}: {problem} ({fix})")
    return folder


def require_writable_database(url: str, data_dir: str, fix: str) -> None:
    """Refuse a SQLite database file that cannot be written, before the work starts.
    (A PostgreSQL server is only known when connected to.)"""
    from pi5trading.exceptions import Pi5TradingError
    from pi5trading.storage.connect import sqlite_path

    try:
        path = sqlite_path(url, data_dir)
    except Pi5TradingError as exc:
        raise click.ClickException(str(exc)) from exc
    if path is None:
        return
    problem = unwritable(path, folder=False)
    if problem is not None:
        raise click.ClickException(f"cannot write the database {path}: {problem} ({fix})")
