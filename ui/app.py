"""The humanfx desktop app: ``main(argv)`` builds the QApplication and the main window."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from PySide6.QtWidgets import QApplication

from ui.main_window import MainWindow

log = logging.getLogger(__name__)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="humanfx app", description="Open the humanfx editor.")
    p.add_argument("clip", nargs="?", help="a video clip to open")
    p.add_argument("--tracks", help="a tracks file to import into the clip's layers")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run the app until its window closes; returns the exit status.

    ``argv``: ``[CLIP] [--tracks FILE]`` (without the program name); ``None`` reads
    ``sys.argv[1:]``.  Qt's own options (``-platform``...) are passed through to Qt.
    """
    args, qt_args = _parser().parse_known_args(sys.argv[1:] if argv is None else list(argv))
    app = QApplication.instance() or QApplication([sys.argv[0], *qt_args])
    app.setApplicationName("humanfx")
    window = MainWindow()
    window.show()
    if args.clip and window.open_clip(args.clip) and args.tracks:
        window.import_tracks(args.tracks)
    return app.exec()


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    sys.exit(main())
