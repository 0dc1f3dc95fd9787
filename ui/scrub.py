"""Scrubbing on a proxy: build it on a worker, show proxy frames while the playhead moves.

:class:`ScrubController` belongs to a :class:`~ui.main_window.MainWindow`.  When a clip is
opened (and after an analysis, if there is still none) it builds the clip's proxy
(:func:`editor_plugin.proxy.build_proxy`) in a :class:`~ui.workers.Job`: a progress bar and a
*Cancel* button sit in the status bar, the window stays responsive, and a cancel leaves no
file.  A proxy built before (same clip content, same size) is found again at once.

While the user scrubs -- timeline clicks and drags, Left/Right, Home/End, J/K/L playback --
the window calls :meth:`ScrubController.show`, which composites the proxy frame
(:class:`~ui.proxy_preview.ProxyPreview`, at the proxy's resolution; the viewer scales it to
the widget as it scales any frame).  Once the playhead has rested for :data:`IDLE_MS` (or
before an export dialog opens) the full-resolution frame replaces it
(:meth:`ScrubController.settle`), so the picture sharpens at rest.  Without a proxy (a clip
no taller than the proxy, a build still running, cancelled or failed, or *View ▸ Scrub with
proxy* unticked) :meth:`show` renders the full frame as before.  Exports never read the proxy.
"""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMenu, QProgressBar, QToolButton

from editor_plugin.proxy import PROXY_MAX_HEIGHT, build_proxy, proxy_size
from inference.errors import HumanfxError
from ui.proxy_preview import ProxyPreview
from ui.workers import Job

log = logging.getLogger(__name__)

#: How long the playhead must rest before the full-resolution frame is shown.
IDLE_MS = 150


