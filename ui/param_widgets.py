"""Editor widgets for effect parameters, built generically from their metadata.

:func:`make_param_widget` turns one :class:`~effects.model.Param` (type, range, unit, UI hint,
choices) into a :class:`ParamWidget`, so the app edits any effect -- built-in or plugin --
without knowing it:

============================  ===========================================================
parameter                     widget
============================  ===========================================================
``int`` / ``float``           spin box (range from ``min``/``max``, unit as suffix), plus a
                              slider when the hint is ``slider`` and both bounds are set
``bool``                      check box
``str`` with ``choices``      combo box
``str``, hint ``joints``      combo box of the 17 COCO joints
``str``                       line edit (committed on Enter / focus out)
``Path``                      line edit + *Browse…*
``tuple``, hint ``color``     colour button (RGB(A) in ``min``..``max``, 0..255 by default)
``tuple``, hint ``joints``    menu of COCO joints; the order they are ticked in is kept
``tuple`` of numbers          one spin box per item
``tuple`` of other strings    line edit of comma-separated names
============================  ===========================================================

A widget only *proposes* values (:attr:`ParamWidget.edited`); the effect validates them (see
:class:`~ui.effect_editor.EffectEditor`).  Spin boxes clamp to the parameter's range, so an
out-of-range number never leaves them.  :meth:`ParamWidget.set_value` shows a value without
emitting anything.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction, QColor
from PySide6.QtWidgets import (
    QCheckBox,
    QColorDialog,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMenu,
    QPushButton,
    QSlider,
    QSpinBox,
    QToolButton,
    QWidget,
)

from effects.model import Param
from inference.tracks.model import COCO_KEYPOINTS

#: Bounds used for a numeric parameter without ``min``/``max`` (Qt spin boxes need some).
UNBOUNDED = 1e9
_INT_LIMIT = 2**31 - 1
SLIDER_STEPS = 1000


class ParamWidget(QWidget):
    """Base of the parameter editors.  :attr:`edited` carries a proposed new value (a Python
    value of the parameter's type) each time the user changes it."""

    edited = Signal(object)

    def __init__(self, name: str, param: Param, parent: QWidget | None = None):
        super().__init__(parent)
        self.name = name
        self.param = param
        self._quiet = False
        self.setToolTip(param.doc)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.row = lay

    def value(self) -> Any:
        """The value the widget shows."""
        raise NotImplementedError

    def set_value(self, value: Any) -> None:
        """Show ``value`` without emitting :attr:`edited`."""
        self._quiet = True
        try:
            self._show(value)
        finally:
            self._quiet = False

    def _show(self, value: Any) -> None:
        raise NotImplementedError

    def _emit(self, *_: object) -> None:
        if not self._quiet:
            self.edited.emit(self.value())


def _decimals(p: Param) -> int:
    span = (p.max - p.min) if p.min is not None and p.max is not None else UNBOUNDED
    return 3 if span <= 10 else 2


def _bounds(p: Param, integer: bool) -> tuple[float, float]:
    lo = p.min if p.min is not None else -UNBOUNDED
    hi = p.max if p.max is not None else UNBOUNDED
    if integer:
        lo, hi = max(math.ceil(lo), -_INT_LIMIT), min(math.floor(hi), _INT_LIMIT)
    return lo, hi


def _spin(p: Param, integer: bool) -> QSpinBox | QDoubleSpinBox:
    """A spin box over ``p``'s range (clamping), unit as suffix, committed on Enter/arrows."""
    lo, hi = _bounds(p, integer)
    spin: QSpinBox | QDoubleSpinBox
    if integer:
        spin = QSpinBox()
        spin.setRange(int(lo), int(hi))
    else:
        spin = QDoubleSpinBox()
        spin.setDecimals(_decimals(p))
        spin.setRange(lo, hi)
        span = hi - lo if hi - lo < UNBOUNDED else 100.0
        spin.setSingleStep(10 ** math.floor(math.log10(max(span, 1e-6) / 100)))
    if p.unit:
        spin.setSuffix(f" {p.unit}")
    spin.setKeyboardTracking(False)
    spin.setAccelerated(True)
    return spin


class NumberWidget(ParamWidget):
    """``int``/``float``: :attr:`spin` (and :attr:`slider` with the ``slider`` hint)."""

    def __init__(self, name: str, param: Param, parent: QWidget | None = None):
        super().__init__(name, param, parent)
        self.integer = param.type is int
        self.spin = _spin(param, self.integer)
        self.slider: QSlider | None = None
        if param.ui == "slider" and param.min is not None and param.max is not None:
            self.slider = QSlider(Qt.Orientation.Horizontal)
            self.slider.setRange(0, SLIDER_STEPS)
            self.slider.valueChanged.connect(self._slid)
            self.row.addWidget(self.slider, 1)
        self.row.addWidget(self.spin)
        self.spin.valueChanged.connect(self._spun)

    def value(self) -> int | float:
        v = self.spin.value()
        return int(v) if self.integer else float(v)

    def _show(self, value: Any) -> None:
        self.spin.setValue(value)
        self._sync_slider()

    def _sync_slider(self) -> None:
        if self.slider is None:
            return
        lo, hi = self.spin.minimum(), self.spin.maximum()
        pos = round((self.spin.value() - lo) / (hi - lo) * SLIDER_STEPS) if hi > lo else 0
        self.slider.blockSignals(True)
        self.slider.setValue(pos)
        self.slider.blockSignals(False)

    def _slid(self, pos: int) -> None:
        lo, hi = self.spin.minimum(), self.spin.maximum()
        self.spin.setValue(lo + (hi - lo) * pos / SLIDER_STEPS)  # emits through _spun

    def _spun(self, *_: object) -> None:
        self._sync_slider()
        self._emit()


class BoolWidget(ParamWidget):
    """``bool``: :attr:`box`."""

    def __init__(self, name: str, param: Param, parent: QWidget | None = None):
        super().__init__(name, param, parent)
        self.box = QCheckBox()
        self.row.addWidget(self.box)
        self.box.toggled.connect(self._emit)

    def value(self) -> bool:
        return self.box.isChecked()

    def _show(self, value: Any) -> None:
        self.box.setChecked(bool(value))


class ChoiceWidget(ParamWidget):
    """A ``str`` from a list (``choices``, or the COCO joints): :attr:`combo`."""

    def __init__(self, name: str, param: Param, parent: QWidget | None = None):
        super().__init__(name, param, parent)
        self.combo = QComboBox()
        self.combo.addItems(list(param.choices or COCO_KEYPOINTS))
        self.row.addWidget(self.combo, 1)
        self.combo.currentTextChanged.connect(self._emit)

    def value(self) -> str:
        return self.combo.currentText()

    def _show(self, value: Any) -> None:
        if self.combo.findText(str(value)) < 0:
            self.combo.addItem(str(value))
        self.combo.setCurrentText(str(value))


class TextWidget(ParamWidget):
    """Free text (or comma-separated names for a tuple of strings): :attr:`edit`."""

    def __init__(self, name: str, param: Param, parent: QWidget | None = None):
        super().__init__(name, param, parent)
        self.edit = QLineEdit()
        self.row.addWidget(self.edit, 1)
        self._last = ""
        self.edit.editingFinished.connect(self._committed)

    def value(self) -> Any:
        text = self.edit.text()
        if self.param.type is tuple:
            return tuple(s.strip() for s in text.split(",") if s.strip())
        return text

    def _show(self, value: Any) -> None:
        text = ", ".join(value) if isinstance(value, tuple) else str(value)
        self.edit.setText(text)
        self._last = text

    def _committed(self) -> None:
        if self.edit.text() != self._last:
            self._last = self.edit.text()
            self._emit()


class PathWidget(TextWidget):
    """A file: :attr:`edit` and a *Browse…* button (:meth:`browse`)."""

    def __init__(self, name: str, param: Param, parent: QWidget | None = None):
        super().__init__(name, param, parent)
        self.button = QPushButton("Browse…")
        self.row.addWidget(self.button)
        self.button.clicked.connect(self.browse)

    def value(self) -> Path | str:
        text = self.edit.text().strip()
        return Path(text) if text else ""

    def browse(self) -> None:
        start = self.edit.text() or ""
        path, _ = QFileDialog.getOpenFileName(self, self.name, start)
        if path:
            self.choose(path)

    def choose(self, path: str | Path) -> None:
        """Set the file as if picked in the dialog (emits)."""
        self.edit.setText(str(path))
        self._committed()


class ColorWidget(ParamWidget):
    """An RGB(A) tuple: :attr:`button` opens a colour dialog; :meth:`choose` sets a colour."""

    def __init__(self, name: str, param: Param, parent: QWidget | None = None):
        super().__init__(name, param, parent)
        self.length = param.length or 3
        self.scale = (param.max if param.max is not None else 255.0) / 255.0
        self.button = QPushButton()
        self.row.addWidget(self.button, 1)
        self.color = QColor(0, 0, 0)
        self.button.clicked.connect(self.pick)

    def value(self) -> tuple[float, ...]:
        c = self.color
        rgba = (c.red(), c.green(), c.blue(), c.alpha())[: self.length]
        return tuple(float(v) * self.scale for v in rgba)

    def _show(self, value: Any) -> None:
        v = [min(max(round(float(x) / self.scale), 0), 255) for x in value]
        self.color = QColor(*v[:4]) if len(v) >= 3 else QColor(0, 0, 0)
        name = self.color.name()
        self.button.setText(name)
        self.button.setStyleSheet(f"background-color: {name}")

    def pick(self) -> None:
        if self.length == 4:
            c = QColorDialog.getColor(self.color, self, self.name,
                                      QColorDialog.ColorDialogOption.ShowAlphaChannel)
        else:
            c = QColorDialog.getColor(self.color, self, self.name)
        if c.isValid():
            self.choose(c)

    def choose(self, color: QColor | tuple[int, ...]) -> None:
        """Set the colour (0..255 channels) as if picked in the dialog (emits)."""
        c = color if isinstance(color, QColor) else QColor(*color)
        self._show((c.red(), c.green(), c.blue(), c.alpha())[: self.length])
        self._emit()


class VectorWidget(ParamWidget):
    """A tuple of numbers: one spin box per item (:attr:`spins`)."""

    def __init__(self, name: str, param: Param, length: int, parent: QWidget | None = None):
        super().__init__(name, param, parent)
        integer = param.item is int
        self.spins = [_spin(param, integer) for _ in range(length)]
        for s in self.spins:
            self.row.addWidget(s)
            s.valueChanged.connect(self._emit)

    def value(self) -> tuple[float, ...]:
        return tuple(s.value() for s in self.spins)

    def _show(self, value: Any) -> None:
        for s, v in zip(self.spins, value, strict=False):
            s.setValue(v)


class JointsWidget(ParamWidget):
    """A tuple of COCO joint names: :attr:`button` opens a menu of checkable joints
    (:attr:`joint_actions`); ticking appends a joint, unticking removes it (order is kept)."""

    def __init__(self, name: str, param: Param, parent: QWidget | None = None):
        super().__init__(name, param, parent)
        self.button = QToolButton()
        self.button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        self.menu = QMenu(self.button)
        self.joint_actions: dict[str, QAction] = {}
        for j in COCO_KEYPOINTS:
            a = QAction(j, self.menu, checkable=True)
            a.toggled.connect(lambda on, j=j: self._toggled(j, on))
            self.menu.addAction(a)
            self.joint_actions[j] = a
        self.button.setMenu(self.menu)
        self.row.addWidget(self.button, 1)
        self._order: list[str] = []

    def value(self) -> tuple[str, ...]:
        return tuple(self._order)

    def _show(self, value: Any) -> None:
        self._order = [str(j) for j in value]
        for j, a in self.joint_actions.items():
            a.setChecked(j in self._order)
        self.button.setText(", ".join(self._order) or "(none)")

    def _toggled(self, joint: str, on: bool) -> None:
        if self._quiet:
            return
        if on and joint not in self._order:
            self._order.append(joint)
        elif not on and joint in self._order:
            self._order.remove(joint)
        self.button.setText(", ".join(self._order) or "(none)")
        self._emit()


class UnsupportedWidget(ParamWidget):
    """A parameter type the app has no editor for: its value, read-only."""

    def __init__(self, name: str, param: Param, parent: QWidget | None = None):
        super().__init__(name, param, parent)
        self.label = QLabel()
        self.row.addWidget(self.label, 1)
        self._value: Any = None

    def value(self) -> Any:
        return self._value

    def _show(self, value: Any) -> None:
        self._value = value
        self.label.setText(repr(value))


def make_param_widget(name: str, param: Param, value: Any = None,
                      parent: QWidget | None = None) -> ParamWidget:
    """The editor for parameter ``name`` described by ``param``, showing ``value`` (a
    concrete value, not keyframes; ``None``: the default, or nothing for a required one)."""
    p = param
    if p.type in (int, float):
        w: ParamWidget = NumberWidget(name, p, parent)
    elif p.type is bool:
        w = BoolWidget(name, p, parent)
    elif p.type is str and (p.choices or p.ui == "joints"):
        w = ChoiceWidget(name, p, parent)
    elif p.type is str:
        w = TextWidget(name, p, parent)
    elif p.type is Path:
        w = PathWidget(name, p, parent)
    elif p.type is tuple and p.ui == "color" and p.item in (int, float):
        w = ColorWidget(name, p, parent)
    elif p.type is tuple and p.item is str and p.ui == "joints":
        w = JointsWidget(name, p, parent)
    elif p.type is tuple and p.item is str:
        w = TextWidget(name, p, parent)
    elif p.type is tuple and p.item in (int, float):
        shown = value if value is not None else p.default
        length = p.length or (len(shown) if isinstance(shown, tuple) else 2)
        w = VectorWidget(name, p, length, parent)
    else:
        w = UnsupportedWidget(name, p, parent)
    if value is None and not p.required:
        value = p.default
    if value is not None:
        w.set_value(value)
    return w


__all__ = [
    "BoolWidget", "ChoiceWidget", "ColorWidget", "JointsWidget", "NumberWidget", "ParamWidget",
    "PathWidget", "TextWidget", "UnsupportedWidget", "VectorWidget", "make_param_widget",
]  # fmt: skip
