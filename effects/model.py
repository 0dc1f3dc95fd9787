"""The effect model: immutable, typed effects whose parameters describe themselves.

An effect is a frozen, keyword-only dataclass.  Every field is a parameter whose metadata,
made by :func:`describe`, declares its range, unit, UI hint and doc; with the field's default
and type that makes a :class:`Param`, so an app can build a control for each parameter of any
effect -- built-in or plugin -- without knowing it::

    @dataclass(frozen=True, kw_only=True)
    class Orb(OverlayEffect):
        effect_name: ClassVar[str] = "orb"
        radius: float | Keyframes = field(
            default=12.0, metadata=describe(min=0.5, max=500, unit="px", doc="...")
        )

    for name, p in Orb.params().items(): ...      # build controls
    orb = Orb(radius=20).replace(radius=30)      # edits make new values

Construction validates every parameter (type, range, choices; :class:`InputError` naming the
effect and the parameter) and then calls the effect's own :meth:`Effect.validate`.  Rendering
never mutates an effect; per-frame GL state lives in the renderer's
:class:`~effects.gl.RenderResources`.  A numeric parameter may hold
:class:`~effects.keyframes.Keyframes` instead of a value; :meth:`Effect.at` gives the effect with
concrete values at a clip time.

Two kinds of effects exist (see :mod:`effects.stack` for how they are layered):

* :class:`OverlayEffect` draws premultiplied RGBA over the canvas, either *behind* the persons
  (so the person's mask hides it) or *in front* of everything (``layer`` parameter).
* :class:`PersonModifier` rewrites the colour of its person's pixels (a grade), at the person's
  place in the depth order.

The GL-side context the effects draw with, :class:`FxContext`, and :class:`PersonState` are
defined in :mod:`effects.drawing` and importable from here too.
"""

from __future__ import annotations

import abc
import dataclasses
import functools
import math
import numbers
from dataclasses import MISSING, dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Self

import moderngl
import numpy as np

# Geometry, quad and rgb01 are re-exported: they lived here before effects.drawing was split off.
from effects.drawing import FxContext, Geometry, PersonState, quad, rgb01  # noqa: F401
from effects.keyframes import Keyframes
from inference.errors import InputError

if TYPE_CHECKING:
    from effects.gl import RenderTarget

#: Key of the :class:`Param` in a dataclass field's metadata.
PARAM_KEY = "humanfx.param"

#: UI hints an app is expected to understand (anything else: fall back on the type).
UI_HINTS = ("slider", "spin", "checkbox", "combo", "text", "file", "color", "joints", "vector")

LAYERS = ("behind", "front")


@dataclass(frozen=True)
class Param:
    """What an app needs to build a control for one effect parameter.

    ``type``: the concrete value type -- ``float``, ``int``, ``bool``, ``str``, ``Path`` or
    ``tuple`` (then ``item`` is the type of its items, ``float`` or ``str``, and ``length`` their
    exact number, ``None`` for any number).  ``min``/``max`` bound numbers (and each item of a
    numeric tuple), inclusive.  ``choices`` lists the allowed strings of a ``str`` parameter.
    ``unit`` is for display (``"px"``, ``"frames"``, ``"deg"``, ...).  ``ui`` is a hint from
    :data:`UI_HINTS`.  ``default`` is :data:`dataclasses.MISSING` for a required parameter.
    """

    type: type
    default: Any = MISSING
    min: float | None = None
    max: float | None = None
    unit: str = ""
    ui: str = ""
    doc: str = ""
    choices: tuple[str, ...] = ()
    length: int | None = None
    item: type | None = None

    @property
    def required(self) -> bool:
        return self.default is MISSING

    @property
    def animatable(self) -> bool:
        """Whether :class:`~effects.keyframes.Keyframes` may stand in for the value."""
        return self.type in (int, float) or (self.type is tuple and self.item in (int, float))


def describe(
    *,
    type: type | None = None,
    min: float | None = None,
    max: float | None = None,
    unit: str = "",
    ui: str = "",
    doc: str = "",
    choices: tuple[str, ...] = (),
    length: int | None = None,
    item: type | None = None,
) -> dict[str, Any]:
    """Field metadata that declares an effect parameter::

        radius: float | Keyframes = field(default=16.0, metadata=describe(min=1, max=500))

    ``type`` defaults to the type of the field's default (required for a field without one);
    ``ui`` to a hint derived from the type; see :class:`Param` for the rest.
    """
    spec = {"type": type, "min": min, "max": max, "unit": unit, "ui": ui, "doc": doc,
            "choices": tuple(choices), "length": length, "item": item}  # fmt: skip
    return {PARAM_KEY: spec}


