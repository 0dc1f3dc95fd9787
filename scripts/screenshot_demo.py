"""Take the README screenshot: the real app on the demo clip as ``humanfx demo`` opens it
(analyzed by the seed networks shipped in assets/weights), a person selected, blur behind.

Run under a display (``xvfb-run -a python scripts/screenshot_demo.py --out assets/screenshot.png``).
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from pathlib import Path

from PySide6.QtCore import QEventLoop, QTimer
from PySide6.QtWidgets import QApplication

from editor_plugin.demo import run_demo
from ui.main_window import MainWindow

log = logging.getLogger("screenshot_demo")


def _wait(app: QApplication, ms: int) -> None:
    loop = QEventLoop()
    QTimer.singleShot(ms, loop.quit)
    loop.exec()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", type=Path, default=Path("assets/screenshot.png"))
    ap.add_argument("--frame", type=int, default=40)
    args = ap.parse_args(argv)
    app = QApplication.instance() or QApplication(sys.argv[:1])
    with tempfile.TemporaryDirectory() as tmp:
        demo = run_demo(Path(tmp), render_outputs=False)
        log.info("demo layers from %s", demo.source)
        window = MainWindow()
        window.resize(1280, 760)
        window.show()
        if not window.open_clip(demo.clip):
            log.error("%s", window.last_error)
            return 1
        while window.persons_panel.count() == 0:
            _wait(app, 50)
        window.show_frame(args.frame)
        people = window.preview.persons(args.frame)
        first = max(people, key=lambda p: int(p.mask.sum()) if p.mask is not None else 0)
        window.set_selected({first.track_id})
        window.background_panel.set_blur(21.0)
        window.persons_panel.setFocus()
        _wait(app, 300)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        if not window.grab().save(str(args.out)):
            log.error("could not write %s", args.out)
            return 1
        log.info("wrote %s", args.out)
        window.close()
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    sys.exit(main())
