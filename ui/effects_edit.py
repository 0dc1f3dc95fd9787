"""Effect-stack and matte edits in the app: the panels, the window's state and undo.

:class:`EffectsController` belongs to one :class:`~ui.main_window.MainWindow`.  It owns the
Effects panel (:class:`~ui.effect_stack_panel.EffectStackPanel`) and the Matte panel
(:class:`~ui.matte_panel.MattePanel`) and applies what they propose to the window's
:class:`~ui.preview.ViewState` (``state.stack``, ``state.matte``) -- the single model the
preview renders, the project saves (:class:`~ui.project_io.ProjectController`) and the export
renders (:func:`editor_plugin.render.render_project` when there are effects).

Every edit is a :class:`StateCommand` on the window's ``undo_stack`` (the one identity edits
use): it holds the ``(stack, matte)`` before and after, so undo/redo simply put one back.
Consecutive edits of the same parameter (a slider drag, spin-box arrows) merge into one step.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from fractions import Fraction

from PySide6.QtCore import QObject
from PySide6.QtGui import QUndoCommand

from editor_plugin.project import MatteSettings
from effects.registry import EffectRegistry
from effects.stack import EffectStack
from ui.effect_stack_panel import EffectStackPanel
from ui.matte_panel import MattePanel

log = logging.getLogger(__name__)

State = tuple[EffectStack, MatteSettings]


class StateCommand(QUndoCommand):
    """One edit of the window's ``(stack, matte)``: ``redo`` applies ``after``, ``undo``
    ``before`` (through ``apply``).  Commands with the same non-None ``key`` merge."""

    MERGE_ID = 0x6678

    def __init__(self, text: str, before: State, after: State,
                 apply: Callable[[State], None], key: object = None):
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

    ``window`` provides ``state`` (with ``stack`` and ``matte``), ``undo_stack``, ``preview``,
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

    # -- edits ------------------------------------------------------------------------------------
    def edit_stack(self, stack: EffectStack, text: str, key: object = None) -> bool:
        """Make ``stack`` the window's effect stack, as one undoable step named ``text``."""
        return self._push(text, (stack, self.window.state.matte), key)

    def edit_matte(self, matte: MatteSettings, text: str, key: object = None) -> bool:
        """Make ``matte`` the window's matte settings, as one undoable step named ``text``."""
        return self._push(text, (self.window.state.stack, matte), key)

    def _push(self, text: str, after: State, key: object) -> bool:
        w = self.window
        before = (w.state.stack, w.state.matte)
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
        w.state.stack, w.state.matte = state
        self.sync()
        w.projects.mark_dirty()
        w.show_frame(w.current)

    # -- keeping the panels in step ---------------------------------------------------------------
    def sync(self) -> None:
        """Show the window's stack and matte in the panels."""
        self.stack_panel.set_stack(self.window.state.stack)
        self.matte_panel.set_matte(self.window.state.matte)

    def reset(self) -> None:
        """A new clip: no effects (its persons are other people); the matte stays."""
        self.window.state.stack = EffectStack()
        self.sync()

    def persons_changed(self, ids: list[int], names: dict[int, str | None]) -> None:
        self.stack_panel.set_persons(ids, names)

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