def _make_param(f: dataclasses.Field, owner: str) -> Param:
    """The :class:`Param` of an effect field: its :func:`describe` spec plus its default."""
    spec = dict(f.metadata[PARAM_KEY])
    default = f.default
    kind = spec.pop("type")
    if kind is None:
        if default is MISSING:
            raise TypeError(f"{owner}.{f.name} has no default: declare describe(type=...)")
        kind = {bool: bool, int: int, float: float, str: str}.get(default.__class__)
        if kind is None:
            kind = (
                Path if isinstance(default, Path) else tuple if isinstance(default, tuple) else None
            )
        if kind is None:
            raise TypeError(f"{owner}.{f.name}: cannot infer a type from {default!r}")
    if kind is tuple and spec["item"] is None:
        spec["item"] = str if default and isinstance(default[0], str) else float
    if not spec["ui"]:
        if kind is bool:
            spec["ui"] = "checkbox"
        elif kind is str:
            spec["ui"] = "combo" if spec["choices"] else "text"
        elif kind is Path:
            spec["ui"] = "file"
        elif kind is tuple:
            spec["ui"] = "vector"
        else:
            bounded = spec["min"] is not None and spec["max"] is not None
            spec["ui"] = "slider" if bounded else "spin"
    return Param(type=kind, default=default, **spec)


@functools.cache
def _params_of(cls: type) -> dict[str, Param]:
    return {
        f.name: _make_param(f, cls.__name__)
        for f in dataclasses.fields(cls)
        if PARAM_KEY in f.metadata
    }


def _range_text(p: Param) -> str:
    if p.min is not None and p.max is not None:
        return f"[{p.min:g}, {p.max:g}]" + (f" {p.unit}" if p.unit else "")
    if p.min is not None:
        return f">= {p.min:g}" + (f" {p.unit}" if p.unit else "")
    return f"<= {p.max:g}" + (f" {p.unit}" if p.unit else "")


