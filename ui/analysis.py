"""Analysis from the app: :func:`editor_plugin.analyze.analyze_clip` on a worker thread.

:class:`AnalysisRunner` starts the analysis in a :class:`~ui.workers.Job` and shows a
non-modal :class:`QProgressDialog` with the frames done, the estimated time left and a
Cancel button.  Cancelling stops after the frame in progress; ``analyze_clip`` keeps what
was done (its detection store and streaming cache), so running the analysis again resumes.
The outcome is reported through :attr:`AnalysisRunner.finished` (the result, or ``None``)
and errors through the ``on_error`` callback (the window's non-blocking error box).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QProgressDialog, QWidget

from editor_plugin.analyze import AnalyzeOptions, AnalyzeResult, analyze_clip
from editor_plugin.session import ClipSession
from ui.workers import Job

log = logging.getLogger(__name__)


def eta_text(done: int, total: int, elapsed_s: float) -> str:
    """``"12/300 frames, about 1 min 5 s left"`` (no estimate before the first frame)."""
    head = f"{done}/{total} frames"
    if done <= 0 or total <= done:
        return head
    left = elapsed_s / done * (total - done)
    if left >= 60:
        return f"{head}, about {int(left // 60)} min {int(left % 60)} s left"
    return f"{head}, about {max(1, round(left))} s left"


class AnalysisRunner(QObject):
    """Runs one analysis at a time for a window.  :attr:`job`, :attr:`dialog`: the current
    run's worker and progress dialog (None before the first run)."""

    finished = Signal(object)  # AnalyzeResult, or None when it failed or was cancelled

    def __init__(self, parent: QWidget, on_error: Callable[[str], None],
                 on_status: Callable[[str], None] | None = None):
        super().__init__(parent)
        self._parent = parent
        self._on_error = on_error
        self._on_status = on_status or on_error
        self.job: Job | None = None
        self.dialog: QProgressDialog | None = None
        self.result: AnalyzeResult | None = None
        self._t0 = 0.0

    @property
    def running(self) -> bool:
        return self.job is not None and self.job.isRunning()

    def start(self, session: ClipSession, options: AnalyzeOptions | None = None) -> Job | None:
        """Start analysing ``session``'s clip; None when one is already running."""
        if self.running:
            self._on_error("an analysis is already running (cancel it first)")
            return None
        opts = options or AnalyzeOptions(show_download=False)
        self.result = None
        dlg = QProgressDialog(f"Analysing {session.path.name}…", "Cancel", 0, 100, self._parent)
        dlg.setWindowTitle("Analyse clip")
        dlg.setWindowModality(Qt.WindowModality.NonModal)
        dlg.setMinimumDuration(0)
        dlg.setAutoClose(False)
        dlg.setAutoReset(False)
        dlg.setValue(0)
        self.dialog = dlg
        job = Job(lambda progress, cancel: analyze_clip(session, opts, progress=progress,
                                                        cancel=cancel),
                  name="analyze", parent=self)
        job.progressed.connect(self._progress)
        job.succeeded.connect(self._succeeded)
        job.failed.connect(self._failed)
        dlg.canceled.connect(self.cancel)
        self.job = job
        self._t0 = time.monotonic()
        job.start()
        dlg.show()
        return job

    def cancel(self) -> None:
        if self.running:
            assert self.job is not None and self.dialog is not None
            self.dialog.setLabelText("Cancelling… (the frames done are kept)")
            self.job.cancel()

    def wait(self) -> None:
        """Cancel a running analysis and wait for its thread (window closing)."""
        if self.running:
            assert self.job is not None
            self.job.cancel()
            self.job.wait()

    def _progress(self, done: int, total: int) -> None:
        if self.dialog is None:
            return
        self.dialog.setMaximum(max(1, total))
        self.dialog.setValue(min(done, total))
        self.dialog.setLabelText(eta_text(done, total, time.monotonic() - self._t0))

    def _close_dialog(self) -> None:
        if self.dialog is not None:
            self.dialog.hide()

    def _succeeded(self, result: AnalyzeResult) -> None:
        self._close_dialog()
        self.result = result
        self.finished.emit(result)

    def _failed(self, message: str) -> None:
        self._close_dialog()
        assert self.job is not None
        if self.job.cancelled:
            log.info("analysis cancelled: %s", message)
            self._on_status("Analysis cancelled; the frames done are kept — run "
                            "Analyze ▸ Analyse clip again to resume")
        else:
            self._on_error(message)
        self.finished.emit(None)


__all__ = ["AnalysisRunner", "eta_text"]
