"""Matte settings: one person's matte controls, and a person's partial override of them.

:class:`MatteSettings` is every control :class:`effects.refine.MatteRefiner` applies to a
person's (H, W) matte in frame pixels -- expand/choke, feather, guided filter and temporal
stabilisation -- as a project stores it (``$.matte``, ``docs/project-format.md``).

:class:`MatteOverride` is some of those controls for one person (``$.person_mattes["<id>"]``):
the keys it names replace the default (everyone's) settings for that person, the others are
inherited, so changing everyone's matte later still changes what a person did not override.
:meth:`MatteOverride.resolve` gives the person's full :class:`MatteSettings`;
:func:`resolve_overrides` does so for every person, as :class:`effects.stack.PersonMattes`
takes them (track id -> settings).
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from effects.refine import REFINE_MODES, TEMPORAL_MODES, MatteRefiner, TemporalStabilizer
from inference.errors import InputError

#: Largest matte feather accepted (pixels, Gaussian sigma).
MAX_FEATHER_PX = 100.0
#: Largest matte expand/choke accepted (pixels, either way).
MAX_EXPAND_PX = 100.0
#: Largest guided-filter radius accepted (pixels).
MAX_GUIDED_RADIUS = 200
#: Accepted guided-filter epsilon range (guide in 0..1, squared units).
GUIDED_EPS_RANGE = (1e-8, 1.0)
#: The fields of :class:`MatteSettings` (and the keys of ``$.matte``), in file order.
MATTE_KEYS = ("refine", "feather_px", "expand_px", "guided_radius", "guided_eps", "temporal")


@dataclass(frozen=True)
class MatteSettings:
    """How person mattes are refined (see :class:`effects.refine.MatteRefiner`).

    ``refine``: ``none|feather|guided``; ``feather_px``: Gaussian sigma (0..100, used by
    ``feather`` and ``guided``); ``expand_px``: grow (> 0) or choke (< 0), -100..100 px;
    ``guided_radius`` (1..200 px) and ``guided_eps`` (1e-8..1): the guided filter's r and
    epsilon; ``temporal``: ``off|ema|median3`` stabilisation across frames.  Every value is
    checked on construction (:class:`~inference.errors.InputError` naming the field).
    """

    refine: str = "feather"
    feather_px: float = 1.5
    expand_px: float = 0.0
    guided_radius: int = 8
    guided_eps: float = 1e-3
    temporal: str = "off"

    def __post_init__(self) -> None:
        if self.refine not in REFINE_MODES:
            raise InputError(f"matte refine {self.refine!r}: use one of {', '.join(REFINE_MODES)}")
        for name, lo, hi in (("feather_px", 0.0, MAX_FEATHER_PX),
                             ("expand_px", -MAX_EXPAND_PX, MAX_EXPAND_PX),
                             ("guided_eps", *GUIDED_EPS_RANGE)):
            v = getattr(self, name)
            if (not isinstance(v, numbers.Real) or isinstance(v, bool)
                    or not math.isfinite(v) or not lo <= v <= hi):
                raise InputError(f"matte {name} {v!r}: use {lo:g}..{hi:g}")
        r = self.guided_radius
        if not isinstance(r, int) or isinstance(r, bool) or not 1 <= r <= MAX_GUIDED_RADIUS:
            raise InputError(f"matte guided_radius {r!r}: use a whole number "
                             f"1..{MAX_GUIDED_RADIUS}")
        if self.temporal not in TEMPORAL_MODES:
            raise InputError(f"matte temporal {self.temporal!r}: use one of "
                             f"{', '.join(TEMPORAL_MODES)}")

    def to_dict(self) -> dict[str, Any]:
        """``$.matte``: ``refine`` and ``feather_px`` always, the other keys when not default."""
        out: dict[str, Any] = {"refine": self.refine, "feather_px": self.feather_px}
        default = MatteSettings()
        for name in MATTE_KEYS[2:]:
            if getattr(self, name) != getattr(default, name):
                out[name] = getattr(self, name)
        return out


def _normalised(name: str, value: Any) -> Any:
    """``value`` of field ``name`` as :class:`MatteSettings` holds it from a file (floats for
    the float fields), so equal overrides compare equal and save the same."""
    if name in ("feather_px", "expand_px", "guided_eps") and isinstance(value, numbers.Real) \
            and not isinstance(value, bool):
        return float(value)
    return value


@dataclass(frozen=True, init=False)
class MatteOverride:
    """One person's own matte controls: some fields of :class:`MatteSettings` (``values``,
    ``(name, value)`` pairs in :data:`MATTE_KEYS` order); the rest come from the default.

    ``MatteOverride({"expand_px": 4})`` or ``MatteOverride(expand_px=4)``.  Unknown names and
    bad values raise :class:`~inference.errors.InputError` (the same ranges as
    :class:`MatteSettings`).  An empty override is allowed: the person has an entry of their
    own that inherits everything.
    """

    values: tuple[tuple[str, Any], ...]

    def __init__(self, values: Mapping[str, Any] | Iterable[tuple[str, Any]] = (), /,
                 **kw: Any):
        given = {**dict(values), **kw}
        unknown = sorted(set(given) - set(MATTE_KEYS))
        if unknown:
            raise InputError(f"matte override {unknown[0]!r}: not a matte setting "
                             f"(use {', '.join(MATTE_KEYS)})")
        clean = {k: _normalised(k, v) for k, v in given.items()}
        MatteSettings(**clean)  # every field is checked on its own (no cross-field rules)
        object.__setattr__(self, "values", tuple((k, clean[k]) for k in MATTE_KEYS if k in clean))

    def names(self) -> tuple[str, ...]:
        """The overridden field names, in :data:`MATTE_KEYS` order."""
        return tuple(k for k, _ in self.values)

    def to_dict(self) -> dict[str, Any]:
        """``$.person_mattes["<id>"]``: the overridden fields only."""
        return dict(self.values)

    def resolve(self, default: MatteSettings) -> MatteSettings:
        """The person's full settings: ``default`` with the overridden fields replaced."""
        return dataclasses.replace(default, **dict(self.values))

    def with_value(self, name: str, value: Any) -> MatteOverride:
        """A copy with field ``name`` overridden to ``value`` (validated)."""
        return MatteOverride({**dict(self.values), name: value})


