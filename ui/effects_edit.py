"""Effect-stack and matte edits in the app: the panels, the window's state and undo.

:class:`EffectsController` belongs to one :class:`~ui.main_window.MainWindow`.  It owns the
Effects panel (:class:`~ui.effect_stack_panel.EffectStackPanel`) and the Matte panel
(:class:`~ui.matte_panel.MattePanel`) and applies what they propose to the window's
:class:`~ui.preview.ViewState` (``state.stack``, ``state.matte`` and the persons' own mattes
``state.person_mattes``) -- the single model the preview renders, the project saves
(:class:`~ui.project_io.ProjectController`) and the export renders
(:func:`editor_plugin.render.render_project` when there are effects or persons' own mattes).

Every edit is a :class:`StateCommand` on the window's ``undo_stack`` (the one identity edits
use): it holds the ``(stack, matte, person_mattes)`` before and after, so undo/redo simply
put one back.  Consecutive edits of the same parameter (a slider drag, spin-box arrows; for
a person's matte, of the same person) merge into one step.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from fractions import Fraction
from typing import Any

from PySide6.QtCore import QObject
from PySide6.QtGui import QUndoCommand

from editor_plugin.project import MatteSettings
from effects.matte_settings import MatteOverride
from effects.registry import EffectRegistry
from effects.stack import EffectStack
from ui.effect_stack_panel import EffectStackPanel
from ui.matte_panel import MattePanel

log = logging.getLogger(__name__)

#: ``(stack, everyone's matte, persons' own mattes as sorted (id, override) pairs)``.
State = tuple[EffectStack, MatteSettings, tuple[tuple[int, MatteOverride], ...]]


class StateCommand(QUndoCommand):
    """One edit of some of the window's state (``before``/``after``: any comparable value,
    e.g. a :data:`State`): ``redo`` applies ``after``, ``undo``
    ``before`` (through ``apply``).  Commands with the same non-None ``key`` merge."""

    MERGE_ID = 0x6678

    def __init__(self, text: str, before: Any, after: Any,
                 apply: Callable[[Any], None], key: object = None):
        super().__init__(text)
        self.before, self.after = before, after
        self.key = key
        self._apply = apply

    def id(self) -> int:
        return self.MERGE_ID if self.key is not None else -1

    def mergeWith(self, other: QUndoCommand) -> bool:
        if not isinstance(other, StateCommand) or other.key != self.key:
            return False
        self.after = other.after
        self.setText(other.text())
        if self.after == self.before:
            self.setObsolete(True)
        return True

    def redo(self) -> None:
        self._apply(self.after)

    def undo(self) -> None:
        self._apply(self.before)


class EffectsController(QObject):
    """The effects and matte editing of ``window`` (see the module docstring).

    ``window`` provides ``state`` (with ``stack``, ``matte`` and ``person_mattes``),
    ``undo_stack``, ``preview``,
    ``current``, ``projects`` and ``show_frame(index)``.  ``registry``: where the *Add* menu's
    effects come from (default: the process-wide :data:`effects.registry.REGISTRY`).
    """

    def __init__(self, window, registry: EffectRegistry | None = None):
        super().__init__(window)
        self.window = window
        self.stack_panel = EffectStackPanel(registry)
        self.matte_panel = MattePanel()
        self.stack_panel.stack_edited.connect(self.edit_stack)
        self.matte_panel.matte_edited.connect(self.edit_matte)
        self.matte_panel.person_matte_edited.connect(self.edit_person_matte)
        self.matte_panel.scope_changed.connect(lambda *_: self.sync())

    # -- edits ------------------------------------------------------------------------------------
    def current(self) -> State:
        """The window's ``(stack, matte, person_mattes)``."""
        s = self.window.state
        return (s.stack, s.matte, tuple(s.person_mattes))

    def edit_stack(self, stack: EffectStack, text: str, key: object = None) -> bool:
        """Make ``stack`` the window's effect stack, as one undoable step named ``text``."""
        _, matte, own = self.current()
        return self._push(text, (stack, matte, own), key)

    def edit_matte(self, matte: MatteSettings, text: str, key: object = None) -> bool:
        """Make ``matte`` everyone's matte settings, as one undoable step named ``text``."""
        stack, _, own = self.current()
        return self._push(text, (stack, matte, own), key)

    def edit_person_matte(self, track_id: int, override: MatteOverride | None, text: str,
                          key: object = None) -> bool:
        """Give person ``track_id`` the matte ``override`` (None: the default matte again),
        as one undoable step named ``text``."""
        stack, matte, own = self.current()
        mattes = dict(own)
        if override is None:
            mattes.pop(int(track_id), None)
        else:
            mattes[int(track_id)] = override
        return self._push(text, (stack, matte, tuple(sorted(mattes.items()))), key)

    def _push(self, text: str, after: State, key: object) -> bool:
        w = self.window
        before = self.current()
        if after == before:
            return False
        if w.session is None:
            self.stack_panel.show_message("open a clip first (File ▸ Open)")
            self.sync()
            return False
        w.undo_stack.push(StateCommand(text, before, after, self._apply, key))
        return True

    def _apply(self, state: State) -> None:
        w = self.window
        w.state.stack, w.state.matte, w.state.person_mattes = state
        self.sync()
        w.projects.mark_dirty()
        w.show_frame(w.current)

    # -- keeping the panels in step ---------------------------------------------------------------
    def sync(self) -> None:
        """Show the window's stack, and the matte of the Matte panel's scope (everyone's, or
        the person's resolved one and their override), in the panels."""
        s = self.window.state
        self.stack_panel.set_stack(s.stack)
        scope = self.matte_panel.scope()
        own = dict(s.person_mattes).get(scope) if scope is not None else None
        self.matte_panel.set_matte(own.resolve(s.matte) if own is not None else s.matte, own)

    def reset(self) -> None:
        """A new clip: no effects and no persons' own mattes (its persons are other people);
        everyone's matte stays."""
        self.window.state.stack = EffectStack()
        self.window.state.person_mattes = ()
        self.sync()

    def persons_changed(self, ids: list[int], names: dict[int, str | None]) -> None:
        self.stack_panel.set_persons(ids, names)
        self.matte_panel.set_persons(ids, names)

    def selection_changed(self, ids: set[int]) -> None:
        """One selected person: the Effects panel shows theirs."""
        if len(ids) == 1:
            self.stack_panel.set_target(next(iter(ids)))

    def frame_shown(self, index: int) -> None:
        """The playhead is on frame ``index``: keyframe toggles act at its time."""
        preview = self.window.preview
        time = preview.time_of(index) if preview is not None else Fraction(0)
        self.stack_panel.set_time(time)

    @property
    def time(self) -> Fraction:
        """The playhead's clip time (exact seconds from the first frame)."""
        return self.stack_panel.time


__all__ = ["EffectsController", "StateCommand"]
