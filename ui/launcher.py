"""The ``humanfx`` console script: the desktop app or a headless command.

- ``humanfx`` or ``humanfx app [CLIP] [--tracks FILE]`` or ``humanfx CLIP``: the desktop app;
- ``humanfx COMMAND ...``: :func:`editor_plugin.cli.main` (headless; works without a display).

This lives in ``ui`` because only ``ui`` may import the app; Qt is imported only when the app
starts, so headless commands never load it.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path


def _wants_app(argv: list[str], commands: set[str]) -> bool:
    if not argv:
        return True
    first = argv[0]
    if first == "app":
        return True
    return first not in commands and not first.startswith("-") and Path(first).exists()


def main(argv: Sequence[str] | None = None) -> int:
    from editor_plugin import cli

    args = list(sys.argv[1:] if argv is None else argv)
    if _wants_app(args, set(cli.command_names())):
        from ui.app import main as app_main

        return app_main(args[1:] if args and args[0] == "app" else args)
    return cli.main(args)


if __name__ == "__main__":
    sys.exit(main())
