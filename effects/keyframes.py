"""Keyframed parameter values: any numeric effect parameter animated over clip time.

A :class:`Keyframes` value can stand in for a numeric parameter (a number, or a tuple of numbers
such as a colour) of any effect; :meth:`effects.model.Effect.at` replaces it by its value at a
clip time.  Times are exact :class:`fractions.Fraction` seconds from the first frame of the clip
(``int`` and ``"num/den"`` strings are accepted and converted; ``float`` is refused, so that a
keyframe set on frame 7 of a 30000/1001 fps clip is hit exactly).

Interpolation, between keyframe ``k`` (time ``t0``, value ``v0``) and ``k + 1`` (``t1``,
``v1``), uses the easing of keyframe ``k``::

    u = (t - t0) / (t1 - t0)                    # in [0, 1], exact
    value = v0 + (v1 - v0) * ease(u)

with ``ease`` one of (:data:`EASINGS`)

    linear       u
    ease_in      u^2
    ease_out     u (2 - u)
    ease_in_out  u^2 (3 - 2u)     (smoothstep: zero slope at both keys)
    hold         0                (a step: v0 until t1)

Before the first keyframe the value is the first value; after the last, the last.  With integer
or Fraction values the result is an exact Fraction; with float values it is a float.  Tuples
(e.g. colours) are interpolated component-wise.
"""

from __future__ import annotations

import itertools
import numbers
from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

from inference.errors import InputError

Easing = Literal["linear", "ease_in", "ease_out", "ease_in_out", "hold"]
#: The easing curves, in the order a UI should list them.
EASINGS: tuple[str, ...] = ("linear", "ease_in", "ease_out", "ease_in_out", "hold")

Number = int | float | Fraction
Value = Number | tuple[Number, ...]


def to_time(t: object) -> Fraction:
    """An exact clip time: Fraction, int or ``"num/den"`` string; :class:`InputError` otherwise."""
    if isinstance(t, bool):
        raise InputError(f"keyframe time must be a Fraction, got {t!r}")
    if isinstance(t, Fraction):
        return t
    if isinstance(t, numbers.Integral):
        return Fraction(int(t))
    if isinstance(t, str):
        try:
            return Fraction(t)
        except (ValueError, ZeroDivisionError):
            pass
    raise InputError(
        f"keyframe time must be exact (a Fraction, an int or a 'num/den' string), got {t!r}",
        hint="write e.g. Fraction(7, 30) instead of 0.2333",
    )


def ease(easing: str, u: Fraction | float) -> Fraction | float:
    """The easing curve ``easing`` at ``u`` in [0, 1] (exact for a Fraction ``u``)."""
    if easing == "linear":
        return u
    if easing == "ease_in":
        return u * u
    if easing == "ease_out":
        return u * (2 - u)
    if easing == "ease_in_out":
        return u * u * (3 - 2 * u)
    if easing == "hold":
        return 0 * u
    raise InputError(f"unknown easing {easing!r}; use one of: {', '.join(EASINGS)}")


def _is_number(v: object) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool)


def _check_value(v: object) -> Value:
    if _is_number(v):
        return v  # type: ignore[return-value]
    if isinstance(v, (tuple, list)) and v and all(_is_number(c) for c in v):
        return tuple(v)
    raise InputError(f"keyframe value must be a number or a tuple of numbers, got {v!r}")


@dataclass(frozen=True)
class Keyframe:
    """One key: ``value`` at clip time ``time``; ``easing`` shapes the segment to the next key."""

    time: Fraction
    value: Value
    easing: Easing = "linear"

    def __post_init__(self) -> None:
        object.__setattr__(self, "time", to_time(self.time))
        object.__setattr__(self, "value", _check_value(self.value))
        if self.easing not in EASINGS:
            raise InputError(f"unknown easing {self.easing!r}; use one of: {', '.join(EASINGS)}")


def _lerp(v0: Value, v1: Value, e: Fraction | float) -> Value:
    if isinstance(v0, tuple):
        assert isinstance(v1, tuple)
        return tuple(a + (b - a) * e for a, b in zip(v0, v1, strict=True))
    return v0 + (v1 - v0) * e  # type: ignore[operator]


@dataclass(frozen=True)
class Keyframes:
    """An animated value: keys sorted by time (distinct times, at least one key).

    Build with ``Keyframes([(t, v), (t, v, "ease_in"), ...])`` or
    ``Keyframes([Keyframe(t, v), ...])``.  All values have the same shape (all numbers, or all
    tuples of one length).  Immutable and hashable, like the effects that hold it.
    """

    keys: tuple[Keyframe, ...]

    def __init__(self, keys: Iterable[Keyframe | tuple]):
        items = []
        for k in keys:
            if isinstance(k, Keyframe):
                items.append(k)
            elif isinstance(k, (tuple, list)) and len(k) in (2, 3):
                items.append(Keyframe(*k))
            else:
                raise InputError(f"a keyframe is (time, value[, easing]), got {k!r}")
        if not items:
            raise InputError("keyframes need at least one key")
        items.sort(key=lambda k: k.time)
        for a, b in itertools.pairwise(items):
            if a.time == b.time:
                raise InputError(f"two keyframes at the same time {a.time}")
        shapes = {len(k.value) if isinstance(k.value, tuple) else 0 for k in items}
        if len(shapes) != 1:
            raise InputError("keyframe values must all be numbers or all tuples of one length")
        object.__setattr__(self, "keys", tuple(items))

    @property
    def start(self) -> Fraction:
        return self.keys[0].time

    @property
    def end(self) -> Fraction:
        return self.keys[-1].time

    def values(self) -> list[Value]:
        """Every key's value (for range checks)."""
        return [k.value for k in self.keys]

    def value_at(self, time: Fraction | int | str) -> Value:
        """The value at clip ``time`` (exact seconds), see the module docstring."""
        t = to_time(time)
        keys = self.keys
        if t <= keys[0].time:
            return keys[0].value
        if t >= keys[-1].time:
            return keys[-1].value
        # Keys are few (a handful per parameter): a linear scan is the simplest and fastest.
        for k0, k1 in itertools.pairwise(keys):
            if k0.time <= t < k1.time:
                u = (t - k0.time) / (k1.time - k0.time)
                return _lerp(k0.value, k1.value, ease(k0.easing, u))
        raise AssertionError("unreachable")  # pragma: no cover

    def to_json(self) -> dict:
        """``{"keyframes": [{"time": "num/den", "value": v, "easing": e}, ...]}``."""

        def enc(v: Number) -> object:
            return f"{v.numerator}/{v.denominator}" if isinstance(v, Fraction) else v

        return {
            "keyframes": [
                {
                    "time": f"{k.time.numerator}/{k.time.denominator}",
                    "value": [enc(c) for c in k.value]
                    if isinstance(k.value, tuple)
                    else enc(k.value),
                    "easing": k.easing,
                }
                for k in self.keys
            ]
        }

    @classmethod
    def from_json(cls, data: dict) -> Keyframes:
        """Inverse of :meth:`to_json`; :class:`InputError` on a malformed value."""
        try:
            raw = data["keyframes"]

            def dec(v: object) -> object:
                return Fraction(v) if isinstance(v, str) else v

            return cls(
                Keyframe(
                    k["time"],
                    tuple(dec(c) for c in k["value"])
                    if isinstance(k["value"], list)
                    else dec(k["value"]),
                    k.get("easing", "linear"),
                )
                for k in raw
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"malformed keyframes {data!r}: {exc}") from None
