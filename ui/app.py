"""The humanfx desktop app: ``main(argv)`` builds the QApplication and the main window."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from PySide6.QtWidgets import QApplication

from ui.main_window import MainWindow
from ui.project_io import app_settings, default_recovery_path

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
    app.setOrganizationName("humanfx")
    window = MainWindow(settings=app_settings(), recovery_path=default_recovery_path())
    window.show()
    if args.clip:
        if window.open_clip(args.clip) and args.tracks:
            window.import_tracks(args.tracks)
    else:
        window.projects.offer_recovery()
    return app.exec()


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    sys.exit(main())
