"""The viewer's picture: one frame of the clip, composited and annotated, as a NumPy image.

:class:`PreviewRenderer` owns what the viewer needs to draw a frame -- a
:class:`~editor_plugin.media.VideoReader`, the clip's :class:`~inference.cache.LayerCache`
(when it has one), a GL context and a :class:`~effects.compositor.Compositor` -- and must be
used from the thread that created it (the GUI thread).  The composite is computed exactly as
:func:`editor_plugin.render.render` does (same matte, same compositor), so what the viewer
shows is what an export writes; overlays are drawn on a copy afterwards.

All images are (H, W, 3) uint8 RGB in frame pixels, row 0 at the top.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import cv2
import moderngl
import numpy as np

from editor_plugin.media import VideoFrame, VideoReader
from editor_plugin.session import ClipSession
from effects.backgrounds import Background
from effects.compositor import Compositor
from effects.gl import create_context
from effects.matte import build_alpha
from inference.cache.layers import LayerCache, PersonLayer
from inference.errors import HumanfxError
from inference.tracks.model import COCO_SKELETON, V_NONE

log = logging.getLogger(__name__)

#: Distinct person colours (RGB), indexed by track id.
PALETTE: tuple[tuple[int, int, int], ...] = (
    (230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48),
    (145, 30, 180), (70, 240, 240), (240, 50, 230), (210, 245, 60), (250, 190, 212),
    (0, 128, 128), (220, 190, 255), (170, 110, 40), (128, 0, 0), (170, 255, 195),
)  # fmt: skip


def person_color(track_id: int) -> tuple[int, int, int]:
    """The RGB colour of person ``track_id`` in the viewer, lanes and lists."""
    return PALETTE[(int(track_id) - 1) % len(PALETTE)]


@dataclass
class Overlays:
    """Which annotations the viewer draws over the composite."""

    masks: bool = True
    skeletons: bool = True
    ids: bool = True


@dataclass
class ViewState:
    """What to show: the selected person ids and the background behind them (``None``: the
    original frame, no compositing)."""

    selected: set[int] = field(default_factory=set)
    background: Background | None = None
    refine: str = "feather"
    overlays: Overlays = field(default_factory=Overlays)


class PreviewRenderer:
    """Reads, composites and annotates frames of ``session``'s clip (GUI thread only)."""

    def __init__(self, session: ClipSession):
        self.session = session
        self.reader = VideoReader(session.path)
        self.cache: LayerCache | None = None
        self._ctx: moderngl.Context | None = None
        self._compositor: Compositor | None = None
        self.reload_layers()

    @property
    def frame_count(self) -> int:
        return self.session.info.frame_count

    def reload_layers(self) -> bool:
        """(Re)open the newest complete layer cache; False when the clip has none yet."""
        if self.cache is not None:
            self.cache.close()
            self.cache = None
        try:
            self.cache = self.session.layers()
        except HumanfxError as err:
            log.info("no layers: %s", err)
            return False
        return True

    def persons(self, index: int) -> list[PersonLayer]:
        """The persons of frame ``index`` with decoded masks (empty without layers)."""
        return self.cache.frame(index) if self.cache is not None else []

    def presence(self) -> dict[int, np.ndarray]:
        """Per track id, an (N,) bool array: is the person in frame i (N = frame count)."""
        if self.cache is None:
            return {}
        n = self.frame_count
        out = {t.id: np.zeros(n, bool) for t in self.cache.tracks()}
        for tid, fi in self.cache.query("SELECT track_id, frame_index FROM persons"):
            if tid in out and 0 <= fi < n:
                out[tid][fi] = True
        return out

    def track_at(self, index: int, x: int, y: int) -> int | None:
        """The id of the person whose mask covers frame pixel (x, y) in frame ``index``.

        When masks overlap, the smallest mask wins (the person in front is usually the one
        the user means when clicking an overlap).  None: background or outside the frame.
        """
        info = self.session.info
        if not (0 <= x < info.width and 0 <= y < info.height):
            return None
        hits = [(int(p.mask.sum()), p.track_id) for p in self.persons(index)
                if p.mask is not None and p.mask[y, x]]
        return min(hits)[1] if hits else None

    def read(self, index: int) -> VideoFrame:
        return self.reader.read(index)

    def composite(self, frame: VideoFrame, people: list[PersonLayer], state: ViewState
                  ) -> np.ndarray:
        """The frame with ``state.background`` behind the selected persons, as
        :func:`~editor_plugin.render.render` computes it (the original frame when there is
        no background)."""
        if state.background is None:
            return frame.image
        if self._compositor is None:
            self._ctx = create_context()
            info = self.session.info
            self._compositor = Compositor(self._ctx, info.width, info.height)
        masks = [p.mask for p in people if p.track_id in state.selected and p.mask is not None]
        alpha = build_alpha(masks, refine=state.refine, shape=frame.image.shape[:2])
        # Make our context current: another one created on this thread since (a headless
        # render, say) would otherwise receive these GL calls.
        assert self._ctx is not None
        with self._ctx:
            return self._compositor.composite(frame.image, alpha, state.background,
                                              frame_index=frame.index, time=frame.time)

    def render(self, index: int, state: ViewState) -> tuple[np.ndarray, np.ndarray]:
        """Frame ``index`` as ``(composite, annotated)``: the clean composite and a copy with
        the overlays of ``state`` drawn on it."""
        frame = self.read(index)
        people = self.persons(index)
        comp = self.composite(frame, people, state)
        return comp, draw_overlays(comp, people, state.selected, state.overlays)

    def close(self) -> None:
        if self.cache is not None:
            self.cache.close()
            self.cache = None
        if self._compositor is not None:
            assert self._ctx is not None
            with self._ctx:
                self._compositor.release()
            self._compositor = None
        if self._ctx is not None:
            self._ctx.release()
            self._ctx = None
        self.reader.close()