@dataclass(frozen=True, kw_only=True)
class Effect(abc.ABC):
    """Base of every effect: a frozen dataclass of fields declared with :func:`describe`.

    Class attributes a subclass sets: ``effect_name`` (its registry name, used in messages and
    in :meth:`to_dict`) and optionally ``shader_dir`` (a folder of ``.glsl`` programs it ships,
    added to the renderer's :class:`~effects.shaders.ShaderLibrary` search path).
    """

    effect_name: ClassVar[str] = ""
    shader_dir: ClassVar[Path | None] = None

    def __post_init__(self) -> None:
        for name, p in self.params().items():
            value = getattr(self, name)
            if isinstance(value, Keyframes):
                if not p.animatable:
                    raise self._error(name, "cannot be keyframed (it is not numeric)")
                for v in value.values():
                    self._coerce(name, p, v)
            else:
                object.__setattr__(self, name, self._coerce(name, p, value))
        self.validate()

    # -- parameters ------------------------------------------------------------------------

    @classmethod
    def params(cls) -> dict[str, Param]:
        """Parameter name -> :class:`Param`, in declaration order (a new dict each call)."""
        return dict(_params_of(cls))

    @classmethod
    def label(cls) -> str:
        """The name used in messages: ``effect_name``, or the class name."""
        return cls.effect_name or cls.__name__

    def _error(self, name: str, why: str) -> InputError:
        return InputError(f"effect {self.label()}: parameter {name} {why}")

    def _coerce(self, name: str, p: Param, value: Any) -> Any:
        """``value`` checked against ``p`` and converted to ``p.type``; :class:`InputError`."""
        if p.type is bool:
            if not isinstance(value, (bool, np.bool_)):
                raise self._error(name, f"must be true or false, got {value!r}")
            return bool(value)
        if p.type in (int, float):
            return self._number(name, p, value, p.type)
        if p.type is str:
            if not isinstance(value, str):
                raise self._error(name, f"must be text, got {value!r}")
            if p.choices and value not in p.choices:
                raise self._error(name, f"is {value!r}; use one of: {', '.join(p.choices)}")
            return value
        if p.type is Path:
            if not isinstance(value, (str, Path)) or not str(value):
                raise self._error(name, f"must be a file path, got {value!r}")
            return Path(value)
        if p.type is tuple:
            if isinstance(value, str) and p.item is str:
                value = tuple(s.strip() for s in value.split(",") if s.strip())
            if not isinstance(value, (tuple, list, np.ndarray)):
                raise self._error(name, f"must be a sequence, got {value!r}")
            if p.length is not None and len(value) != p.length:
                raise self._error(name, f"must have {p.length} items, got {len(value)}")
            if p.item is str:
                if not all(isinstance(v, str) for v in value):
                    raise self._error(name, f"must be a sequence of names, got {value!r}")
                return tuple(value)
            return tuple(self._number(name, p, v, p.item or float) for v in value)
        raise TypeError(f"unsupported parameter type {p.type!r} for {self.label()}.{name}")

    def _number(self, name: str, p: Param, value: Any, kind: type) -> int | float:
        if not isinstance(value, numbers.Real) or isinstance(value, (bool, np.bool_)):
            raise self._error(name, f"must be a number, got {value!r}")
        if kind is int:
            if isinstance(value, numbers.Integral):
                v: int | float = int(value)
            elif float(value).is_integer():
                v = int(value)
            else:
                raise self._error(name, f"must be a whole number, got {value!r}")
        else:
            v = float(value)
            if not math.isfinite(v):
                raise self._error(name, f"must be finite, got {value!r}")
        if (p.min is not None and v < p.min) or (p.max is not None and v > p.max):
            raise self._error(name, f"= {value!r} is out of range {_range_text(p)}")
        return v

    def validate(self) -> None:
        """Checks beyond each parameter's own range (override; raise :class:`InputError`)."""

    # -- values ----------------------------------------------------------------------------

    def replace(self, **changes: Any) -> Self:
        """A copy with ``changes`` applied and validated; unknown names -> :class:`InputError`."""
        known = self.params()
        for name in changes:
            if name not in known:
                raise InputError(
                    f"effect {self.label()} has no parameter {name!r}; "
                    f"its parameters are: {', '.join(known)}"
                )
        return dataclasses.replace(self, **changes)

    @property
    def animated(self) -> bool:
        """Whether any parameter holds keyframes."""
        return any(isinstance(getattr(self, n), Keyframes) for n in self.params())

    def at(self, time: Fraction) -> Self:
        """This effect with every keyframed parameter replaced by its value at clip ``time``.

        Values are converted to the parameter's type (``int`` rounds half up).  Returns
        ``self`` when nothing is keyframed.
        """
        changes: dict[str, Any] = {}
        for name, p in self.params().items():
            value = getattr(self, name)
            if isinstance(value, Keyframes):
                v = value.value_at(time)
                if p.type is int:
                    v = math.floor(Fraction(v) + Fraction(1, 2))
                elif p.type is float:
                    v = float(v)
                else:
                    v = tuple(
                        math.floor(Fraction(c) + Fraction(1, 2)) if p.item is int else float(c)
                        for c in v  # type: ignore[union-attr]
                    )
                changes[name] = v
        return dataclasses.replace(self, **changes) if changes else self

    def lookback(self) -> int:
        """How many past frames of pose history the effect reads (0: only the current one)."""
        return 0

    def to_dict(self) -> dict[str, Any]:
        """``{"effect": name, "params": {...}}`` of JSON values (Paths as strings, tuples as
        lists, keyframes as :meth:`Keyframes.to_json`); the registry's ``from_dict`` inverts it."""
        out: dict[str, Any] = {}
        for name in self.params():
            v = getattr(self, name)
            if isinstance(v, Keyframes):
                out[name] = v.to_json()
            elif isinstance(v, Path):
                out[name] = str(v)
            elif isinstance(v, tuple):
                out[name] = list(v)
            else:
                out[name] = v
        return {"effect": self.label(), "params": out}


@dataclass(frozen=True, kw_only=True)
class OverlayEffect(Effect):
    """An effect drawn over the canvas: behind the persons or in front of everything.

    :meth:`draw` is called once per frame for each person the effect is attached to, with the
    canvas bound and premultiplied-alpha "over" blending set up by ``fx``'s draw helpers.
    """

    layer: str = field(
        default="front",
        metadata=describe(
            choices=LAYERS,
            doc="behind: hidden where a person's mask covers it; front: over everything",
        ),
    )

    @abc.abstractmethod
    def draw(self, fx: FxContext, person: PersonState) -> None:
        """Draw this frame's contribution for ``person`` onto ``fx``'s canvas."""


@dataclass(frozen=True, kw_only=True)
class PersonModifier(Effect):
    """An effect that rewrites the colour of its person's own pixels (inside the mask).

    :meth:`modify` renders, with blending off, into ``dst`` -- a float target the size of
    ``person.box`` = ``(x0, y0, x1, y1)`` -- the new colour of each pixel: destination pixel
    ``(i, j)`` is image pixel ``(x0 + i, y0 + j)``, whose current colour is texel
    ``(x0 + i - src_offset[0], y0 + j - src_offset[1])`` of ``src``.
    """

    @abc.abstractmethod
    def modify(
        self,
        fx: FxContext,
        person: PersonState,
        src: moderngl.Texture,
        src_offset: tuple[int, int],
        dst: RenderTarget,
    ) -> None:
        """Write the modified colours of ``person``'s box into ``dst``."""
