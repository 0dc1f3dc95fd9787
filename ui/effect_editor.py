"""The controls of one effect: a generated form, keyframe toggles and inline errors.

:class:`EffectEditor` shows one :class:`~effects.model.Effect` as a form of
:mod:`ui.param_widgets` editors, one per parameter.  A value the user enters is applied with
:meth:`Effect.replace <effects.model.Effect.replace>`; when the effect refuses it
(:class:`~inference.errors.InputError`), the message is shown under the parameter and the
effect is unchanged -- invalid values never leave the editor.

Keyframes: every animatable parameter (numbers and tuples of numbers) has a diamond button.
At the playhead time ``t`` (exact clip seconds, :class:`fractions.Fraction`, as the timeline
gives it) it sets a key with the value shown (◇ -> ◆) or removes the key at ``t`` (◆ -> ◇);
removing the last key makes the parameter a plain value again.  Editing an animated
parameter sets (or replaces) the key at ``t``.  Keys keep their easing; new ones are linear.
"""

from __future__ import annotations

import html
import logging
from fractions import Fraction
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QFormLayout, QHBoxLayout, QLabel, QToolButton, QWidget

from effects.keyframes import Keyframe, Keyframes, to_time
from effects.model import Effect, OverlayEffect, PersonModifier
from inference.errors import HumanfxError
from ui.param_widgets import ParamWidget, make_param_widget

log = logging.getLogger(__name__)

KEY_ON, KEY_OFF = "◆", "◇"


def key_at(kf: Keyframes, time: Fraction) -> Keyframe | None:
    """The key of ``kf`` exactly at ``time``, or None."""
    return next((k for k in kf.keys if k.time == time), None)


def set_key(current: Any, time: Fraction, value: Any) -> Keyframes:
    """``current`` (a plain value or :class:`Keyframes`) with a key ``value`` at ``time``
    (replacing a key there, keeping its easing; a plain value becomes one key)."""
    t = to_time(time)
    if not isinstance(current, Keyframes):
        return Keyframes([Keyframe(t, value)])
    old = key_at(current, t)
    keys = [k for k in current.keys if k.time != t]
    keys.append(Keyframe(t, value, old.easing if old is not None else "linear"))
    return Keyframes(keys)


def remove_key(effect: Effect, name: str, time: Fraction) -> Any:
    """Parameter ``name`` of ``effect`` without its key at ``time``: the remaining keys, or
    (no key left) the plain value it had at ``time``."""
    kf = getattr(effect, name)
    assert isinstance(kf, Keyframes)
    keys = [k for k in kf.keys if k.time != time]
    return Keyframes(keys) if keys else getattr(effect.at(time), name)


def effect_kind(effect: type[Effect]) -> str:
    """A short description of what kind of effect ``effect`` is."""
    if issubclass(effect, PersonModifier):
        return "recolours the person"
    if issubclass(effect, OverlayEffect):
        return "drawn over the picture"
    return "effect"


