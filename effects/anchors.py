"""Anchoring effects to joints: pose history, anchor points and the visibility rule.

Anchors
-------
A joint effect (:class:`JointEffect`; the built-in ones are in :mod:`effects.joints`) is pinned
to its person by ``joints``: the anchor point is the mean of those COCO joints
(:data:`~inference.tracks.model.COCO_KEYPOINTS` names), or, with no joints, the top centre of
the person's box.  Coordinates are image pixels (x right, y down, pixel centres at
``+0.5``), like the keypoints.  A joint is usable in a frame when its visibility flag is not
``V_NONE`` (occluded joints have a position).

Visibility rule (stickers, orbs, labels; ``hold_frames`` = H, ``fade_frames`` = F): when some
anchor joint is not usable in the current frame, the effect uses the pose of the most recent
frame, at most H + F frames back, in which all of them were; ``age`` frames back, it is drawn
there with opacity multiplied by 1 for ``age <= H``, then ``1 - (age - H) / (F + 1)``, and not at
all beyond H + F.  It never jumps to (0, 0) and never shows before the joints were first seen.
A person absent from the current frame gets no effects at all that frame (the stack skips them).
Trails and particles use only frames in which the joints were usable, and age out by themselves.

History
-------
Effects that look back read :class:`PoseHistory`: the keypoints and boxes of every person per
frame.  The stack adds each frame it renders; for random access (seeking) give it a ``source``
such as :meth:`PoseHistory.from_cache`, so that frame ``f`` renders the same whatever was
rendered before it.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from effects.keyframes import Keyframes
from effects.model import OverlayEffect, describe
from inference.errors import InputError
from inference.tracks.model import COCO_KEYPOINTS, V_NONE

if TYPE_CHECKING:
    from inference.cache.layers import LayerCache, PersonLayer


# -- pose history ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pose:
    """One person in one frame: ``keypoints`` (17, 3) float64 ``(x, y, v)``; ``bbox``
    ``(x, y, w, h)`` in pixels."""

    keypoints: np.ndarray
    bbox: tuple[float, float, float, float]


class PoseHistory:
    """Keypoints and boxes of every person, per frame, for effects that look back in time.

    ``add(frame_index, persons)`` records a frame (the stack does it for each frame it renders).
    Frames not recorded are fetched from ``source(frame_index) -> persons`` when one is given,
    else treated as frames where nobody was present.  The ``capacity`` most recently used
    frames are kept.
    """

    def __init__(
        self,
        source: Callable[[int], Iterable[PersonLayer]] | None = None,
        capacity: int = 512,
    ):
        self.source = source
        self.capacity = max(1, int(capacity))
        self._frames: OrderedDict[int, dict[int, Pose]] = OrderedDict()

    @classmethod
    def from_cache(cls, cache: LayerCache, capacity: int = 512) -> PoseHistory:
        """A history that reads missing frames from a layer cache (masks not decoded)."""
        return cls(lambda i: cache.frame(i, decode_masks=False), capacity)

    def add(self, frame_index: int, persons: Iterable[PersonLayer]) -> None:
        """Record (or replace) the persons of ``frame_index``."""
        poses: dict[int, Pose] = {}
        for p in persons:
            x, y, w, h = (float(v) for v in p.bbox)
            poses[p.track_id] = Pose(
                np.asarray(p.keypoints, np.float64).reshape(-1, 3), (x, y, w, h)
            )
        self._frames[frame_index] = poses
        self._frames.move_to_end(frame_index)
        while len(self._frames) > self.capacity:
            self._frames.popitem(last=False)

    def pose(self, frame_index: int, track_id: int) -> Pose | None:
        """``track_id``'s pose in ``frame_index``, or None when absent (or unknown)."""
        if frame_index < 0:
            return None
        frame = self._frames.get(frame_index)
        if frame is None:
            if self.source is None:
                return None
            self.add(frame_index, self.source(frame_index))
            frame = self._frames[frame_index]
        else:
            self._frames.move_to_end(frame_index)
        return frame.get(track_id)