def resolve_overrides(default: MatteSettings,
                      overrides: Mapping[int, MatteOverride] | Iterable[tuple[int, MatteOverride]]
                      ) -> dict[int, MatteSettings]:
    """Track id -> that person's full settings (``default`` with their override applied)."""
    return {int(k): v.resolve(default) for k, v in dict(overrides).items()}


class MatteControls:
    """One setting of the matte controls as :class:`effects.stack.PersonMattes` applies it to
    a person's crop: the spatial :class:`~effects.refine.MatteRefiner` (no temporal state),
    the temporal mode, whether it is :func:`effects.matte.build_alpha`'s matte
    (:attr:`simple`), and how far around a mask's box the refined matte can reach
    (:attr:`pad`, pixels).  ``radius``/``eps``: the guided filter's r and epsilon."""

    def __init__(self, refine: str, feather_px: float, expand_px: float, radius: int,
                 eps: float, temporal: str, ema_weight: float):
        # Validates every value (InputError); temporal is run per person by PersonMattes.
        self.spatial = r = MatteRefiner(refine=refine, feather_px=feather_px,
                                        expand_px=expand_px, radius=radius, eps=eps)
        TemporalStabilizer(temporal, ema_weight)
        self.temporal = temporal
        self.simple = r.refine in ("none", "feather") and r.expand_px == 0 and temporal == "off"
        soft = r.refine in ("feather", "guided") and r.feather_px > 0
        reach = math.ceil(4.0 * r.feather_px) + 2 if soft else 0
        pad = reach
        if not self.simple:
            pad = math.ceil(max(r.expand_px, 0.0)) + 1 + reach
            if r.refine == "guided":
                # q is non-zero only within 2r of the source's support, and a box of 3r+1
                # keeps the reflected border out of every window that sees the support.
                pad += 3 * r.radius + 2
        self.pad = pad


__all__ = ["GUIDED_EPS_RANGE", "MATTE_KEYS", "MAX_EXPAND_PX", "MAX_FEATHER_PX",
           "MAX_GUIDED_RADIUS", "MatteControls", "MatteOverride", "MatteSettings",
           "resolve_overrides"]
