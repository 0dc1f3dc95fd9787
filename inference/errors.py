"""The one exception type every humanfx layer raises for a user-facing problem."""

from __future__ import annotations

from pathlib import Path


class HumanfxError(Exception):
    """A problem the user can act on.

    ``str(err)`` is one line: what went wrong, with which file, and what to do about it.
    The CLI prints it as ``humanfx: error: <message>`` and exits non-zero; the app shows it
    in a dialog.
    """

    def __init__(self, message: str, *, path: str | Path | None = None, hint: str | None = None):
        self.message = message
        self.path = None if path is None else Path(path)
        self.hint = hint
        super().__init__(self.format())

    def format(self) -> str:
        parts = []
        if self.path is not None:
            parts.append(f"{self.path}: ")
        parts.append(self.message)
        if self.hint:
            parts.append(f" ({self.hint})")
        return "".join(parts)


class InputError(HumanfxError):
    """Bad or unreadable input: a file that is missing, malformed, or does not match."""


class CancelledError(HumanfxError):
    """A long job was cancelled by the user; nothing partial was kept."""

    def __init__(self, message: str = "cancelled", **kw):
        super().__init__(message, **kw)