class ScrubController(QObject):
    """Proxy building and proxy frames for ``window`` (see the module docstring).

    State for callers and tests: :attr:`proxy` (the open :class:`ProxyPreview`, or None),
    :attr:`job` (the running or last build), :attr:`showing_proxy` (the viewer shows a proxy
    frame now), :attr:`max_height` (proxy rows, default 540), :attr:`auto_build` (build when
    a clip opens), :attr:`enabled` (scrub with the proxy at all)."""

    proxy_ready = Signal(object)  # the proxy's Path

    def __init__(self, window) -> None:
        super().__init__(window)
        self.window = window
        self.max_height = PROXY_MAX_HEIGHT
        self.auto_build = True
        self.enabled = True
        self.proxy: ProxyPreview | None = None
        self.job: Job | None = None
        self.showing_proxy = False
        self._jobs: list[Job] = []  # builds still running (a cancelled one winds down)
        self._cancelled_by_user = False
        self._idle = QTimer(self)
        self._idle.setSingleShot(True)
        self._idle.setInterval(IDLE_MS)
        self._idle.timeout.connect(self.settle)
        self.progress_bar = QProgressBar()
        self.progress_bar.setMaximumWidth(160)
        self.progress_bar.setFormat("proxy %p%")
        self.cancel_button = QToolButton()
        self.cancel_button.setText("Cancel")
        self.cancel_button.setToolTip("Stop building the scrubbing proxy")
        self.cancel_button.clicked.connect(self.cancel)
        bar = window.statusBar()
        bar.addPermanentWidget(self.progress_bar)
        bar.addPermanentWidget(self.cancel_button)
        self._show_progress(False)

    def add_actions(self, menu: QMenu) -> None:
        """*Scrub with proxy* (a toggle) and *Build proxy* in ``menu``."""
        toggle = QAction("Scrub with &proxy", self, checkable=True, checked=self.enabled)
        toggle.toggled.connect(self.set_enabled)
        build = QAction("&Build proxy", self)
        build.triggered.connect(lambda: self.build(user=True))
        menu.addActions([toggle, build])

    def set_enabled(self, on: bool) -> None:
        self.enabled = bool(on)
        if not on:
            self.settle()

    # -- building --------------------------------------------------------------------------------
    def clip_opened(self) -> None:
        """The window opened another clip: drop the old proxy, build the new one."""
        self._idle.stop()
        self.showing_proxy = False
        self._close_proxy()
        if self.building:
            assert self.job is not None
            self.job.cancel()  # it winds down on its own; its result is ignored
        self.job = None
        self._show_progress(False)
        self._cancelled_by_user = False
        if self.auto_build:
            self.build()

    def ensure(self) -> None:
        """Build the proxy unless there is one, one is being built, or the user cancelled it
        (called after an analysis)."""
        if self.proxy is None and not self.building and not self._cancelled_by_user \
                and self.auto_build:
            self.build()

    @property
    def building(self) -> bool:
        return self.job is not None and self.job.isRunning()

    def build(self, user: bool = False) -> Job | None:
        """Build (or find) the open clip's proxy on a worker; None when none is needed or one
        is being built already."""
        session = self.window.session
        if session is None or self.building:
            return None
        info = session.info
        if proxy_size(info.width, info.height, self.max_height) is None:
            if user:
                self.window.statusBar().showMessage(
                    f"{session.path.name} is {info.height} rows high: it needs no proxy")
            return None
        self._cancelled_by_user = False
        max_height = self.max_height
        job = Job(lambda progress, cancel: build_proxy(session, max_height=max_height,
                                                       progress=progress, cancel=cancel),
                  name="proxy", parent=self)
        job.progressed.connect(self._progress)
        job.succeeded.connect(lambda path, s=session, j=job: self._built(s, j, path))
        job.failed.connect(lambda message, j=job: self._failed(j, message))
        self.job = job
        self._jobs.append(job)
        self.progress_bar.setValue(0)
        self._show_progress(True)
        job.start()
        return job

    def cancel(self) -> None:
        """Stop the build in progress (its temporary file is removed)."""
        if self.building:
            assert self.job is not None
            self._cancelled_by_user = True
            self.job.cancel()

    def _show_progress(self, on: bool) -> None:
        self.progress_bar.setVisible(on)
        self.cancel_button.setVisible(on)

    def _progress(self, done: int, total: int) -> None:
        self.progress_bar.setMaximum(max(1, total))
        self.progress_bar.setValue(min(done, total))

    def _finished(self, job: Job) -> None:
        if job in self._jobs:
            self._jobs.remove(job)
        if job is self.job:
            self._show_progress(False)

    def _built(self, session, job: Job, path: Path | None) -> None:
        self._finished(job)
        if session is not self.window.session or path is None:
            return  # another clip is open now
        self._close_proxy()
        try:
            self.proxy = ProxyPreview(path, (session.info.width, session.info.height))
        except HumanfxError as err:
            log.warning("cannot use the proxy: %s", err)
            self.window.statusBar().showMessage(f"Proxy not usable: {err}")
            return
        self.window.statusBar().showMessage(
            f"Proxy ready ({self.proxy.size[0]}x{self.proxy.size[1]}): scrubbing uses it")
        self.proxy_ready.emit(path)

    def _failed(self, job: Job, message: str) -> None:
        self._finished(job)
        if job.cancelled:
            log.info("proxy build cancelled: %s", message)
            if job is self.job:
                self.window.statusBar().showMessage(
                    "Proxy build cancelled; scrubbing decodes full frames (View ▸ Build proxy "
                    "to build it)")
        else:
            log.warning("proxy build failed: %s", message)
            self.window.statusBar().showMessage(f"Proxy build failed: {message}")

    # -- showing ---------------------------------------------------------------------------------
    def show(self, index: int) -> None:
        """Show frame ``index`` while scrubbing: from the proxy when there is one (the full
        frame follows after :data:`IDLE_MS` at rest), else the full frame now."""
        w = self.window
        if self.proxy is None or not self.enabled or w.preview is None:
            w.show_frame(index)
            return
        index = min(max(int(index), 0), w.frame_count - 1)
        try:
            comp, annotated = self.proxy.render(w.preview, index, w.state)
        except HumanfxError as err:
            log.warning("proxy frame %d: %s; showing the full frame", index, err)
            w.show_frame(index)
            return
        w.current = index
        w.composite = comp
        w.viewer.set_image(annotated, frame_size=self.proxy.frame_size)
        w.timeline.set_current(index)
        w.effects.frame_shown(index)
        self.showing_proxy = True
        self._idle.start()

    def settle(self) -> None:
        """Replace a proxy frame by the full-resolution one (the playhead rests, or an export
        starts); while playing, check again later."""
        if not self.showing_proxy:
            self._idle.stop()
            return
        if self.window.playing:
            self._idle.start()
            return
        self._idle.stop()
        self.window.show_frame(self.window.current)  # clears showing_proxy

    def full_frame_shown(self) -> None:
        """The window drew a full-resolution frame (no proxy frame is on screen)."""
        self.showing_proxy = False

    def _close_proxy(self) -> None:
        if self.proxy is not None:
            self.proxy.close()
            self.proxy = None

    def close(self) -> None:
        """Window closing: cancel and wait for builds, release the proxy."""
        self._idle.stop()
        for job in list(self._jobs):
            job.cancel()
            job.wait()
        self._jobs.clear()
        self._close_proxy()
