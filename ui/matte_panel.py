"""The Matte panel: how person mattes are refined (the project's ``$.matte``).

The project holds one matte setting for the whole edit (:class:`editor_plugin.project.
MatteSettings`), applied to every person's matte separately by the renderer
(:class:`effects.stack.PersonMattes`), so the panel edits that one setting: refine
(none / feather / guided), feather (Gaussian sigma, px), expand (> 0) or choke (< 0) in px,
the guided filter's radius (px) and epsilon, and temporal stabilisation (off / ema / median3).

Like the Effects panel it only proposes: :attr:`MattePanel.matte_edited` carries
``(new_settings, undo_text, merge_key)``; the owner applies it and calls
:meth:`MattePanel.set_matte` back.  Controls that do not apply to the chosen refine mode are
disabled (feather: feather and guided; radius/epsilon: guided).
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox, QDoubleSpinBox, QFormLayout, QLabel, QSpinBox, QWidget

from editor_plugin.project import (
    GUIDED_EPS_RANGE,
    MAX_EXPAND_PX,
    MAX_FEATHER_PX,
    MAX_GUIDED_RADIUS,
    MatteSettings,
)
from effects.refine import REFINE_MODES, TEMPORAL_MODES
from inference.errors import HumanfxError

log = logging.getLogger(__name__)

#: Labels of the matte fields, for undo texts.
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
    """Edits one :class:`MatteSettings` (see the module docstring).  Public widgets:
    :attr:`refine`, :attr:`feather`, :attr:`expand`, :attr:`radius`, :attr:`eps`,
    :attr:`temporal`."""

    matte_edited = Signal(object, str, object)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.settings = MatteSettings()
        self._quiet = False
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
        self.message = QLabel()
        self.message.setStyleSheet("color: #d04040")
        self.message.setWordWrap(True)
        self.message.hide()

        note = QLabel("One setting for every person (the project's matte)")
        note.setWordWrap(True)
        form = QFormLayout(self)
        form.addRow(note)
        form.addRow("Refine", self.refine)
        form.addRow("Feather", self.feather)
        form.addRow("Expand / choke", self.expand)
        form.addRow("Guided radius", self.radius)
        form.addRow("Guided epsilon", self.eps)
        form.addRow("Temporal", self.temporal)
        form.addRow(self.message)

        self.refine.currentTextChanged.connect(lambda v: self.propose("refine", v))
        self.feather.valueChanged.connect(lambda v: self.propose("feather_px", float(v)))
        self.expand.valueChanged.connect(lambda v: self.propose("expand_px", float(v)))
        self.radius.valueChanged.connect(lambda v: self.propose("guided_radius", int(v)))
        self.eps.valueChanged.connect(lambda v: self.propose("guided_eps", float(v)))
        self.temporal.currentTextChanged.connect(lambda v: self.propose("temporal", v))
        self.set_matte(self.settings)

    def set_matte(self, settings: MatteSettings) -> None:
        """Show ``settings`` without proposing anything."""
        self.settings = settings
        self._quiet = True
        try:
            self.refine.setCurrentText(settings.refine)
            self.feather.setValue(settings.feather_px)
            self.expand.setValue(settings.expand_px)
            self.radius.setValue(settings.guided_radius)
            self.eps.setValue(settings.guided_eps)
            self.temporal.setCurrentText(settings.temporal)
        finally:
            self._quiet = False
        guided = settings.refine == "guided"
        self.feather.setEnabled(settings.refine != "none")
        self.radius.setEnabled(guided)
        self.eps.setEnabled(guided)
        self.message.hide()

    def propose(self, name: str, value: Any) -> bool:
        """Propose ``settings`` with field ``name`` = ``value``; False (message shown) when
        the settings refuse it."""
        if self._quiet or getattr(self.settings, name) == value:
            return False
        try:
            new = dataclasses.replace(self.settings, **{name: value})
        except HumanfxError as err:
            self.message.setText(str(err))
            self.message.show()
            return False
        self.matte_edited.emit(new, f"Matte {LABELS[name]}", ("matte", name))
        return True


__all__ = ["MattePanel"]
