"""The Matte panel: how person mattes are refined, for everyone or one person.

The controls are the project's matte settings (:class:`effects.matte_settings.MatteSettings`),
applied to every person's matte separately by the renderer (:class:`effects.stack.PersonMattes`):
refine (none / feather / guided), feather (Gaussian sigma, px), expand (> 0) or choke (< 0) in
px, the guided filter's radius (px) and epsilon, and temporal stabilisation (off / ema /
median3).

*Scope* picks what is edited: **Everyone** -- the default matte (``$.matte``) -- or **Person
N** -- that person's own (``$.person_mattes``, a :class:`~effects.matte_settings.MatteOverride`).
In a person's scope the controls show the person's matte (their own values, everyone's for
the rest); changing a control gives them that value of their own (the controls they did not
change keep following everyone's, the note lists theirs).  *Use the default matte* (ticked:
nothing of their own) removes their override; unticking it gives them an empty one.

Like the Effects panel it only proposes: :attr:`MattePanel.matte_edited` carries
``(new_settings, undo_text, merge_key)`` for everyone's matte and
:attr:`MattePanel.person_matte_edited` ``(track_id, new_override_or_None, undo_text,
merge_key)`` for a person's; the owner applies it and calls :meth:`MattePanel.set_matte`
back.  :attr:`MattePanel.scope_changed` carries the new scope (None: everyone).  Controls that
do not apply to the chosen refine mode are disabled (feather: feather and guided;
radius/epsilon: guided).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QSpinBox,
    QWidget,
)

from effects.matte_settings import (
    GUIDED_EPS_RANGE,
    MAX_EXPAND_PX,
    MAX_FEATHER_PX,
    MAX_GUIDED_RADIUS,
    MatteOverride,
    MatteSettings,
)
from effects.refine import REFINE_MODES, TEMPORAL_MODES
from inference.errors import HumanfxError
from ui.scope_combo import ScopeCombo

log = logging.getLogger(__name__)

#: Labels of the matte fields, for undo texts and notes.
LABELS = {"refine": "refine", "feather_px": "feather", "expand_px": "expand/choke",
          "guided_radius": "guided radius", "guided_eps": "guided epsilon",
          "temporal": "temporal"}


def _double(lo: float, hi: float, decimals: int, step: float, suffix: str = "") -> QDoubleSpinBox:
    s = QDoubleSpinBox()
    s.setDecimals(decimals)
    s.setRange(lo, hi)
    s.setSingleStep(step)
    s.setSuffix(suffix)
    s.setKeyboardTracking(False)
    return s


class MattePanel(QWidget):
    """Edits everyone's :class:`MatteSettings` or one person's override (see the module
    docstring).  Public widgets: :attr:`scope_combo`, :attr:`default_box`, :attr:`refine`,
    :attr:`feather`, :attr:`expand`, :attr:`radius`, :attr:`eps`, :attr:`temporal`,
    :attr:`note`."""

    matte_edited = Signal(object, str, object)
    person_matte_edited = Signal(int, object, str, object)
    scope_changed = Signal(object)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.settings = MatteSettings()
        self.own: MatteOverride | None = None
        self._quiet = False
        self.scope_combo = ScopeCombo("matte")
        self.default_box = QCheckBox("Use the default matte")
        self.default_box.setChecked(True)
        self.default_box.setToolTip("untick (or change a control below) to give this person "
                                    "matte settings of their own")
        self.refine = QComboBox()
        self.refine.addItems(list(REFINE_MODES))
        self.feather = _double(0.0, MAX_FEATHER_PX, 2, 0.5, " px")
        self.expand = _double(-MAX_EXPAND_PX, MAX_EXPAND_PX, 1, 1.0, " px")
        self.expand.setToolTip("grow the matte (> 0) or choke it (< 0)")
        self.radius = QSpinBox()
        self.radius.setRange(1, MAX_GUIDED_RADIUS)
        self.radius.setSuffix(" px")
        self.radius.setKeyboardTracking(False)
        self.eps = _double(GUIDED_EPS_RANGE[0], GUIDED_EPS_RANGE[1], 6, 0.0005)
        self.eps.setToolTip("guided filter epsilon (guide in 0..1): larger = smoother")
        self.temporal = QComboBox()
        self.temporal.addItems(list(TEMPORAL_MODES))
        self.temporal.setToolTip("stabilise the matte across frames (export from the first "
                                 "frame of a range; the viewer restarts it on a seek)")
        self.note = QLabel()
        self.note.setWordWrap(True)
        self.message = QLabel()
        self.message.setStyleSheet("color: #d04040")
        self.message.setWordWrap(True)
        self.message.hide()

        form = QFormLayout(self)
        form.addRow("Scope", self.scope_combo)
        form.addRow(self.default_box)
        form.addRow(self.note)
        form.addRow("Refine", self.refine)
        form.addRow("Feather", self.feather)
        form.addRow("Expand / choke", self.expand)
        form.addRow("Guided radius", self.radius)
        form.addRow("Guided epsilon", self.eps)
        form.addRow("Temporal", self.temporal)
        form.addRow(self.message)
        self.default_box.hide()

        self.scope_combo.currentIndexChanged.connect(self._scope_changed)
        self.default_box.toggled.connect(self._default_toggled)
        self.refine.currentTextChanged.connect(lambda v: self.propose("refine", v))
        self.feather.valueChanged.connect(lambda v: self.propose("feather_px", float(v)))
        self.expand.valueChanged.connect(lambda v: self.propose("expand_px", float(v)))
        self.radius.valueChanged.connect(lambda v: self.propose("guided_radius", int(v)))
        self.eps.valueChanged.connect(lambda v: self.propose("guided_eps", float(v)))
        self.temporal.currentTextChanged.connect(lambda v: self.propose("temporal", v))
        self.set_matte(self.settings)

    # -- scope ----------------------------------------------------------------------------------
    def scope(self) -> int | None:
        """The track id whose own matte is edited (None: everyone's)."""
        return self.scope_combo.currentData()

    def set_scope(self, scope: int | None) -> None:
        """Edit everyone's matte (None) or person ``scope``'s own."""
        self.scope_combo.set_scope(scope)

    def use_default(self, on: bool = True) -> None:
        """In a person's scope: tick (remove their own matte) or untick *Use the default
        matte* (give them an empty override)."""
        self.default_box.setChecked(on)

    def set_persons(self, ids: Sequence[int], names: dict[int, str | None] | None = None) -> None:
        """The persons one can give a matte of their own; the scope stays unless its person
        is gone (then: Everyone, with :attr:`scope_changed`)."""
        if self.scope_combo.set_persons(ids, names):
            self._scope_changed()

    def _scope_changed(self, *_: object) -> None:
        self.default_box.setVisible(self.scope() is not None)
        self.scope_changed.emit(self.scope())

    def _default_toggled(self, on: bool) -> None:
        tid = self.scope()
        if tid is None or self._quiet:
            return
        if on:
            self.person_matte_edited.emit(tid, None, f"Person {tid}: use the default matte",
                                          None)
        else:
            self.person_matte_edited.emit(tid, MatteOverride(), f"Person {tid}: own matte",
                                          None)

    # -- showing the owner's state (emits nothing) ----------------------------------------------
    def set_matte(self, settings: MatteSettings, own: MatteOverride | None = None) -> None:
        """Show ``settings`` (in a person's scope: their resolved matte) and ``own`` (the
        scope's person's override, None: they use the default) without proposing anything."""
        self.settings, self.own = settings, own
        self._quiet = True
        try:
            self.refine.setCurrentText(settings.refine)
            self.feather.setValue(settings.feather_px)
            self.expand.setValue(settings.expand_px)
            self.radius.setValue(settings.guided_radius)
            self.eps.setValue(settings.guided_eps)
            self.temporal.setCurrentText(settings.temporal)
            self.default_box.setChecked(own is None)
        finally:
            self._quiet = False
        guided = settings.refine == "guided"
        self.feather.setEnabled(settings.refine != "none")
        self.radius.setEnabled(guided)
        self.eps.setEnabled(guided)
        self.message.hide()
        self.note.setText(self._note())

    def _note(self) -> str:
        tid = self.scope()
        if tid is None:
            return "Every person's matte, unless they have their own (pick them in Scope)."
        if self.own is None:
            return (f"Person {tid} uses the default matte. Changing a control here gives "
                    "them that setting of their own.")
        if not self.own.names():
            return (f"Person {tid} has a matte of their own with nothing changed yet: every "
                    "control follows the default.")
        keys = ", ".join(LABELS[k] for k in self.own.names())
        return f"Person {tid}'s own: {keys}; the rest follows the default."

    # -- proposing ------------------------------------------------------------------------------
    def propose(self, name: str, value: Any) -> bool:
        """Propose field ``name`` = ``value`` for the scope (everyone's settings, or the
        person's override); False (message shown) when the settings refuse it."""
        if self._quiet or getattr(self.settings, name) == value:
            return False
        tid = self.scope()
        try:
            if tid is None:
                new: Any = dataclasses.replace(self.settings, **{name: value})
            else:
                new = (self.own or MatteOverride()).with_value(name, value)
        except HumanfxError as err:
            self.message.setText(str(err))
            self.message.show()
            return False
        if tid is None:
            self.matte_edited.emit(new, f"Matte {LABELS[name]}", ("matte", name))
        else:
            self.person_matte_edited.emit(tid, new, f"Person {tid}: matte {LABELS[name]}",
                                          ("matte", tid, name))
        return True


__all__ = ["LABELS", "MattePanel"]
