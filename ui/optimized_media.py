"""*View ▸ Build optimized media*: the clip's lossless all-intra copy, built on a worker.

:func:`editor_plugin.optimized.build_optimized` runs in a :class:`~ui.workers.Job` with its
progress in the status bar; when it is done the viewer's :class:`~ui.preview.PreviewRenderer`
reads frames from the copy (:meth:`~ui.preview.PreviewRenderer.use_optimized`), so the
full-resolution frame shown when the playhead rests after a jump costs one intra decode
instead of a decode from the keyframe before it.  The frames are bit-identical, so nothing
else changes.  A clip whose copy exists already is read from it as soon as it opens.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMenu

from editor_plugin.optimized import build_optimized
from ui.workers import Job


class OptimizedMediaController(QObject):
    """Builds the open clip's optimized media for ``window`` (a ``MainWindow``).

    :attr:`job` is the running or last build (for callers and tests)."""

    def __init__(self, window) -> None:
        super().__init__(window)
        self.window = window
        self.job: Job | None = None

    def add_actions(self, menu: QMenu) -> None:
        """*Build optimized media* in ``menu``."""
        action = QAction("Build &optimized media (fast random frames)", self)
        action.setToolTip("A lossless copy of the clip with every frame a keyframe, "
                          "kept in the cache: jumping to any frame decodes one frame")
        action.triggered.connect(self.build)
        menu.addAction(action)

    @property
    def building(self) -> bool:
        return self.job is not None and self.job.isRunning()

    def build(self) -> Job | None:
        """Build (or find) the open clip's optimized media on a worker; None when there is
        no clip, the viewer reads optimized media already, or a build is running."""
        window = self.window
        session, preview = window.session, window.preview
        if session is None or preview is None or self.building:
            return None
        if preview.reader_source == "optimized":
            window.statusBar().showMessage(f"{session.path.name}: optimized media in use")
            return None
        job = Job(lambda progress, cancel: build_optimized(session, progress=progress,
                                                           cancel=cancel),
                  name="optimize", parent=self)
        job.progressed.connect(
            lambda done, total: window.statusBar().showMessage(
                f"optimized media: {done}/{total} frames"))
        job.succeeded.connect(lambda path, s=session: self._built(s, path))
        job.failed.connect(lambda message: window.show_error(
            f"optimized media not built: {message}"))
        self.job = job
        job.start()
        return job

    def _built(self, session, path: Path) -> None:
        window = self.window
        if window.session is not session or window.preview is None:
            return  # another clip was opened meanwhile
        window.preview.use_optimized(path)
        window.statusBar().showMessage(
            f"{session.path.name}: optimized media in use ({path.stat().st_size / 1e6:.0f} MB)")
        window.show_frame(window.current)

    def close(self) -> None:
        """Cancel a running build and wait for it (window closing)."""
        if self.building:
            assert self.job is not None
            self.job.cancel()
            self.job.wait()
