"""The main window: viewer, timeline, person list, background, effects and matte panels.

Everything the window does goes through ``editor_plugin`` (:class:`ClipSession`,
:func:`~editor_plugin.render.render`) and the preview (:class:`~ui.preview.PreviewRenderer`).
Errors are shown in a non-modal message box (``QMessageBox.open``) and kept in
:attr:`MainWindow.last_error`, so nothing waits on a dialog.

Identity edits (rename, merge, split, swap, delete) go through
:class:`~inference.cache.edits.TrackEditor` and onto :attr:`MainWindow.undo_stack`
(:mod:`ui.identity`); effect-stack and matte edits go through :attr:`MainWindow.effects`
(:mod:`ui.effects_edit`) and background edits (everyone's and persons' own) through
:attr:`MainWindow.backgrounds` (:mod:`ui.backgrounds_edit`) onto the same undo stack;
analysis runs on a worker
(:mod:`ui.analysis`); projects, recent files, geometry and autosave are
:attr:`MainWindow.projects` (:mod:`ui.project_io`); scrubbing shows proxy frames until the
playhead rests (:attr:`MainWindow.scrub`, :mod:`ui.scrub`).

Keys: Space play/pause, Left/Right one frame, Home/End first/last frame, J/K/L shuttle
(J plays backwards, K stops, L plays forwards; pressing J or L again doubles the speed).
"""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QElapsedTimer, QSettings, Qt, QTimer
from PySide6.QtGui import (
    QAction,
    QDragEnterEvent,
    QDropEvent,
    QKeySequence,
    QShortcut,
    QUndoStack,
)
from PySide6.QtWidgets import (
    QDockWidget,
    QFileDialog,
    QMainWindow,
    QMessageBox,
    QVBoxLayout,
    QWidget,
)

from editor_plugin.session import ClipSession
from effects.backgrounds import Background
from inference.errors import HumanfxError
from ui.analysis import AnalysisRunner
from ui.backgrounds_edit import BackgroundsController
from ui.effects_edit import EffectsController
from ui.export_dialog import ExportDialog
from ui.identity import IdentityEditing
from ui.optimized_media import OptimizedMediaController
from ui.persons_panel import PersonsPanel
from ui.preview import PreviewRenderer, ViewState
from ui.project_io import ProjectController
from ui.scrub import ScrubController
from ui.timeline import Timeline
from ui.viewer import Viewer
from ui.workers import Job

log = logging.getLogger(__name__)

TRACK_SUFFIXES = (".json",)


