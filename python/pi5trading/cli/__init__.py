"""The ``pi5trading`` command line: one module per group of verbs.

``serve`` (``serve.py``), ``info`` (``info.py``), ``migrate`` (``migrate.py``), ``data
import`` (``data.py``), ``backtest``, ``optimize`` and ``runs`` (``backtest.py``),
``backup`` and ``restore`` (``backup.py``). Each
command imports what it needs when it runs, so ``pi5trading --help`` loads no NumPy,
database driver or web framework.
"""

from __future__ import annotations

import click

from pi5trading import __version__
from pi5trading.cli.audit import audit_group
from pi5trading.cli.backtest import backtest_command, optimize_command, runs_command
from pi5trading.cli.backup import backup_command, restore_command
from pi5trading.cli.credentials import credentials_group
from pi5trading.cli.data import data_group
from pi5trading.cli.info import info_command
from pi5trading.cli.migrate import migrate_command
from pi5trading.cli.serve import api_command, serve_command
from pi5trading.cli.user import user_group


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "-V", "--version", prog_name="pi5trading")
def main() -> None:
    """pi5trading: algorithmic trading on a Raspberry Pi 5.

    Settings come from PI5_* environment variables and an optional .env file
    (e.g. PI5_API__PORT=9000). Run `pi5trading COMMAND --help` for details.
    """


for _command in (
    serve_command,
    info_command,
    migrate_command,
    backup_command,
    restore_command,
    data_group,
    backtest_command,
    optimize_command,
    runs_command,
    user_group,
    audit_group,
    credentials_group,
    api_command,
):
    main.add_command(_command)

__all__ = ["main"]
