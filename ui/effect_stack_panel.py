"""The Effects panel: the effect stack of one person (or everyone), and the selected effect's
controls.

The panel is a view of an :class:`~effects.stack.EffectStack` it does not own: every edit
(add, remove, move, a parameter, a keyframe) is proposed as a whole new stack through
:attr:`EffectStackPanel.stack_edited`; whoever owns the stack (the window's
:class:`~ui.effects_edit.EffectsController`, which puts it on the undo stack) applies it and
calls :meth:`EffectStackPanel.set_stack` back.

Effects of a list are applied in order, top to bottom: a later overlay draws over an earlier
one and a later recolouring works on the earlier one's result.  *Everyone*'s effects apply to
every person, before the person's own.  The *Add* menu lists every effect of the registry
(:mod:`effects.registry`: built-ins and plugins alike; plugins that failed to load are listed
disabled, with the reason).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QListWidget,
    QMenu,
    QScrollArea,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from effects.keyframes import Keyframes
from effects.model import Effect
from effects.registry import REGISTRY, EffectRegistry
from effects.stack import EffectStack
from inference.errors import HumanfxError
from ui.effect_editor import EffectEditor

log = logging.getLogger(__name__)


def with_list(stack: EffectStack, target: int | None, effects: Iterable[Effect]) -> EffectStack:
    """``stack`` with the effect list of ``target`` (a track id; None: everyone) replaced by
    ``effects`` (an empty list removes the person's entry); depth overrides are kept."""
    per_person = dict(stack.per_person)
    everyone = stack.everyone
    effects = tuple(effects)
    if target is None:
        everyone = effects
    elif effects:
        per_person[target] = effects
    else:
        per_person.pop(target, None)
    return EffectStack(per_person, everyone, dict(stack.depth_override))


def effects_of(stack: EffectStack, target: int | None) -> tuple[Effect, ...]:
    """The own effect list of ``target`` (None: everyone's), in order."""
    return stack.everyone if target is None else dict(stack.per_person).get(target, ())


def who(target: int | None) -> str:
    return "everyone" if target is None else f"person {target}"


def effect_label(effect: Effect) -> str:
    """A list row: the effect's name, its layer, and ◆ when it is animated."""
    text = type(effect).label()
    layer = getattr(effect, "layer", None)
    if layer == "behind":
        text += " (behind)"
    return text + (" ◆" if effect.animated else "")


class EffectStackPanel(QWidget):
    """Target (*Everyone* / a person), the target's effects, Add / Remove / Up / Down and
    an :class:`~ui.effect_editor.EffectEditor` for the selected effect.

    :attr:`stack_edited` carries ``(new_stack, undo_text, merge_key)``; ``merge_key`` is not
    None for a parameter edit that may merge with the previous edit of the same key.
    """

    stack_edited = Signal(object, str, object)

    def __init__(self, registry: EffectRegistry | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self.registry = registry if registry is not None else REGISTRY
        self.stack = EffectStack()
        self.time = Fraction(0)
        self._select_after: int | None = None
        self._shown: tuple[int | None, int, type] | None = None

        self.target_combo = QComboBox()
        self.target_combo.addItem("Everyone", None)
        self.list = QListWidget()
        self.add_menu = QMenu(self)
        self.add_menu.aboutToShow.connect(self._fill_add_menu)
        self.add_button = QToolButton()
        self.add_button.setText("Add")
        self.add_button.setMenu(self.add_menu)
        self.add_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.remove_button = QToolButton()
        self.remove_button.setText("Remove")
        self.up_button = QToolButton()
        self.up_button.setText("▲")
        self.up_button.setToolTip("Move the effect up (applied earlier)")
        self.down_button = QToolButton()
        self.down_button.setText("▼")
        self.down_button.setToolTip("Move the effect down (applied later, drawn over)")
        self.message = QLabel()
        self.message.setStyleSheet("color: #d04040")
        self.message.setWordWrap(True)
        self.message.hide()
        self.editor = EffectEditor()
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.editor)

        top = QFormLayout()
        top.addRow("Effects of", self.target_combo)
        buttons = QHBoxLayout()
        for b in (self.add_button, self.remove_button, self.up_button, self.down_button):
            buttons.addWidget(b)
        lay = QVBoxLayout(self)
        lay.addLayout(top)
        lay.addWidget(self.list, 1)
        lay.addLayout(buttons)
        lay.addWidget(self.message)
        lay.addWidget(scroll, 2)

        self.target_combo.currentIndexChanged.connect(lambda *_: self._refresh(select=0))
        self.list.currentRowChanged.connect(lambda *_: self._show_current())
        self.remove_button.clicked.connect(self.remove_current)
        self.up_button.clicked.connect(lambda: self.move_current(-1))
        self.down_button.clicked.connect(lambda: self.move_current(1))
        self.editor.changed.connect(self._effect_changed)
        self._fill_add_menu()
        self._refresh()

    # -- what is shown ------------------------------------------------------------------------
    def target(self) -> int | None:
        """The track id whose effects are shown (None: everyone)."""
        return self.target_combo.currentData()

    def set_target(self, target: int | None) -> None:
        i = self.target_combo.findData(target)
        if i < 0:
            self._add_target(target)
            i = self.target_combo.count() - 1
        self.target_combo.setCurrentIndex(i)

    def _add_target(self, tid: int | None, name: str | None = None) -> None:
        if tid is not None:
            self.target_combo.addItem(f"Person {tid}" + (f" — {name}" if name else ""), tid)

    def set_persons(self, ids: Sequence[int], names: dict[int, str | None] | None = None) -> None:
        """The persons of the clip (a person with effects but no longer in the clip stays
        listed, so their effects can still be removed)."""
        current = self.target()
        names = names or {}
        keep = sorted(set(ids) | {k for k, _ in self.stack.per_person})
        self.target_combo.blockSignals(True)
        try:
            self.target_combo.clear()
            self.target_combo.addItem("Everyone", None)
            for tid in keep:
                self._add_target(tid, names.get(tid))
            i = self.target_combo.findData(current)
            self.target_combo.setCurrentIndex(max(i, 0))
        finally:
            self.target_combo.blockSignals(False)
        self._refresh()

    def effects(self) -> tuple[Effect, ...]:
        """The shown target's own effects, in order."""
        return effects_of(self.stack, self.target())

    def current_row(self) -> int:
        return self.list.currentRow()

    def current_effect(self) -> Effect | None:
        row, effects = self.current_row(), self.effects()
        return effects[row] if 0 <= row < len(effects) else None

    def select(self, row: int) -> None:
        self.list.setCurrentRow(row)

    def labels(self) -> list[str]:
        return [self.list.item(i).text() for i in range(self.list.count())]

    def set_stack(self, stack: EffectStack) -> None:
        """Show ``stack`` (after an edit, an undo or a project load)."""
        self.stack = stack
        for tid, _ in stack.per_person:
            if self.target_combo.findData(tid) < 0:
                self._add_target(tid)
        select, self._select_after = self._select_after, None
        self._refresh(select=select)

    def set_time(self, time: Fraction) -> None:
        """The playhead moved to clip ``time`` (exact seconds)."""
        self.time = time
        self.editor.set_time(time)

    def _refresh(self, select: int | None = None) -> None:
        effects = self.effects()
        row = self.list.currentRow() if select is None else select
        self.list.blockSignals(True)
        try:
            self.list.clear()
            self.list.addItems([effect_label(e) for e in effects])
            self.list.setCurrentRow(min(max(row, 0), len(effects) - 1) if effects else -1)
        finally:
            self.list.blockSignals(False)
        self._show_current()

    def _show_current(self) -> None:
        row, effect = self.current_row(), self.current_effect()
        shown = None if effect is None else (self.target(), row, type(effect))
        self.editor.set_effect(effect, self.time, rebuild=shown != self._shown)
        self._shown = shown
        n = len(self.effects())
        self.remove_button.setEnabled(effect is not None)
        self.up_button.setEnabled(effect is not None and row > 0)
        self.down_button.setEnabled(effect is not None and row < n - 1)

    # -- edits --------------------------------------------------------------------------------
    def _propose(self, effects: Iterable[Effect], text: str, key: object = None,
                 select: int | None = None) -> None:
        self.message.hide()
        self._select_after = select
        self.stack_edited.emit(with_list(self.stack, self.target(), effects), text, key)

    def add_effect(self, name: str, **params: Any) -> Effect | None:
        """Append a new effect ``name`` (registry name) with ``params`` to the target's list;
        the effect, or None with the refusal shown in the panel."""
        try:
            effect = self.registry.create(name, **params)
        except HumanfxError as err:
            self.show_message(str(err))
            return None
        effects = (*self.effects(), effect)
        self._propose(effects, f"Add {type(effect).label()} to {who(self.target())}",
                      select=len(effects) - 1)
        return effect

    def remove_current(self) -> bool:
        row, effect = self.current_row(), self.current_effect()
        if effect is None:
            return False
        effects = list(self.effects())
        del effects[row]
        self._propose(effects, f"Remove {type(effect).label()} from {who(self.target())}",
                      select=min(row, len(effects) - 1))
        return True

    def move_current(self, delta: int) -> bool:
        """Move the selected effect ``delta`` rows (-1: up, +1: down)."""
        row, effect = self.current_row(), self.current_effect()
        effects = list(self.effects())
        to = row + delta
        if effect is None or not 0 <= to < len(effects):
            return False
        effects.insert(to, effects.pop(row))
        self._propose(effects, f"Move {type(effect).label()} {'up' if delta < 0 else 'down'}",
                      select=to)
        return True

    def _effect_changed(self, new: Effect, name: str, mergeable: bool) -> None:
        row = self.current_row()
        effects = list(self.effects())
        if not 0 <= row < len(effects):
            return
        effects[row] = new
        label = type(new).label()
        if mergeable:
            text, key = f"Change {label} {name}", ("param", self.target(), row, name)
        else:
            value = getattr(new, name)
            keyed = isinstance(value, Keyframes) and any(k.time == self.time for k in value.keys)
            text = f"{'Set' if keyed else 'Remove'} {label} {name} key at {float(self.time):g} s"
            key = None
        self._propose(effects, text, key, select=row)

    def show_message(self, text: str) -> None:
        self.message.setText(text)
        self.message.show()

    # -- the Add menu -------------------------------------------------------------------------
    def _fill_add_menu(self) -> None:
        self.add_menu.clear()
        for name in self.registry.names():
            cls = self.registry.get(name)
            a = QAction(name, self.add_menu)
            a.setToolTip((cls.__doc__ or "").strip().split("\n")[0])
            a.triggered.connect(lambda _=False, n=name: self.add_from_menu(n))
            self.add_menu.addAction(a)
        for name, why in sorted(self.registry.failures.items()):
            a = QAction(f"{name} (failed to load)", self.add_menu)
            a.setToolTip(why)
            a.setEnabled(False)
            self.add_menu.addAction(a)

    def add_from_menu(self, name: str) -> Effect | None:
        """*Add ▸ name*: ask for the effect's required parameters (a file dialog for a file,
        a text box otherwise), then :meth:`add_effect`."""
        params: dict[str, Any] = {}
        for pname, p in self.registry.get(name).params().items():
            if not p.required:
                continue
            if p.type is Path:
                path, _ = QFileDialog.getOpenFileName(self, f"{name}: {pname}", "",
                                                      "Images (*.png *.jpg *.jpeg *.webp);;All (*)")
                if not path:
                    return None
                params[pname] = Path(path)
            else:
                text, ok = QInputDialog.getText(self, name, f"{pname}: {p.doc}")
                if not ok:
                    return None
                params[pname] = text
        return self.add_effect(name, **params)


__all__ = ["EffectStackPanel", "effect_label", "effects_of", "who", "with_list"]