class MainWindow(IdentityEditing, QMainWindow):
    """The humanfx editor window.  Public state: :attr:`session`, :attr:`preview`,
    :attr:`state`, :attr:`current` (frame index), :attr:`last_error`, :attr:`composite`
    (the current frame's composite without overlays, (H, W, 3) uint8 RGB), :attr:`undo_stack`,
    :attr:`analysis`, :attr:`projects`.

    ``settings``: where recent files and the window geometry persist (None: nowhere);
    ``recovery_path``: the autosave file, written every ``autosave_s`` seconds while the
    project has unsaved changes (None: no autosave)."""

    def __init__(self, settings: QSettings | None = None, recovery_path: Path | None = None,
                 autosave_s: float = 60.0) -> None:
        super().__init__()
        self.setWindowTitle("humanfx")
        self.setAcceptDrops(True)
        self.resize(1180, 720)
        self.session: ClipSession | None = None
        self.preview: PreviewRenderer | None = None
        self.state = ViewState()
        self.current = 0
        self.composite = None
        self.last_error: str | None = None
        self.error_box: QMessageBox | None = None
        self.export_dialog: ExportDialog | None = None
        self.job: Job | None = None
        self.undo_stack = QUndoStack(self)
        self.analysis = AnalysisRunner(self, self.show_error, self.statusBar().showMessage)
        self.analysis.finished.connect(self._analysed)
        self.projects = ProjectController(self, settings, recovery_path, autosave_s)
        self.effects = EffectsController(self)
        self.backgrounds = BackgroundsController(self)
        self.scrub = ScrubController(self)  # proxy frames while scrubbing (ui/scrub.py)
        self.optimized = OptimizedMediaController(self)  # ui/optimized_media.py

        self.viewer = Viewer()
        self.timeline = Timeline()
        central = QWidget()
        lay = QVBoxLayout(central)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.viewer, 1)
        lay.addWidget(self.timeline)
        self.setCentralWidget(central)
        self.persons_panel = PersonsPanel()
        self.background_panel = self.backgrounds.panel
        docks = {}
        for title, widget in (("Persons", self.persons_panel),
                              ("Background", self.background_panel),
                              ("Matte", self.effects.matte_panel),
                              ("Effects", self.effects.stack_panel)):
            dock = docks[title] = QDockWidget(title, self)
            dock.setObjectName(title)
            dock.setWidget(widget)
            dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable)
            self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)
        self.tabifyDockWidget(docks["Background"], docks["Matte"])
        self.tabifyDockWidget(docks["Background"], docks["Effects"])
        docks["Background"].raise_()

        self.viewer.clicked.connect(self.click_at)
        self.timeline.frame_changed.connect(self.seek)
        self.persons_panel.selection_edited.connect(self.set_selected)
        self.persons_panel.rename_requested.connect(self.rename_person)

        self._timer = QTimer(self)
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.timeout.connect(self._tick)
        self._clock = QElapsedTimer()
        self.rate = 0  # frames of clip per frame of clip time: 0 stopped, +-1, +-2, ...
        self._play_origin = 0
        self._build_menus()
        self._build_shortcuts()
        self.projects.restore_geometry()
        self.statusBar().showMessage("Open a clip (File ▸ Open) or drop one on the window")

    # -- menus and keys ---------------------------------------------------------------------------
    def _build_menus(self) -> None:
        file = self.menuBar().addMenu("&File")
        self._action(file, "&Open clip…", self._open_dialog, QKeySequence.StandardKey.Open)
        self._action(file, "Open &project…", self.projects.open_dialog, "Ctrl+Shift+O")
        self.recent_menu = file.addMenu("Open &recent")
        self.recent_menu.aboutToShow.connect(
            lambda: self.projects.fill_recent_menu(self.recent_menu))
        self._action(file, "&Save project", self.projects.save_action,
                     QKeySequence.StandardKey.Save)
        self._action(file, "Save project &as…", self.projects.save_as_dialog, "Ctrl+Shift+S")
        file.addSeparator()
        self._action(file, "&Import tracks…", self._import_dialog, "Ctrl+I")
        self._action(file, "&Export…", self.open_export_dialog, "Ctrl+E")
        file.addSeparator()
        self._action(file, "&Quit", self.close, QKeySequence.StandardKey.Quit)
        edit = self.menuBar().addMenu("&Edit")
        self.undo_action = self.undo_stack.createUndoAction(self, "&Undo")
        self.undo_action.setShortcut(QKeySequence("Ctrl+Z"))
        self.redo_action = self.undo_stack.createRedoAction(self, "&Redo")
        self.redo_action.setShortcuts([QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")])
        edit.addActions([self.undo_action, self.redo_action])
        edit.addSeparator()
        for text, slot, key in (("&Rename person", self._rename_current, "F2"),
                                ("&Merge selected persons", self.merge_selected, "Ctrl+M"),
                                ("S&plit person here", self.split_here, "Ctrl+Shift+K"),
                                ("S&wap two persons from here", self.swap_here, "Ctrl+Shift+W"),
                                ("&Delete person", self.delete_selected, "Del")):
            self.persons_panel.addAction(self._action(edit, text, slot, key))
        analyze = self.menuBar().addMenu("&Analyze")
        self._action(analyze, "&Analyse clip…", self.start_analysis, "Ctrl+R")
        self._action(analyze, "&Cancel analysis", self.analysis.cancel)
        view = self.menuBar().addMenu("&View")
        ov = self.state.overlays
        for name, label in (("masks", "Person &masks"), ("skeletons", "&Skeletons"),
                            ("ids", "Person &ids")):
            a = QAction(label, self, checkable=True, checked=getattr(ov, name))
            a.toggled.connect(lambda on, n=name: self.set_overlay(n, on))
            view.addAction(a)
        view.addSeparator()
        self.scrub.add_actions(view)
        self.optimized.add_actions(view)

    def _action(self, menu, text, slot, shortcut=None) -> QAction:
        a = QAction(text, self)
        if shortcut is not None:
            a.setShortcut(QKeySequence(shortcut))
        a.triggered.connect(slot)
        menu.addAction(a)
        return a

    def _build_shortcuts(self) -> None:
        keys = {
            Qt.Key.Key_Space: self.toggle_play,
            Qt.Key.Key_Left: lambda: self.step(-1),
            Qt.Key.Key_Right: lambda: self.step(1),
            Qt.Key.Key_Home: lambda: self.seek(0),
            Qt.Key.Key_End: lambda: self.seek(self.frame_count - 1),
            Qt.Key.Key_J: lambda: self.shuttle(-1),
            Qt.Key.Key_K: self.stop,
            Qt.Key.Key_L: lambda: self.shuttle(1),
        }
        for key, fn in keys.items():
            QShortcut(QKeySequence(key), self, activated=fn)

    # -- errors -----------------------------------------------------------------------------------
    def show_error(self, message: str) -> None:
        """Show a one-line error in a non-modal box and remember it in :attr:`last_error`."""
        log.warning("%s", message)
        self.last_error = message
        self.statusBar().showMessage(message)
        if self.error_box is not None:
            self.error_box.close()
        self.error_box = QMessageBox(QMessageBox.Icon.Critical, "humanfx", message,
                                     QMessageBox.StandardButton.Ok, self)
        self.error_box.open()

    # -- clip and tracks --------------------------------------------------------------------------
    @property
    def frame_count(self) -> int:
        return self.session.info.frame_count if self.session is not None else 0

    def apply_background(self, bg: Background | None) -> None:
        """Make ``bg`` everyone's background (an undoable edit; shown in the panel)."""
        self.backgrounds.set_default(bg)

    def open_clip(self, path: str | Path) -> bool:
        """Open ``path``; on failure show the error and keep the current clip."""
        try:
            session = ClipSession(path)
            preview = PreviewRenderer(session)
        except HumanfxError as err:
            self.show_error(str(err))
            return False
        self.stop()
        if self.preview is not None:
            self.preview.close()
        self.session, self.preview = session, preview
        self.state.selected = set()
        self.current = 0
        self.undo_stack.clear()
        self.projects.new_clip()
        self.effects.reset()
        self.backgrounds.reset()
        info = session.info
        self.setWindowTitle(f"{session.path.name} — humanfx")
        self._reload_persons()
        self.show_frame(0)
        self.scrub.clip_opened()
        if preview.cache is None:
            self.statusBar().showMessage(f"{session.path.name}: no person layers yet — "
                                         "File ▸ Import tracks…")
        else:
            self.statusBar().showMessage(f"{session.path.name}: {info.width}x{info.height}, "
                                         f"{info.frame_count} frames at {float(info.fps):g} fps")
        return True

    def import_tracks(self, path: str | Path) -> Job | None:
        """Import a tracks file into the clip's layer cache on a worker thread."""
        if self.session is None:
            self.show_error(f"{path}: open the clip first, then import its tracks")
            return None
        session = self.session
        job = Job(lambda progress, cancel: session.import_tracks(path), "import", self)
        job.succeeded.connect(self._imported)
        job.failed.connect(self.show_error)
        self.job = job
        self.statusBar().showMessage(f"Importing {Path(path).name}…")
        job.start()
        return job

    def _imported(self, result) -> None:
        if self.preview is None:
            return
        self.undo_stack.clear()  # the clip's layers are now another cache
        self.preview.reload_layers()
        self._reload_persons()
        self.show_frame(self.current)
        self.statusBar().showMessage(f"Imported {result.tracks} persons")

    def _reload_persons(self) -> None:
        assert self.preview is not None
        cache = self.preview.cache
        self.persons_panel.set_persons(cache.tracks() if cache is not None else [])
        self.effects.persons_changed(self.persons_panel.ids(), self.persons_panel.names())
        self.backgrounds.persons_changed(self.persons_panel.ids(), self.persons_panel.names())
        self.timeline.set_clip(self.frame_count, self.preview.presence())
        self._sync_selection()

    def _open_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open clip", "",
                                              "Video (*.mp4 *.mov *.mkv *.avi *.webm);;All (*)")
        if path:
            self.open_clip(path)

    def _import_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Import tracks", "",
                                              "Tracks (*.json);;All (*)")
        if path:
            self.import_tracks(path)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        files = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if not files:
            return
        event.acceptProposedAction()
        self.open_dropped(files[0])

    def open_dropped(self, path: str | Path) -> None:
        """A dropped file: a tracks file (.json) is imported into the open clip, anything
        else is opened as a clip."""
        if Path(path).suffix.lower() in TRACK_SUFFIXES and self.session is not None:
            self.import_tracks(path)
        else:
            self.open_clip(path)

    # -- frames -----------------------------------------------------------------------------------
    def show_frame(self, index: int) -> None:
        """Render frame ``index`` (clamped) into the viewer."""
        if self.preview is None:
            return
        index = min(max(int(index), 0), self.frame_count - 1)
        self.current = index
        try:
            self.composite, annotated = self.preview.render(index, self.state)
        except HumanfxError as err:
            self.stop()
            if not self.state.has_effects:  # else an effect may be at fault: keep the edit
                self.state.background = None
            self.show_error(str(err))
            plain = ViewState(selected=self.state.selected, overlays=self.state.overlays)
            self.composite, annotated = self.preview.render(index, plain)
        self.viewer.set_image(annotated)
        self.scrub.full_frame_shown()
        self.timeline.set_current(index)
        self.effects.frame_shown(index)

    def seek(self, index: int) -> None:
        if self.rate:
            self._restart_clock(index)
        self.scrub.show(index)

    def step(self, delta: int) -> None:
        self.stop()
        self.scrub.show(self.current + delta)

    # -- playback ---------------------------------------------------------------------------------
    def toggle_play(self) -> None:
        if self.rate:
            self.stop()
        else:
            self.play(1)

    def play(self, rate: int = 1) -> None:
        """Play at ``rate`` x real time (negative: backwards)."""
        if self.session is None or rate == 0:
            return
        if rate > 0 and self.current >= self.frame_count - 1:
            self.show_frame(0)
        self.rate = rate
        self._restart_clock(self.current)
        fps = float(self.session.info.fps) or 25.0
        self._timer.start(max(1, int(1000 / (fps * abs(rate)))))

    def _restart_clock(self, origin: int) -> None:
        self._play_origin = origin
        self._clock.start()

    def stop(self) -> None:
        self.rate = 0
        self._timer.stop()

    @property
    def playing(self) -> bool:
        return self.rate != 0

    def shuttle(self, direction: int) -> None:
        """J/L: start playing in ``direction``, or double the speed if already going that way."""
        if self.rate * direction > 0:
            self.play(self.rate * 2 if abs(self.rate) < 8 else self.rate)
        else:
            self.play(direction)

    def _tick(self) -> None:
        """Show the frame due now on the playback clock, skipping frames that are late."""
        assert self.session is not None
        fps = self.session.info.fps
        due = self._play_origin + int(self._clock.elapsed() * fps * self.rate / 1000)
        last = self.frame_count - 1
        if (self.rate > 0 and due >= last) or (self.rate < 0 and due <= 0):
            self.show_frame(min(max(due, 0), last))
            self.stop()
        elif due != self.current:
            self.scrub.show(due)

    # -- selection, overlays, background --------------------------------------------------------
    def click_at(self, x: int, y: int, add: bool = False) -> None:
        """Select the person under frame pixel (x, y) (``add``: toggle it in the selection);
        a click on the background clears the selection (unless ``add``)."""
        if self.preview is None:
            return
        tid = self.preview.track_at(self.current, x, y)
        if add:
            if tid is not None:
                self.set_selected(self.state.selected ^ {tid})
        else:
            self.set_selected(set() if tid is None else {tid})

    def set_selected(self, ids: set[int]) -> None:
        if set(ids) != self.state.selected:
            self.projects.mark_dirty()
        self.state.selected = set(ids)
        self._sync_selection()
        self.show_frame(self.current)

    def _sync_selection(self) -> None:
        self.persons_panel.set_selected(self.state.selected)
        self.timeline.set_selected(self.state.selected)
        self.effects.selection_changed(self.state.selected)
        self.backgrounds.selection_changed(self.state.selected)

    def set_overlay(self, name: str, on: bool) -> None:
        setattr(self.state.overlays, name, on)
        self.show_frame(self.current)

    # -- analysis -------------------------------------------------------------------------------
    def start_analysis(self) -> Job | None:
        """Analyse the open clip on a worker thread (progress dialog with Cancel)."""
        if self.session is None:
            self.show_error("open a clip first (File ▸ Open), then analyse it")
            return None
        job = self.analysis.start(self.session)
        if job is not None:
            self.statusBar().showMessage(f"Analysing {self.session.path.name}…")
        return job

    def _analysed(self, result) -> None:
        if result is None or self.preview is None:
            return
        self.undo_stack.clear()
        self.refresh_persons()
        self.statusBar().showMessage(f"Analysed: {result.persons} persons")
        self.scrub.ensure()

    # -- projects -------------------------------------------------------------------------------
    def save_project(self, path: str | Path) -> bool:
        return self.projects.save(path)

    def open_project(self, path: str | Path) -> bool:
        return self.projects.open(path)

    # -- export -----------------------------------------------------------------------------------
    def open_export_dialog(self) -> ExportDialog | None:
        """Open the (non-modal) export dialog for the current selection, backgrounds, matte
        and effects (with effects or own backgrounds, a default background is optional)."""
        if self.session is None:
            self.show_error("open a clip first (File ▸ Open)")
            return None
        self.scrub.settle()  # the full-resolution frame, not the proxy's
        fx = self.state.renders_project
        if not self.state.selected and (not fx or self.state.background is not None):
            self.show_error("no person selected (click a person in the viewer first)")
            return None
        if self.state.background is None and not fx:
            self.show_error("no background chosen (pick one in the Background panel first)")
            return None
        self.export_dialog = ExportDialog(self.session, tuple(sorted(self.state.selected)),
                                          self.state.background, refine=self.state.refine,
                                          parent=self, project=self.projects.project())
        self.export_dialog.open()
        return self.export_dialog

    def closeEvent(self, event) -> None:
        self.stop()
        self.analysis.wait()
        self.scrub.close()
        self.optimized.close()
        self.projects.closing()
        for job in (self.job, self.export_dialog.job if self.export_dialog else None):
            if job is not None and job.isRunning():
                job.cancel()
                job.wait()
        if self.preview is not None:
            self.preview.close()
            self.preview = None
        super().closeEvent(event)
