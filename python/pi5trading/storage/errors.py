"""Errors raised by the storage layer."""

from __future__ import annotations

from pi5trading.exceptions import InvalidInputError, Pi5TradingError


class StorageError(Pi5TradingError):
    """Base class of storage errors."""


class DatabaseUnavailableError(StorageError, ConnectionError):
    """The database cannot be reached (or its circuit breaker is open). Retry later."""


class MigrationError(StorageError):
    """The migrations on disk and the ones recorded in the database disagree, or one failed."""


class RecordError(StorageError, InvalidInputError):
    """A record handed to the repository is invalid; nothing was written."""


class ConstraintError(StorageError, ValueError):
    """The database refused a write that breaks a constraint (duplicate name, bad enum …)."""


class ImportValidationError(StorageError, InvalidInputError):
    """An import file has bad rows; nothing was written. ``problems`` lists (line, message)."""

    def __init__(
        self,
        source: str,
        problems: list[tuple[int, str]],
        truncated: bool,
        total: int | None = None,
    ) -> None:
        self.source = source
        self.problems = problems
        self.truncated = truncated
        self.total = max(total or 0, len(problems))
        """Bad rows in the file; ``problems`` shows the first ones (``--max-errors``)."""
        # One line per problem, ``path: line N: field: message (value 'x')``.
        lines = [
            f"{source}: line {line}: {msg}" if line else f"{source}: {msg}"
            for line, msg in problems
        ]
        if len(lines) == 1 and not truncated:
            # One problem (an empty file, a bad header, one bad row) is one line.
            super().__init__(f"{lines[0]}; nothing imported")
            return
        # The count is the file's, not the shown lines' (it said "3 bad row(s)" for 10).
        hidden = self.total - len(problems)
        more = f"\n  ({hidden} more not shown)" if hidden else ""
        more = more or ("\n  (more errors not shown)" if truncated else "")
        text = "\n".join(lines)
        super().__init__(f"{source}: {self.total} bad row(s), nothing imported:\n{text}{more}")


__all__ = [
    "ConstraintError",
    "DatabaseUnavailableError",
    "ImportValidationError",
    "MigrationError",
    "RecordError",
    "StorageError",
]
