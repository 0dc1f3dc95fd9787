"""Project life in the app: save/open ``Project.1`` files, recent files, window geometry in
:class:`QSettings`, autosave to a recovery file and the offer to recover it.

* :class:`ProjectController` belongs to one :class:`~ui.main_window.MainWindow`.  It builds a
  :class:`~editor_plugin.project.Project` from the window (clip, selected persons, background,
  matte, persons' own mattes and effect stack -- ``state.matte`` / ``state.person_mattes`` /
  ``state.stack``, edited in the Matte and Effects panels, depth overrides included -- and the
  selected persons' own backgrounds with the seam
  and reach, ``state.own_backgrounds``), saves and opens it, and keeps the *dirty* flag (set
  by the window on every edit of those).
* Settings live in a :class:`QSettings` handed in by the caller (:func:`app_settings` in the
  app: organisation and application ``humanfx``; tests pass an INI file in a temp folder):
  ``recent/files`` (newest first, at most :data:`MAX_RECENT`) and ``window/geometry``.
  Without settings (``None``) recent files are kept in memory only and nothing persists.
* Autosave: every ``autosave_s`` seconds, when the project is dirty, it is written (atomically,
  by :meth:`Project.save`) to the recovery file; saving the project removes it, and so does
  closing the window with nothing unsaved (closing with unsaved changes autosaves them, so
  they are offered back next time).  Without a recovery path there is no autosave.  A recovery file found at start-up is offered back in a
  non-modal box (:meth:`ProjectController.offer_recovery`).
"""

from __future__ import annotations

import logging
from pathlib import Path

import platformdirs
from PySide6.QtCore import QObject, QSettings, QTimer, Signal
from PySide6.QtWidgets import QFileDialog, QMenu, QMessageBox

from editor_plugin.project import Project
from effects.backgrounds import Background
from inference.errors import HumanfxError
from ui.backgrounds_edit import Backgrounds

log = logging.getLogger(__name__)

ORGANIZATION = "humanfx"
APPLICATION = "humanfx"
MAX_RECENT = 10
PROJECT_FILTER = "humanfx project (*.humanfx.json *.json);;All (*)"


def app_settings() -> QSettings:
    """The user's humanfx settings (native format, organisation/app ``humanfx``)."""
    return QSettings(ORGANIZATION, APPLICATION)


def default_recovery_path() -> Path:
    """Where the autosaved project goes: the user data folder's ``recovery.humanfx.json``."""
    return platformdirs.user_data_path(APPLICATION, ORGANIZATION) / "recovery.humanfx.json"


