"""Each person's refined matte for a stream of frames: :class:`PersonMattes`.

The matte controls (expand/choke, feather, guided filter, temporal stabilisation; see
:mod:`effects.matte_settings`) applied to one person's mask at a time, on the person's box
grown by the controls' reach, for :class:`~effects.stack.StackRenderer`.  Boxes are
``(x0, y0, x1, y1)`` frame pixels, end-exclusive.  Re-exported by :mod:`effects.stack`, where
it used to live.
"""

from __future__ import annotations

from collections.abc import Mapping

import cv2
import numpy as np

from effects.matte import build_alpha
from effects.matte_settings import MatteControls, MatteSettings
from effects.person import grow_box, mask_box
from effects.refine import MatteRefiner, TemporalStabilizer


class PersonMattes:
    """Each person's matte for one stream of frames: expand/choke, feather, guided filter and
    temporal stabilisation as :class:`effects.refine.MatteRefiner` applies them to a whole
    frame, but computed on the person's box grown by their :meth:`pad` (so a person's matte
    equals the full-frame refinement of their mask alone, to float rounding).

    The arguments are the default controls (everyone's); ``overrides`` gives some persons
    their own (track id -> :class:`~effects.matte_settings.MatteSettings`, complete: resolve
    partial ones with :func:`~effects.matte_settings.resolve_overrides`).  Stateful when a
    person's ``temporal`` is not ``'off'``: one :class:`~effects.refine.TemporalStabilizer`
    per track id, with that person's mode, run on the person's full-frame (H, W) matte (so
    it survives the box moving).  It restarts when the person is absent from a frame or
    frames are not consecutive (a seek).  ``refine`` in ``none|feather`` with
    ``expand_px == 0`` and ``temporal == 'off'`` is exactly :func:`effects.matte.build_alpha`
    on the box (the historical output, byte for byte).
    """

    def __init__(self, refine: str = "none", feather_px: float = 1.5, expand_px: float = 0.0,
                 radius: int = 8, eps: float = 1e-3, temporal: str = "off",
                 ema_weight: float = 0.5, *,
                 overrides: Mapping[int, MatteSettings] | None = None):
        self.ema_weight = ema_weight
        self._default = MatteControls(refine, feather_px, expand_px, radius, eps, temporal,
                                      ema_weight)
        self._own = {int(k): MatteControls(m.refine, m.feather_px, m.expand_px,
                                           m.guided_radius, m.guided_eps, m.temporal, ema_weight)
                     for k, m in (overrides or {}).items()}
        self._stab: dict[int, tuple[int, TemporalStabilizer]] = {}

    @classmethod
    def from_settings(cls, default: MatteSettings,
                      overrides: Mapping[int, MatteSettings] | None = None) -> PersonMattes:
        """Everyone's ``default`` settings and some persons' own (complete) ones."""
        m = default
        return cls(m.refine, m.feather_px, m.expand_px, m.guided_radius, m.guided_eps,
                   m.temporal, overrides=overrides)

    def _controls(self, track_id: int) -> MatteControls:
        return self._own.get(track_id, self._default)

    @property
    def spatial(self) -> MatteRefiner:
        """The default controls' spatial refiner."""
        return self._default.spatial

    @property
    def temporal(self) -> str:
        """The default controls' temporal mode."""
        return self._default.temporal

    @property
    def simple(self) -> bool:
        """True when the default matte is :func:`~effects.matte.build_alpha`'s (no expand,
        guided or temporal stabilisation)."""
        return self._default.simple

    def pad(self, track_id: int | None = None) -> int:
        """Pixels around a mask's box that person ``track_id``'s refined matte can reach;
        None: the largest reach of the default and every person's own controls."""
        if track_id is not None:
            return self._controls(track_id).pad
        return max(c.pad for c in (self._default, *self._own.values()))

    def begin_frame(self, frame_index: int) -> None:
        """Forget the stabilisers of persons not seen in the previous frame."""
        self._stab = {k: v for k, v in self._stab.items() if v[0] == frame_index - 1}

    def reset(self) -> None:
        """Restart every person's temporal stabilisation (after a cut or a seek)."""
        self._stab.clear()

    def matte(self, track_id: int, mask: np.ndarray, frame: np.ndarray, frame_index: int
              ) -> tuple[tuple[int, int, int, int], np.ndarray] | None:
        """``(box, matte)`` for one person: ``box`` = ``(x0, y0, x1, y1)`` end-exclusive in
        frame pixels, ``matte`` (y1-y0, x1-x0) uint8 (255 = person) zero outside ``box``.

        ``mask``: (H, W), non-zero = person; ``frame``: (H, W, 3) uint8 RGB (the guide).
        None when the mask is empty.
        """
        h, w = mask.shape
        box = mask_box(mask)
        if box is None:
            self._stab.pop(track_id, None)
            return None
        c = self._controls(track_id)
        box = grow_box(box, c.pad, (w, h))
        x0, y0, x1, y1 = box
        r = c.spatial
        if c.simple:
            return box, build_alpha([mask[y0:y1, x0:x1]], r.refine, r.feather_px)
        hard = build_alpha([mask[y0:y1, x0:x1]], "none")
        out = r(hard, frame[y0:y1, x0:x1])
        if c.temporal == "off":
            return box, out
        last = self._stab.get(track_id)
        stab = last[1] if last is not None and last[0] == frame_index - 1 else TemporalStabilizer(
            c.temporal, self.ema_weight)
        full = np.zeros((h, w), np.uint8)
        full[y0:y1, x0:x1] = out
        full = stab(full)
        self._stab[track_id] = (frame_index, stab)
        bx, by, bw, bh = cv2.boundingRect(full)
        if bw:
            box = (min(x0, bx), min(y0, by), max(x1, bx + bw), max(y1, by + bh))
            x0, y0, x1, y1 = box
        return box, np.ascontiguousarray(full[y0:y1, x0:x1])