def check_joints(effect: OverlayEffect, name: str, joints: tuple[str, ...]) -> None:
    """:class:`InputError` naming the effect, parameter and joint if a name is not COCO's."""
    for j in joints:
        if j not in COCO_KEYPOINTS:
            raise InputError(
                f"effect {effect.label()}: parameter {name}: {j!r} is not a COCO joint; "
                f"use one of: {', '.join(COCO_KEYPOINTS)}"
            )


def joint_positions(pose: Pose, joints: tuple[str, ...]) -> np.ndarray | None:
    """(n, 2) positions of ``joints`` in ``pose``, or None if any is not usable."""
    idx = [COCO_KEYPOINTS.index(j) for j in joints]
    kp = pose.keypoints[idx]
    if np.any(kp[:, 2] <= V_NONE):
        return None
    return kp[:, :2]


def anchor_point(pose: Pose, joints: tuple[str, ...]) -> tuple[float, float] | None:
    """Mean of ``joints`` (or the box's top centre for no joints); None if one is not usable."""
    if not joints:
        x, y, w, _ = pose.bbox
        return x + w / 2.0, y
    pts = joint_positions(pose, joints)
    if pts is None:
        return None
    return float(pts[:, 0].mean()), float(pts[:, 1].mean())


def hold_opacity(age: int, hold: int, fade: int) -> float:
    """The visibility rule's opacity factor ``age`` frames after the joints were last seen."""
    if age <= hold:
        return 1.0
    if age <= hold + fade:
        return 1.0 - (age - hold) / (fade + 1.0)
    return 0.0


@dataclass(frozen=True)
class Anchor:
    """A resolved anchor: the ``pose`` from ``age`` frames back and its ``opacity`` factor."""

    pose: Pose
    age: int
    opacity: float


# -- bases ----------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class JointEffect(OverlayEffect):
    """An overlay pinned to one or more joints (see the module docstring)."""

    joints: tuple[str, ...] = field(
        default=("nose",),
        metadata=describe(
            type=tuple,
            item=str,
            ui="joints",
            doc="anchor: the mean of these COCO joints; none: the top centre of the person's box",
        ),
    )

    def joint_params(self) -> dict[str, tuple[str, ...]]:
        """Every parameter naming joints, and its value (all must be COCO names)."""
        return {"joints": self.joints}

    def needed_joints(self) -> tuple[str, ...]:
        """Joints that must all be usable in a frame for the effect to take its pose from it."""
        return tuple(dict.fromkeys(j for js in self.joint_params().values() for j in js))

    def validate(self) -> None:
        for name, joints in self.joint_params().items():
            check_joints(self, name, joints)


@dataclass(frozen=True, kw_only=True)
class HeldJointEffect(JointEffect):
    """A joint effect that holds, then fades, when its joints disappear (module docstring)."""

    hold_frames: int = field(
        default=8, metadata=describe(min=0, max=1000, unit="frames", doc="hold a lost joint")
    )
    fade_frames: int = field(
        default=6, metadata=describe(min=0, max=1000, unit="frames", doc="then fade out over")
    )
    opacity: float | Keyframes = field(
        default=1.0, metadata=describe(min=0.0, max=1.0, doc="0: invisible")
    )

    def lookback(self) -> int:
        return self.hold_frames + self.fade_frames

    def anchor(self, history: PoseHistory, track_id: int, frame_index: int) -> Anchor | None:
        """The pose to draw from in ``frame_index`` under the visibility rule, or None."""
        needed = self.needed_joints()
        for age in range(self.hold_frames + self.fade_frames + 1):
            pose = history.pose(frame_index - age, track_id)
            if pose is None:
                if frame_index - age < 0:
                    break
                continue
            if joint_positions(pose, needed) is not None:
                return Anchor(pose, age, hold_opacity(age, self.hold_frames, self.fade_frames))
        return None