class ProjectController(QObject):
    """Save/open/autosave/recover the project of ``window`` (see the module docstring).

    ``window`` provides ``session``, ``state``, ``preview``, ``effects`` (its
    :class:`~ui.effects_edit.EffectsController`), ``backgrounds`` (its
    :class:`~ui.backgrounds_edit.BackgroundsController`), ``open_clip(path)``,
    ``set_selected(ids)`` and ``show_error(message)``.
    """

    recent_changed = Signal()

    def __init__(self, window, settings: QSettings | None = None,
                 recovery_path: Path | None = None, autosave_s: float = 60.0):
        super().__init__(window)
        self.window = window
        self.settings = settings
        self.recovery_path = Path(recovery_path) if recovery_path is not None else None
        self._recent: list[str] = []
        self.path: Path | None = None  # the project file, once saved or opened
        self.base: Project | None = None  # the opened project (effects etc. carried over)
        self.dirty = False
        self.recovery_box: QMessageBox | None = None
        self.timer = QTimer(self)
        self.timer.timeout.connect(self.autosave)
        if self.recovery_path is not None:
            self.timer.start(max(1, int(autosave_s * 1000)))

    # -- the project ----------------------------------------------------------------------------
    def project(self) -> Project | None:
        """The window's edit as a project (None without a clip)."""
        w = self.window
        if w.session is None:
            return None
        base = self.base if self.base is not None and self.base.clip == w.session.path \
            else Project(clip=w.session.path)
        cache = w.preview.cache if w.preview is not None else None
        return base.replace(
            clip=w.session.path,
            content_hash=w.session.clip_hash,
            layers=cache.meta.source if cache is not None else base.layers,
            selected=tuple(sorted(w.state.selected)),
            background=w.state.background,
            matte=w.state.matte,
            person_mattes=w.state.person_mattes,
            stack=w.state.stack,
            backgrounds=w.state.own_backgrounds,
            background_seam_px=w.state.seam_px,
            background_reach_px=w.state.reach_px,
        )

    def mark_dirty(self) -> None:
        if self.window.session is not None:
            self.dirty = True

    def new_clip(self) -> None:
        """A clip was opened on its own: the project starts afresh."""
        self.path = None
        self.base = None
        self.dirty = False

    def save(self, path: str | Path) -> bool:
        """Save to ``path``; False (error shown) on failure or without a clip."""
        project = self.project()
        if project is None:
            self.window.show_error("open a clip first (File ▸ Open), then save the project")
            return False
        try:
            project.save(path)
        except (HumanfxError, OSError) as err:
            self.window.show_error(f"{path}: cannot save the project: {err}")
            return False
        self.path, self.base, self.dirty = Path(path), project, False
        self.add_recent(path)
        self.remove_recovery()
        return True

    def open(self, path: str | Path, *, recovered: bool = False) -> bool:
        """Open the project at ``path``: its clip, selection, backgrounds, mattes and effects."""
        try:
            project = Project.load(path)
        except HumanfxError as err:
            self.window.show_error(str(err))
            return False
        w = self.window
        if not w.open_clip(project.clip):
            return False
        self.base = project
        self.path = None if recovered else Path(path)
        w.state.matte, w.state.stack = project.matte, project.stack
        w.state.person_mattes = project.person_mattes
        w.effects.sync()
        known = set(w.persons_panel.ids())
        w.set_selected(set(project.selected if project.selected is not None else known))
        default = project.background
        if not isinstance(default, (Background, type(None))):
            w.show_error(f"{path}: the project's background {default.spec!r} "
                         "cannot be previewed in the app; it is kept when saving")
            default = w.state.background
        w.backgrounds.load(Backgrounds(default, project.backgrounds,
                                       project.background_seam_px, project.background_reach_px))
        self.dirty = recovered
        if not recovered:
            self.add_recent(path)
        return True

    # -- menu actions ---------------------------------------------------------------------------
    def save_action(self) -> None:
        """File ▸ Save project: to the project's file, or ask for one."""
        if self.path is not None:
            self.save(self.path)
        else:
            self.save_as_dialog()

    def save_as_dialog(self) -> None:
        session = self.window.session
        start = str(session.path.with_suffix(".humanfx.json")) if session is not None else ""
        path, _ = QFileDialog.getSaveFileName(self.window, "Save project", start, PROJECT_FILTER)
        if path:
            self.save(path)

    def open_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self.window, "Open project", "", PROJECT_FILTER)
        if path:
            self.open(path)

    def fill_recent_menu(self, menu: QMenu) -> None:
        """Fill ``menu`` with the recent projects, newest first."""
        menu.clear()
        for f in self.recent():
            menu.addAction(f, lambda f=f: self.open(f))
        if menu.isEmpty():
            menu.addAction("(none)").setEnabled(False)

    # -- recent files ---------------------------------------------------------------------------
    def recent(self) -> list[str]:
        if self.settings is None:
            return list(self._recent)
        value = self.settings.value("recent/files", [])
        if isinstance(value, str):  # QSettings returns a lone string for a one-item list
            value = [value]
        return [str(v) for v in (value or [])]

    def add_recent(self, path: str | Path) -> None:
        p = str(Path(path).resolve())
        files = [p, *[f for f in self.recent() if f != p]][:MAX_RECENT]
        self._recent = files
        if self.settings is not None:
            self.settings.setValue("recent/files", files)
            self.settings.sync()
        self.recent_changed.emit()

    # -- autosave and recovery ------------------------------------------------------------------
    def autosave(self) -> Path | None:
        """Write the project to the recovery file if it is dirty; the file written."""
        if not self.dirty or self.recovery_path is None:
            return None
        project = self.project()
        if project is None:
            return None
        try:
            self.recovery_path.parent.mkdir(parents=True, exist_ok=True)
            project.save(self.recovery_path)
        except (HumanfxError, OSError) as err:
            log.warning("autosave to %s failed: %s", self.recovery_path, err)
            return None
        log.info("autosaved the project to %s", self.recovery_path)
        return self.recovery_path

    def remove_recovery(self) -> None:
        if self.recovery_path is not None:
            self.recovery_path.unlink(missing_ok=True)

    def offer_recovery(self) -> QMessageBox | None:
        """When a recovery file exists, ask (non-modally) whether to recover it; the box."""
        if self.recovery_path is None or not self.recovery_path.is_file():
            return None
        box = QMessageBox(QMessageBox.Icon.Question, "humanfx",
                          "humanfx did not close cleanly last time. Recover the autosaved "
                          "project?", QMessageBox.StandardButton.NoButton, self.window)
        self.recover_button = box.addButton("Recover", QMessageBox.ButtonRole.AcceptRole)
        self.discard_button = box.addButton("Discard", QMessageBox.ButtonRole.DestructiveRole)
        box.buttonClicked.connect(self._recovery_answer)
        self.recovery_box = box
        box.open()
        return box

    def _recovery_answer(self, button) -> None:
        assert self.recovery_path is not None
        if button is self.recover_button:
            self.open(self.recovery_path, recovered=True)
        else:
            self.remove_recovery()

    # -- window geometry ------------------------------------------------------------------------
    def restore_geometry(self) -> bool:
        if self.settings is None:
            return False
        geometry = self.settings.value("window/geometry")
        return bool(geometry) and self.window.restoreGeometry(geometry)

    def save_geometry(self) -> None:
        if self.settings is None:
            return
        self.settings.setValue("window/geometry", self.window.saveGeometry())
        self.settings.sync()

    def closing(self) -> None:
        """The window closes: keep its geometry; autosave unsaved changes, else drop the
        recovery file."""
        self.timer.stop()
        self.save_geometry()
        if self.dirty:
            self.autosave()
        else:
            self.remove_recovery()


__all__ = ["ProjectController", "app_settings", "default_recovery_path"]
