"""The ``humanfx`` console script: the desktop app or a headless command.

- ``humanfx`` or ``humanfx app [CLIP] [--tracks FILE]`` or ``humanfx CLIP``: the desktop app;
- ``humanfx demo``: the offline demo (synthetic clip analyzed by the seed networks) opened in
  the app when there is a display; without one, or with ``--no-app``, the headless demo, which
  renders background swaps instead;
- ``humanfx COMMAND ...``: :func:`editor_plugin.cli.main` (headless; works without a display).

This lives in ``ui`` because only ``ui`` may import the app; Qt is imported only when the app
starts, so headless commands never load it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path


def has_display() -> bool:
    """Whether a window can be shown: Qt's platform plugin when one is forced
    (``QT_QPA_PLATFORM``; ``offscreen``/``minimal`` show nothing), else a desktop session."""
    platform = os.environ.get("QT_QPA_PLATFORM", "").split(":", 1)[0]
    if platform:
        return platform not in ("offscreen", "minimal", "vnc")
    if sys.platform in ("win32", "darwin"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def demo_in_app(argv: list[str]) -> int:
    """``humanfx demo [--out DIR]`` with a display: build the demo clip and its layers (no
    renders), then open the app on it."""
    from editor_plugin import cli
    from editor_plugin.demo import run_demo
    from inference.errors import HumanfxError

    ns = cli.build_parser().parse_args(argv)
    try:
        result = run_demo(Path(ns.out), render_outputs=False,
                          progress_factory=cli.progress_bars(ns.quiet))
    except HumanfxError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    from ui.app import main as app_main

    return app_main([str(result.clip)])


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
    if args and args[0] == "demo" and "--no-app" not in args and "-h" not in args \
            and "--help" not in args and has_display():
        return demo_in_app(args)
    if _wants_app(args, set(cli.command_names())):
        from ui.app import main as app_main

        return app_main(args[1:] if args and args[0] == "app" else args)
    return cli.main(args)


if __name__ == "__main__":
    sys.exit(main())