def draw_overlays(image: np.ndarray, people: list[PersonLayer], selected: set[int],
                  overlays: Overlays) -> np.ndarray:
    """A copy of ``image`` with masks tinted per person, skeletons and ids drawn on it.

    Selected persons get a stronger tint and a thicker skeleton.
    """
    out = image.copy()
    h, w = out.shape[:2]
    thick = max(1, round(min(h, w) / 240))
    for p in people:
        color = person_color(p.track_id)
        chosen = p.track_id in selected
        if overlays.masks and p.mask is not None:
            m = p.mask.astype(bool)
            a = 0.5 if chosen else 0.3
            out[m] = (out[m] * (1 - a) + np.asarray(color, np.float32) * a).astype(np.uint8)
        kp = p.keypoints
        if overlays.skeletons:
            t = thick * 2 if chosen else thick
            for a_, b_ in COCO_SKELETON:  # 1-based keypoint numbers
                pa, pb = kp[a_ - 1], kp[b_ - 1]
                if pa[2] > V_NONE and pb[2] > V_NONE:
                    cv2.line(out, (round(pa[0]), round(pa[1])), (round(pb[0]), round(pb[1])),
                             color, t, cv2.LINE_AA)
            for x, y, v in kp:
                if v > V_NONE:
                    cv2.circle(out, (round(x), round(y)), t + 1, color, -1, cv2.LINE_AA)
        if overlays.ids:
            bx, by = p.bbox[0], p.bbox[1]
            org = (int(max(0, bx)), int(max(12 * thick, by - 3)))
            label = f"{p.track_id}"
            cv2.putText(out, label, org, cv2.FONT_HERSHEY_SIMPLEX, 0.4 * thick, (0, 0, 0),
                        thick + 2, cv2.LINE_AA)
            cv2.putText(out, label, org, cv2.FONT_HERSHEY_SIMPLEX, 0.4 * thick, color, thick,
                        cv2.LINE_AA)
    return out
