"""The one exception type for bad user input.

Every reader raises :class:`InputError` with the file and (where it applies)
the line, so the CLI can print one clear sentence and exit with code 2 instead
of a traceback.
"""

from __future__ import annotations

from pathlib import Path


class InputError(ValueError):
    """Bad input from a user: names the file, the line and what to do."""

    def __init__(self, message: str, path: str | Path | None = None, line: int | str | None = None):
        self.message = message
        self.path = None if path is None else str(path)
        self.line = line
        super().__init__(str(self))

    def __str__(self) -> str:
        where = ""
        if self.path is not None:
            where = self.path if self.line is None else f"{self.path}, line {self.line}"
            where += ": "
        return where + self.message
