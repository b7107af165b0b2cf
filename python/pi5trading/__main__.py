"""`python -m pi5trading` is the CLI."""

from pi5trading.cli import main

main()
