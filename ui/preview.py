"""The viewer's picture: one frame of the clip, composited and annotated, as a NumPy image.

:class:`PreviewRenderer` owns what the viewer needs to draw a frame -- a
:class:`~editor_plugin.media.VideoReader`, the clip's :class:`~inference.cache.LayerCache`
(when it has one), a GL context, a :class:`~effects.compositor.Compositor` and, once the edit
has effects, a :class:`~effects.stack.StackRenderer` -- and must be used from the thread that
created it (the GUI thread).  The composite is computed exactly as the export does: without
effects as :func:`editor_plugin.render.render` (the union matte of the selected persons, same
compositor); with effects as :func:`editor_plugin.render.render_project` (each person's matte,
the effect stack at the frame's time, pose history read from the layer cache).  Persons'
own backgrounds (``state.person_backgrounds``, those of selected persons) and persons' own
mattes (``state.person_mattes``) also take the :func:`~editor_plugin.render.render_project`
path (each person's matte refined with their own settings, as the export does); the
backgrounds are opened with :func:`~editor_plugin.render.open_backgrounds` and laid out per
frame by :meth:`effects.partition.PersonBackgrounds.for_frame` around the selected persons'
masks, as the export does.  So what the viewer shows is what an export writes; overlays are
drawn on a copy afterwards.  Temporal matte stabilisation runs across consecutive frames and
restarts on a seek.

All images are (H, W, 3) uint8 RGB in frame pixels, row 0 at the top.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import cv2
import moderngl
import numpy as np

from editor_plugin.media import VideoFrame, VideoReader
from editor_plugin.optimized import open_optimized, open_reader
from editor_plugin.project import MatteSettings
from editor_plugin.render import LoopingVideo, open_backgrounds
from editor_plugin.session import ClipSession
from effects.anchors import PoseHistory
from effects.backgrounds import Background, VideoBackgroundSpec
from effects.compositor import Compositor
from effects.gl import create_context
from effects.matte import build_alpha
from effects.matte_settings import MatteOverride, resolve_overrides
from effects.partition import DEFAULT_SEAM_PX, PersonBackgrounds
from effects.stack import EffectStack, PersonMattes, StackRenderer
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
    """What to show: the selected person ids, the background behind them (``None``: the
    original frame, no compositing), the matte settings and the effect stack.  ``refine``
    is ``matte.refine``.

    ``person_backgrounds``: persons' own backgrounds, sorted ``(track id, background)`` pairs
    (``None``: the original frame); only those of selected persons show (:attr:`own_backgrounds`).
    ``seam_px`` / ``reach_px``: see :class:`effects.partition.PersonBackgrounds`.
    ``person_mattes``: persons' own matte settings, sorted ``(track id, MatteOverride)``
    pairs (the fields each names replace ``matte``'s for that person)."""

    selected: set[int] = field(default_factory=set)
    background: Background | None = None
    overlays: Overlays = field(default_factory=Overlays)
    matte: MatteSettings = field(default_factory=MatteSettings)
    stack: EffectStack = field(default_factory=EffectStack)
    person_backgrounds: tuple[tuple[int, Background | VideoBackgroundSpec | None], ...] = ()
    seam_px: float = DEFAULT_SEAM_PX
    reach_px: float | None = None
    person_mattes: tuple[tuple[int, MatteOverride], ...] = ()

    @property
    def refine(self) -> str:
        return self.matte.refine

    @refine.setter
    def refine(self, value: str) -> None:
        self.matte = dataclasses.replace(self.matte, refine=value)

    @property
    def has_effects(self) -> bool:
        """Whether the stack holds any effect (then frames render through it)."""
        return bool(self.stack.everyone) or any(v for _, v in self.stack.per_person)

    @property
    def own_backgrounds(self) -> tuple[tuple[int, Background | VideoBackgroundSpec | None], ...]:
        """The own backgrounds that show: those of selected persons (what a project keeps)."""
        return tuple((k, v) for k, v in self.person_backgrounds if k in self.selected)

    @property
    def renders_project(self) -> bool:
        """Whether frames render as :func:`~editor_plugin.render.render_project` does (with
        effects, persons' own backgrounds or persons' own mattes) rather than as
        :func:`~editor_plugin.render.render`."""
        return self.has_effects or bool(self.own_backgrounds) or bool(self.person_mattes)


def release_gl(ctx: moderngl.Context | None, compositor: Compositor | None) -> None:
    """Release ``compositor`` (with ``ctx`` current) and then ``ctx``; either may be None."""
    if compositor is not None:
        assert ctx is not None
        with ctx:
            compositor.release()
    if ctx is not None:
        ctx.release()


class PreviewRenderer:
    """Reads, composites and annotates frames of ``session``'s clip (GUI thread only)."""

    def __init__(self, session: ClipSession):
        self.session = session
        # The clip's optimized media when it has one (same frames, any frame one decode).
        self.reader: VideoReader
        self.reader, self.reader_source = open_reader(session)
        self.cache: LayerCache | None = None
        self._ctx: moderngl.Context | None = None
        self._compositor: Compositor | None = None
        self._stack_renderer: StackRenderer | None = None
        # Matte state per path ("union" / "stack"): ((settings, persons' own), PersonMattes),
        # kept across frames so temporal stabilisation follows playback.
        self._mattes: dict[str, tuple[tuple, PersonMattes]] = {}
        self._times: list[Fraction] | None = None
        # The opened backgrounds: (what they were opened from, them, their video decoders).
        self._backgrounds: tuple[tuple, PersonBackgrounds, list[LoopingVideo]] | None = None
        self.reload_layers()

    @property
    def frame_count(self) -> int:
        return self.session.info.frame_count

    def reload_layers(self) -> bool:
        """(Re)open the newest complete layer cache; False when the clip has none yet."""
        self._release_stack_renderer()  # its pose history reads the old cache
        self._mattes.clear()
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

    def time_of(self, index: int) -> Fraction:
        """Clip time of frame ``index`` (exact seconds from the first frame): the time effects
        and keyframes are evaluated at, as in an export."""
        if self._times is None:
            self._times = self.reader.timestamps
        return self._times[min(max(int(index), 0), len(self._times) - 1)]

    def _context(self) -> moderngl.Context:
        if self._ctx is None:
            self._ctx = create_context()
        return self._ctx

    def _person_mattes(self, path: str, settings: MatteSettings,
                       own: tuple[tuple[int, MatteOverride], ...] = ()) -> PersonMattes:
        got = self._mattes.get(path)
        if got is None or got[0] != (settings, own):
            mattes = PersonMattes.from_settings(settings, resolve_overrides(settings, own))
            got = self._mattes[path] = ((settings, own), mattes)
        return got[1]

    def composite(self, frame: VideoFrame, people: list[PersonLayer], state: ViewState
                  ) -> np.ndarray:
        """The frame as the export renders it: with effects, through the effect stack as
        :func:`~editor_plugin.render.render_project` does; otherwise ``state.background``
        behind the selected persons as :func:`~editor_plugin.render.render` does (the
        original frame when there is no background)."""
        if state.renders_project:
            return self._composite_stack(frame, people, state)
        if state.background is None:
            return frame.image
        ctx = self._context()
        if self._compositor is None:
            info = self.session.info
            with ctx:
                self._compositor = Compositor(ctx, info.width, info.height)
        masks = [p.mask for p in people if p.track_id in state.selected and p.mask is not None]
        alpha = union_alpha(masks, frame, state.matte, self._person_mattes("union", state.matte))
        # Make our context current: another one created on this thread since (a headless
        # render, say) would otherwise receive these GL calls.
        with ctx:
            return self._compositor.composite(frame.image, alpha, state.background,
                                              frame_index=frame.index, time=frame.time)

    def person_backgrounds(self, state: ViewState) -> PersonBackgrounds:
        """``state``'s default and own backgrounds opened for rendering (as
        :func:`~editor_plugin.render.render_project` opens a project's), reused while they
        stay the same."""
        key = (state.background, state.own_backgrounds, state.seam_px, state.reach_px)
        if self._backgrounds is None or self._backgrounds[0] != key:
            self._close_backgrounds()
            opened, loopings = open_backgrounds(state.background, dict(state.own_backgrounds),
                                                seam_px=state.seam_px, reach_px=state.reach_px)
            self._backgrounds = (key, opened, loopings)
        return self._backgrounds[1]

    def _close_backgrounds(self) -> None:
        if self._backgrounds is not None:
            for looping in self._backgrounds[2]:
                looping.close()
            self._backgrounds = None

    def _composite_stack(self, frame: VideoFrame, people: list[PersonLayer],
                         state: ViewState) -> np.ndarray:
        background = self.person_backgrounds(state).for_frame({
            p.track_id: p.mask for p in people
            if p.mask is not None and p.track_id in state.selected})
        ctx = self._context()
        with ctx:
            if self._stack_renderer is None:
                info = self.session.info
                history = PoseHistory.from_cache(self.cache) if self.cache is not None \
                    else PoseHistory()
                self._stack_renderer = StackRenderer(ctx, info.width, info.height,
                                                     history=history)
            return self._stack_renderer.render(
                frame.image, people, state.stack, frame_index=frame.index, time=frame.time,
                background=background, selected=tuple(sorted(state.selected)),
                mattes=self._person_mattes("stack", state.matte, tuple(state.person_mattes)))

    def _release_stack_renderer(self) -> None:
        if self._stack_renderer is not None:
            assert self._ctx is not None
            with self._ctx:
                self._stack_renderer.release()
            self._stack_renderer = None

    def render(self, index: int, state: ViewState) -> tuple[np.ndarray, np.ndarray]:
        """Frame ``index`` as ``(composite, annotated)``: the clean composite and a copy with
        the overlays of ``state`` drawn on it."""
        frame = self.read(index)
        people = self.persons(index)
        comp = self.composite(frame, people, state)
        return comp, draw_overlays(comp, people, state.selected, state.overlays)

    def use_optimized(self, path: Path) -> None:
        """Read frames from the optimized media at ``path`` from now on (bit-identical to the
        clip's, every frame one intra decode)."""
        reader = open_optimized(self.session, path)
        self.reader.close()
        self.reader, self.reader_source = reader, "optimized"

    def close(self) -> None:
        self._release_stack_renderer()
        self._close_backgrounds()
        if self.cache is not None:
            self.cache.close()
            self.cache = None
        release_gl(self._ctx, self._compositor)
        self._ctx = self._compositor = None
        self.reader.close()


def union_alpha(masks: list[np.ndarray], frame: VideoFrame, matte: MatteSettings,
                mattes: PersonMattes) -> np.ndarray:
    """The (H, W) uint8 matte of the union of ``masks`` ((H, W) 0/1, the size of
    ``frame.image``) refined as ``matte`` says (``mattes``: its stateful refiner), as
    :func:`~editor_plugin.render.render` builds it."""
    shape = frame.image.shape[:2]
    if mattes.simple:
        return build_alpha(masks, refine=matte.refine, feather_px=matte.feather_px, shape=shape)
    alpha = np.zeros(shape, np.uint8)
    got = mattes.matte(0, build_alpha(masks, "none", shape=shape), frame.image, frame.index)
    if got is not None:
        (x0, y0, x1, y1), crop = got
        alpha[y0:y1, x0:x1] = crop
    return alpha


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
            # Only the mask's box: same pixels as the whole frame, a fraction of the work.
            mu8 = p.mask if p.mask.dtype == np.uint8 else (p.mask != 0).view(np.uint8)
            x0, y0, bw, bh = cv2.boundingRect(mu8)
            sub = out[y0:y0 + bh, x0:x0 + bw]
            m = p.mask[y0:y0 + bh, x0:x0 + bw].astype(bool)
            a = 0.5 if chosen else 0.3
            sub[m] = (sub[m] * (1 - a) + np.asarray(color, np.float32) * a).astype(np.uint8)
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