class EffectEditor(QWidget):
    """Edits one effect at a time.  :attr:`changed` carries ``(new_effect, parameter,
    mergeable)`` after each accepted edit (``mergeable``: a value edit that may be merged
    with the previous one of the same parameter into one undo step; False for keyframe
    toggles).  Public: :attr:`effect`, :attr:`time`, :attr:`widgets`, :attr:`key_buttons`,
    :meth:`error_text`."""

    changed = Signal(object, str, bool)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.effect: Effect | None = None
        self.time = Fraction(0)
        self.widgets: dict[str, ParamWidget] = {}
        self.key_buttons: dict[str, QToolButton] = {}
        self.errors: dict[str, QLabel] = {}
        self._emitted: Effect | None = None
        self.form = QFormLayout(self)
        self.title = QLabel("No effect selected")
        self.title.setWordWrap(True)
        self.form.addRow(self.title)

    # -- showing --------------------------------------------------------------------------------
    def set_effect(self, effect: Effect | None, time: Fraction | None = None,
                   *, rebuild: bool = False) -> None:
        """Show ``effect`` at playhead ``time``; the form is rebuilt when the effect's class
        changes (or ``rebuild``), otherwise only the values are updated."""
        if time is not None:
            self.time = to_time(time)
        own = effect is not None and effect == self._emitted
        if rebuild or effect is None or self.effect is None or type(effect) is not type(
                self.effect):
            self.effect = effect
            self._build()
        else:
            self.effect = effect
        self._refresh(keep_errors=own)

    def set_time(self, time: Fraction) -> None:
        """Move the playhead: animated parameters show their value at ``time``."""
        self.time = to_time(time)
        self._refresh(keep_errors=True)

    def error_text(self, name: str) -> str:
        """The inline error under parameter ``name`` ("" when none is shown)."""
        label = self.errors.get(name)
        return label.text() if label is not None and not label.isHidden() else ""

    def _build(self) -> None:
        while self.form.rowCount() > 1:
            self.form.removeRow(1)
        self.widgets.clear()
        self.key_buttons.clear()
        self.errors.clear()
        e = self.effect
        if e is None:
            self.title.setText("No effect selected")
            return
        cls = type(e)
        doc = (cls.__doc__ or "").strip().split("\n")[0]
        self.title.setText(f"<b>{html.escape(cls.label())}</b> — {effect_kind(cls)}<br>"
                           f"{html.escape(doc)}")
        concrete = e.at(self.time)
        for name, p in cls.params().items():
            widget = make_param_widget(name, p, getattr(concrete, name))
            widget.edited.connect(lambda v, n=name: self.propose(n, v))
            row = QWidget()
            lay = QHBoxLayout(row)
            lay.setContentsMargins(0, 0, 0, 0)
            lay.addWidget(widget, 1)
            if p.animatable:
                b = QToolButton()
                b.setCheckable(True)
                b.setAutoRaise(True)
                b.clicked.connect(lambda _=False, n=name: self.toggle_key(n))
                lay.addWidget(b)
                self.key_buttons[name] = b
            label = name.replace("_", " ") + (" *" if p.required else "")
            self.form.addRow(label, row)
            err = QLabel()
            err.setStyleSheet("color: #d04040")
            err.setWordWrap(True)
            err.hide()
            self.form.addRow(err)
            self.errors[name] = err
            self.widgets[name] = widget

    def _refresh(self, keep_errors: bool = False) -> None:
        e = self.effect
        if e is None:
            return
        concrete = e.at(self.time)
        for name, w in self.widgets.items():
            if keep_errors and not self.errors[name].isHidden():
                continue  # keep the user's refused input (and its message) until they fix it
            self._clear_error(name)
            w.set_value(getattr(concrete, name))
        self._refresh_keys()

    def _refresh_keys(self) -> None:
        e = self.effect
        for name, b in self.key_buttons.items():
            v = getattr(e, name)
            animated = isinstance(v, Keyframes)
            on = animated and key_at(v, self.time) is not None
            b.setChecked(on)
            b.setText(KEY_ON if on else KEY_OFF)
            b.setToolTip(f"{name}: key at {self.time} s — click to remove" if on else
                         f"{name}: animated (no key here) — click to add a key" if animated
                         else f"{name}: click to set a key here and animate it")
            b.setStyleSheet("color: #e0a020" if animated else "")

    # -- editing --------------------------------------------------------------------------------
    def propose(self, name: str, value: Any) -> bool:
        """Apply ``value`` (a concrete value) to parameter ``name`` at the playhead: True when
        the effect accepted it, else the refusal is shown under the parameter."""
        e = self.effect
        if e is None:
            return False
        current = getattr(e, name)
        try:
            new_value = set_key(current, self.time, value) if isinstance(current, Keyframes) \
                else value
            new = e.replace(**{name: new_value})
        except HumanfxError as err:
            self._show_error(name, str(err))
            return False
        self._clear_error(name)
        self._commit(new, name, True)
        return True

    def toggle_key(self, name: str) -> bool:
        """The diamond of ``name``: set a key at the playhead, or remove the one there."""
        e = self.effect
        if e is None or name not in self.key_buttons:
            return False
        current = getattr(e, name)
        try:
            if isinstance(current, Keyframes) and key_at(current, self.time) is not None:
                new = e.replace(**{name: remove_key(e, name, self.time)})
            else:
                new = e.replace(**{name: set_key(current, self.time,
                                                 getattr(e.at(self.time), name))})
        except HumanfxError as err:
            self._show_error(name, str(err))
            self._refresh_keys()
            return False
        self._commit(new, name, False)
        return True

    def _commit(self, new: Effect, name: str, mergeable: bool) -> None:
        if new == self.effect:
            self._refresh_keys()
            return
        self.effect = self._emitted = new
        self._refresh_keys()
        self.changed.emit(new, name, mergeable)

    def _show_error(self, name: str, message: str) -> None:
        log.info("refused: %s", message)
        label = self.errors[name]
        label.setText(message)
        label.show()

    def _clear_error(self, name: str) -> None:
        label = self.errors.get(name)
        if label is not None:
            label.clear()
            label.hide()


__all__ = ["EffectEditor", "effect_kind", "key_at", "remove_key", "set_key"]
