"""Background edits in the app: the Background panel, the window's state and undo.

:class:`BackgroundsController` belongs to one :class:`~ui.main_window.MainWindow`.  It owns
the Background panel (:class:`~ui.effects_panel.BackgroundPanel`) and applies what it proposes
to the window's :class:`~ui.preview.ViewState`: ``state.background`` (everyone's, the default),
``state.person_backgrounds`` (persons' own, :mod:`effects.partition`), ``state.seam_px`` and
``state.reach_px`` -- the values the preview renders, the project saves
(:class:`~ui.project_io.ProjectController`: ``background``, ``backgrounds``,
``background_seam_px``, ``background_reach_px``) and the export renders.

Every edit is a :class:`~ui.effects_edit.StateCommand` on the window's ``undo_stack`` (the
one identity, effect and matte edits use) holding the :class:`Backgrounds` before and after;
consecutive changes of one blur radius, or of the seam/reach, merge into one step.  Giving a
person a background of their own selects them (only selected persons are drawn, and only
theirs show); undo removes the background but leaves the selection.  Opening a project
(:meth:`BackgroundsController.load`) is not an edit.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QObject

from effects.backgrounds import Background, BlurBackground
from effects.partition import DEFAULT_SEAM_PX
from inference.errors import HumanfxError
from ui.effects_edit import StateCommand
from ui.effects_panel import BackgroundPanel

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Backgrounds:
    """The window's backgrounds: ``default`` (None: the original frame), persons' ``own``
    (sorted ``(track id, background or None for the original frame)`` pairs), ``seam_px``
    and ``reach_px`` (None: unlimited)."""

    default: Any = None
    own: tuple[tuple[int, Any], ...] = ()
    seam_px: float = DEFAULT_SEAM_PX
    reach_px: float | None = None


def _spec(bg: Any) -> str:
    return "none" if bg is None else str(getattr(bg, "spec", bg))


class BackgroundsController(QObject):
    """The background editing of ``window`` (see the module docstring).

    ``window`` provides ``session``, ``state``, ``undo_stack``, ``current``, ``projects``,
    ``set_selected(ids)``, ``show_error(message)`` and ``show_frame(index)``.
    """

    def __init__(self, window):
        super().__init__(window)
        self.window = window
        self.panel = BackgroundPanel()
        self.panel.changed.connect(self._background_edited)
        self.panel.scope_changed.connect(lambda *_: self.sync())
        self.panel.default_toggled.connect(self._default_toggled)
        self.panel.spacing_changed.connect(self._spacing_edited)

    # -- the state --------------------------------------------------------------------------------
    def current(self) -> Backgrounds:
        s = self.window.state
        return Backgrounds(s.background, tuple(s.person_backgrounds), s.seam_px, s.reach_px)

    def _set(self, b: Backgrounds) -> None:
        s = self.window.state
        s.background, s.person_backgrounds = b.default, tuple(sorted(b.own))
        s.seam_px, s.reach_px = b.seam_px, b.reach_px

    def _apply(self, b: Backgrounds) -> None:
        w = self.window
        self._set(b)
        self.sync()
        w.projects.mark_dirty()
        w.show_frame(w.current)

    # -- edits ------------------------------------------------------------------------------------
    def edit(self, after: Backgrounds, text: str, key: object = None) -> bool:
        """Make ``after`` the window's backgrounds, as one undoable step named ``text``."""
        w = self.window
        before = self.current()
        if after == before:
            return False
        if w.session is None:  # nothing to undo in: just keep it for the next clip
            self._set(after)
            self.sync()
            return True
        w.undo_stack.push(StateCommand(text, before, after, self._apply, key))
        return True

    def set_default(self, bg: Background | None) -> bool:
        """Everyone's background (the default) as an undoable edit."""
        return self.edit(dataclasses.replace(self.current(), default=bg),
                         f"Background: {_spec(bg)}")

    def set_own(self, track_id: int, bg: Any) -> bool:
        """Person ``track_id``'s own background (None: the original frame), selecting them."""
        w = self.window
        if track_id not in w.state.selected:
            w.set_selected(w.state.selected | {track_id})
        cur = self.current()
        own = dict(cur.own)
        key = (("background", track_id) if isinstance(own.get(track_id), BlurBackground)
               and isinstance(bg, BlurBackground) else None)
        own[track_id] = bg
        return self.edit(dataclasses.replace(cur, own=tuple(sorted(own.items()))),
                         f"Person {track_id}: own background {_spec(bg)}", key)

    def remove_own(self, track_id: int) -> bool:
        """Person ``track_id`` uses the default background again."""
        cur = self.current()
        own = dict(cur.own)
        if own.pop(track_id, ...) is ...:
            return False
        return self.edit(dataclasses.replace(cur, own=tuple(sorted(own.items()))),
                         f"Person {track_id}: use the default background")

    def _background_edited(self, *_: object) -> None:
        scope = self.panel.scope()
        if scope is not None and self.panel.incomplete:
            return  # an image not chosen yet: nothing to give them
        try:
            bg = self.panel.background()
        except HumanfxError as err:
            self.window.show_error(str(err))
            if scope is not None:
                self.sync()
                return
            bg = None
        if scope is None:
            cur = self.current()
            key = ("background", None) if isinstance(cur.default, BlurBackground) \
                and isinstance(bg, BlurBackground) else None
            self.edit(dataclasses.replace(cur, default=bg), f"Background: {_spec(bg)}", key)
        else:
            self.set_own(scope, bg)

    def _default_toggled(self, on: bool) -> None:
        scope = self.panel.scope()
        if scope is None:
            return
        if on:
            self.remove_own(scope)
        else:
            try:
                bg = None if self.panel.incomplete else self.panel.background()
            except HumanfxError as err:
                self.window.show_error(str(err))
                self.sync()
                return
            self.set_own(scope, bg)

    def _spacing_edited(self) -> None:
        cur = self.current()
        self.edit(dataclasses.replace(cur, seam_px=self.panel.seam_px(),
                                      reach_px=self.panel.reach_px()),
                  "Background seam and reach", ("background-spacing",))

    # -- keeping the panel in step ----------------------------------------------------------------
    def sync(self) -> None:
        """Show the current scope's background, whether it is the person's own, and the seam
        and reach in the panel."""
        s, p = self.window.state, self.panel
        p.show_spacing(s.seam_px, s.reach_px)
        scope = p.scope()
        own = dict(s.person_backgrounds)
        has_own = scope is not None and scope in own
        bg = own[scope] if has_own else s.background
        notes = []
        if not p.show_background(bg):
            notes.append(f"{_spec(bg)}: cannot be edited here (it is kept)")
        if scope is not None:
            if has_own and scope not in s.selected:
                notes.append(f"Person {scope} is not selected: their own background shows "
                             "once they are.")
            elif not has_own:
                notes.append(f"Person {scope} uses the default background.")
        p.show_own(has_own, " ".join(notes))

    def load(self, b: Backgrounds) -> None:
        """Show ``b`` (an opened project's backgrounds): not an edit, nothing to undo."""
        self._set(b)
        self.sync()
        self.window.show_frame(self.window.current)

    def reset(self) -> None:
        """A new clip: no persons' own backgrounds (they are other people); the default,
        seam and reach stay."""
        self.window.state.person_backgrounds = ()
        self.sync()

    def persons_changed(self, ids: list[int], names: dict[int, str | None]) -> None:
        self.panel.set_persons(ids, names)

    def selection_changed(self, ids: set[int]) -> None:
        """The selection changed: a person's own background shows only while selected."""
        if self.panel.scope() is not None:
            self.sync()


__all__ = ["Backgrounds", "BackgroundsController"]
