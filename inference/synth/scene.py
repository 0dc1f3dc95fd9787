"""A synthetic clip with exact ground truth: people walking, gesturing, leaving, coming back and
crossing in front of each other on a moving textured background.

Everything is a pure function of :class:`SynthConfig` and the frame index, so frames can be
rendered in any order and the same config always gives the same pixels and ground truth.

Ground truth conventions (the same as :mod:`inference.tracks.model`):

* pixel coordinates of the frame, origin at the top-left *corner* of the top-left pixel; a pixel's
  centre is at ``(col + 0.5, row + 0.5)``.  A keypoint ``(x, y)`` lies in pixel
  ``(int(y), int(x))``.
* keypoints ``(17, 3)`` float64 ``(x, y, v)`` in COCO order.  ``v = 0``: the joint lies outside the
  frame (its ``x, y`` still give its true, projected position, unlike COCO's zeros); ``v = 1``:
  inside the frame but hidden, by a nearer person or prop, or by the person's own body (far-side
  limbs, the face of someone looking away); ``v = 2``: visible, and then its pixel is in the
  person's mask.
* ``mask``: exactly the pixels where the person is drawn in the frame before blur and noise,
  after depth-ordered occlusion; ``bbox``: the tight ``(x, y, w, h)`` box of that mask.
* ``depth``: the frame row where the person stands on the ground (larger = nearer the camera),
  plus ``1e-6 * track_id`` so that no two depths are equal.  Nearer people, and props, are drawn
  over farther ones in that order.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction

import cv2
import numpy as np

from inference.errors import InputError
from inference.synth import figure as fg
from inference.synth import look
from inference.synth.audio import Step, render_audio
from inference.synth.background import (
    Backdrop,
    Camera,
    CameraPath,
    Prop,
    View,
    random_props,
    random_view,
)
from inference.synth.motion import Planner, Script
from inference.tracks.masks import encode_mask
from inference.tracks.model import NUM_KEYPOINTS, PersonRecord, Track, TrackSet, VideoInfo

log = logging.getLogger(__name__)

Z_RANGE = (2.7, 8.0)  #: metres; a 1.75 m person is then ~78% .. ~26% of the frame height
MAX_PEOPLE = 250
_NOISE_PAD = 32


@dataclass(frozen=True)
class SynthConfig:
    """What to synthesize.  ``fps`` is exact (ints and ``"30000/1001"`` strings are accepted);
    ``props`` adds static objects (poles, planters, ...) that people can walk behind."""

    people: int = 3
    frames: int = 48
    width: int = 320
    height: int = 240
    fps: Fraction = Fraction(24)
    seed: int = 0
    audio_rate: int = 48000
    camera_motion: bool = True
    props: bool = True

    def __post_init__(self) -> None:
        def bad(what: str, hint: str) -> InputError:
            return InputError(f"synthetic clip: {what}", hint=hint)

        for name in ("people", "frames", "width", "height", "seed", "audio_rate"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
                raise bad(f"{name} must be an integer, got {v!r}", f"pass a whole number as {name}")
            object.__setattr__(self, name, int(v))
        if not 0 <= self.people <= MAX_PEOPLE:
            raise bad(f"{self.people} people", f"use 0 to {MAX_PEOPLE} people")
        if self.frames < 0:
            raise bad(f"{self.frames} frames", "use 0 or more frames")
        if not (16 <= self.width <= 8192 and 16 <= self.height <= 8192):
            raise bad(f"frame size {self.width}x{self.height}", "use 16 to 8192 pixels a side")
        if not 1000 <= self.audio_rate <= 384000:
            raise bad(f"audio rate {self.audio_rate} Hz", "use e.g. 48000")
        try:
            fps = (
                self.fps
                if isinstance(self.fps, Fraction)
                else (
                    Fraction(self.fps).limit_denominator(1_000_000)
                    if isinstance(self.fps, float)
                    else Fraction(self.fps)
                )
            )
        except (TypeError, ValueError, ZeroDivisionError):
            raise bad(
                f"frame rate {self.fps!r}", "use a positive number such as 24 or 30000/1001"
            ) from None
        if fps <= 0:
            raise bad(f"frame rate {fps}", "use a positive number such as 24 or 30000/1001")
        object.__setattr__(self, "fps", fps)

    @property
    def duration(self) -> Fraction:
        """Clip length in seconds, exact."""
        return Fraction(self.frames) / self.fps


@dataclass
class SynthPerson:
    """Ground truth of one person in one frame (present only when some pixel is visible); see
    the module docstring for the conventions."""

    track_id: int
    bbox: tuple[float, float, float, float]
    keypoints: np.ndarray  # (17, 3) float64 (x, y, v)
    mask: np.ndarray  # (H, W) bool
    depth: float


@dataclass
class _Person:
    track_id: int
    fig: fg.Figure
    script: Script


@dataclass
class _Item:
    """Something drawn in one frame: a person or a prop, with its part map over a crop."""

    depth: float
    track_id: int  # 0 for props
    x0: int
    y0: int
    labels: np.ndarray  # (h, w) uint8 part ids
    ax: float = 0.0
    ay: float = 0.0
    scale: float = 0.0
    person: _Person | None = None
    pose: fg.Pose | None = None
    pts: np.ndarray | None = None  # (N_POINTS, 3) camera-aligned metres
    prop: Prop | None = None

    def colour(self) -> np.ndarray:
        """``(h, w, 3)`` uint8 RGB of the item over its crop (unused pixels arbitrary)."""
        if self.prop is not None:
            c = np.array(self.prop.colour, float)
            pal = np.array([c, c, self.prop.band, 0.72 * c]).clip(0, 255).astype(np.uint8)
            return pal[self.labels]  # props are few and simple
        assert self.person is not None and self.pose is not None
        fig = self.person.fig
        app = fig.app
        h, w = self.labels.shape
        rows = self.y0 + np.arange(h) + 0.5 - self.ay
        cols = self.x0 + np.arange(w) + 0.5 - self.ax
        pt = look.pattern(app.top_pattern, app.top_period * self.scale, rows, cols, app.noise_tile)
        pb = look.pattern(
            app.bottom_pattern, app.bottom_period * self.scale, rows, cols, app.noise_tile
        )
        return look.colorize(self.labels, fig.palette(self.pose.yaw), pt, pb)


class SyntheticScene:
    """A deterministic synthetic clip: frames (NumPy RGB), per-person ground truth and audio."""

    def __init__(self, config: SynthConfig):
        if not isinstance(config, SynthConfig):
            raise TypeError(f"SyntheticScene needs a SynthConfig, got {type(config).__name__}")
        self.config = config
        root = np.random.SeedSequence([abs(config.seed), int(config.seed < 0), 0x48464E58])
        world, cam, back, sound, noise, people = root.spawn(6)
        self._noise_seed = noise
        self._audio_seed = sound
        wrng = np.random.default_rng(world)
        self.view: View = random_view(wrng, config.width, config.height)
        self.camera = CameraPath(np.random.default_rng(cam), self.view, config.camera_motion)
        self.props: list[Prop] = random_props(wrng, self.view, Z_RANGE) if config.props else []
        self._backdrop_seed = back
        self._backdrop: Backdrop | None = None
        self._noise: tuple[np.ndarray, np.ndarray] | None = None
        self._people = self._make_people(wrng, people.spawn(config.people))
        log.debug(
            "synthetic scene: seed %d, %d people, %d props",
            config.seed,
            config.people,
            len(self.props),
        )

    # -- construction -------------------------------------------------------------------------
    def _make_people(
        self, wrng: np.random.Generator, seeds: list[np.random.SeedSequence]
    ) -> list[_Person]:
        n = len(seeds)
        if n == 0:
            return []
        T = float(self.config.duration)
        z_lo, z_hi = Z_RANGE
        u = (wrng.permutation(n) + wrng.uniform(size=n)) / n
        z_home = np.exp(math.log(z_lo) + u * (math.log(z_hi) - math.log(z_lo)))
        rngs = [np.random.default_rng(s) for s in seeds]
        figs = [
            fg.Figure(look.random_appearance(np.random.default_rng(r.integers(2**63))))
            for r in rngs
        ]
        scripts: list[Script | None] = [None] * n
        v = self.view
        for a in range(0, n - 1, 2):
            if a > 0 and rngs[a].random() < 0.5:
                continue
            za, zb = float(z_home[a]), float(z_home[a + 1])
            if abs(za - zb) < 1.0:
                zb = za + 1.2 if za + 1.2 <= z_hi else za - 1.2
            planner = Planner(rngs[a], T, v.half_width, Z_RANGE)
            scripts[a], scripts[a + 1] = planner.crossing(
                figs[a].app.height, figs[a + 1].app.height, za, zb, v.width, v.focal
            )
        for k in range(n):
            if scripts[k] is None:
                planner = Planner(rngs[k], T, v.half_width, Z_RANGE)
                inside = k == 0 or rngs[k].random() < 0.65
                scripts[k] = planner.wander(
                    figs[k].app.height, float(z_home[k]), start_inside=inside
                )
        return [_Person(k + 1, figs[k], scripts[k]) for k in range(n)]  # type: ignore[arg-type]

    @property
    def backdrop(self) -> Backdrop:
        if self._backdrop is None:
            self._backdrop = Backdrop(np.random.default_rng(self._backdrop_seed), self.view)
        return self._backdrop

    def _noise_tiles(self) -> tuple[np.ndarray, np.ndarray]:
        if self._noise is None:
            rng = np.random.default_rng(self._noise_seed)
            shape = (self.config.height + _NOISE_PAD, self.config.width + _NOISE_PAD, 3)
            n = np.rint(2.2 * rng.standard_normal(shape, np.float32)).astype(np.int16)
            self._noise = (
                np.clip(n, 0, 255).astype(np.uint8),
                np.clip(-n, 0, 255).astype(np.uint8),
            )
        return self._noise

    # -- per frame ------------------------------------------------------------------------------
    def __len__(self) -> int:
        return self.config.frames

    def time(self, index: int) -> Fraction:
        """Exact time of frame ``index`` in seconds."""
        return Fraction(index) / self.config.fps

    def _check(self, index: int) -> int:
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
            raise TypeError(f"frame index must be an integer, got {index!r}")
        if not 0 <= index < self.config.frames:
            raise IndexError(
                f"frame {index} is outside the synthetic clip's 0..{self.config.frames - 1}"
            )
        return int(index)

    def _layout(self, index: int) -> tuple[Camera, list[_Item]]:
        """Everything drawn in frame ``index``, in painter's order (far to near)."""
        t = float(self.time(index))
        cam = self.camera.at(t)
        v = self.view
        W, H = v.width, v.height
        items: list[_Item] = []
        for p in self._people:
            x, z, pose = p.script.at(t)
            if abs(x) > 1.6 * v.half_width(z) + 2.5:
                continue  # far off-screen
            ax, ay = cam.apply(v, v.image_x(x, z), v.ground_y(z))
            s = v.scale(z) * cam.zoom
            pts = p.fig.pose3d(pose)
            prims = p.fig.primitives(pts, pose, ax, ay, s)
            item = self._rasterise(prims, W, H)
            if item is None:
                continue
            item.depth, item.track_id = ay + 1e-6 * p.track_id, p.track_id
            item.ax, item.ay, item.scale, item.person, item.pose, item.pts = ax, ay, s, p, pose, pts
            items.append(item)
        for prop in self.props:
            depth, _, _, quads = prop.geometry(v, cam)
            prims = [(1, "poly", (quads[0],)), (3, "poly", (quads[2],)), (2, "poly", (quads[1],))]
            item = self._rasterise(prims, W, H)
            if item is not None:
                item.depth, item.prop = depth, prop
                items.append(item)
        items.sort(key=lambda it: (it.depth, it.track_id))
        return cam, items

    @staticmethod
    def _rasterise(prims: list[tuple], W: int, H: int) -> _Item | None:
        bx0, by0, bx1, by1 = fg.primitive_bounds(prims)
        x0, y0 = max(0, math.floor(bx0) - 1), max(0, math.floor(by0) - 1)
        x1, y1 = min(W, math.ceil(bx1) + 2), min(H, math.ceil(by1) + 2)
        if x1 <= x0 or y1 <= y0:
            return None
        labels = np.zeros((y1 - y0, x1 - x0), np.uint8)
        fg.draw_primitives(labels, prims, x0, y0)
        if not labels.any():
            return None
        return _Item(0.0, 0, x0, y0, labels)

    def _compose(
        self, index: int, *, colour: bool, clean: bool = False
    ) -> tuple[np.ndarray | None, list[SynthPerson]]:
        cam, items = self._layout(index)
        W, H = self.config.width, self.config.height
        owner = np.zeros((H, W), np.uint8)
        frame = None
        if colour:
            frame = self.backdrop.plate(cam)
            for it in items:
                if it.person is not None:
                    self._shadow(frame, it)
        for it in items:
            h, w = it.labels.shape
            look.paste(
                owner[it.y0 : it.y0 + h, it.x0 : it.x0 + w],
                np.full((h, w), it.track_id, np.uint8),
                it.labels,
            )
            if frame is not None:
                look.paste(frame[it.y0 : it.y0 + h, it.x0 : it.x0 + w], it.colour(), it.labels)
        persons = [self._truth(it, owner) for it in items if it.person is not None]
        persons = sorted((p for p in persons if p is not None), key=lambda p: p.track_id)
        if frame is not None and not clean:
            frame = self._sensor(frame, index)
        return frame, persons

    def _shadow(self, frame: np.ndarray, it: _Item) -> None:
        assert it.person is not None
        hgt = it.person.fig.app.height * it.scale
        ra, rb = 0.3 * hgt, max(1.0, 0.045 * hgt)
        H, W = frame.shape[:2]
        x0, y0 = max(0, int(it.ax - ra) - 1), max(0, int(it.ay - rb) - 1)
        x1, y1 = min(W, int(it.ax + ra) + 2), min(H, int(it.ay + rb) + 2)
        if x1 <= x0 or y1 <= y0:
            return
        m = np.zeros((y1 - y0, x1 - x0), np.uint8)
        c = (round((it.ax - 0.5 - x0) * 16), round((it.ay - 0.5 - y0) * 16))
        cv2.ellipse(m, c, (int(ra * 16), int(rb * 16)), 0, 0, 360, 1, -1, cv2.LINE_AA, 4)
        if not m.any():
            return
        region = frame[y0:y1, x0:x1]
        look.paste(region, cv2.multiply(region, (0.6, 0.6, 0.6, 0.0)), m)

    def _sensor(self, frame: np.ndarray, index: int) -> np.ndarray:
        """A little blur and sensor noise (deterministic per frame)."""
        frame = cv2.GaussianBlur(frame, (3, 3), 0.65)
        pos, neg = self._noise_tiles()
        hsh = (index * 0x9E3779B1 + self.config.seed * 0x85EBCA77) & 0xFFFFFFFF
        oy, ox = hsh % _NOISE_PAD, (hsh >> 12) % _NOISE_PAD
        H, W = frame.shape[:2]
        frame = cv2.add(frame, pos[oy : oy + H, ox : ox + W])
        return cv2.subtract(frame, neg[oy : oy + H, ox : ox + W])

    def _truth(self, it: _Item, owner: np.ndarray) -> SynthPerson | None:
        assert it.person is not None and it.pts is not None
        h, w = it.labels.shape
        vis = owner[it.y0 : it.y0 + h, it.x0 : it.x0 + w] == it.track_id
        rows, cols = np.flatnonzero(vis.any(1)), np.flatnonzero(vis.any(0))
        if len(rows) == 0:
            return None
        H, W = owner.shape
        mask = np.zeros((H, W), bool)
        mask[it.y0 : it.y0 + h, it.x0 : it.x0 + w] = vis
        bbox = (
            float(it.x0 + cols[0]),
            float(it.y0 + rows[0]),
            float(cols[-1] - cols[0] + 1),
            float(rows[-1] - rows[0] + 1),
        )
        pts, fig = it.pts, it.person.fig
        kp = np.zeros((NUM_KEYPOINTS, 3))
        kp[:, 0] = it.ax + it.scale * pts[:NUM_KEYPOINTS, 0]
        kp[:, 1] = it.ay - it.scale * pts[:NUM_KEYPOINTS, 1]
        own = self_visible(pts, fig)
        for k in range(NUM_KEYPOINTS):
            x, y = kp[k, 0], kp[k, 1]
            if not (0.0 <= x < W and 0.0 <= y < H):
                continue
            r, c = int(y), int(x)
            ok = owner[r, c] == it.track_id and own[k]
            if ok and k >= 5:
                lr, lc = r - it.y0, c - it.x0
                ok = (
                    0 <= lr < h and 0 <= lc < w and bool(fg.KEYPOINT_PART_LUT[k, it.labels[lr, lc]])
                )
            kp[k, 2] = 2.0 if ok else 1.0
        return SynthPerson(it.track_id, bbox, kp, mask, float(it.depth))

    # -- public ---------------------------------------------------------------------------------
    def render(self, index: int, *, clean: bool = False) -> tuple[np.ndarray, list[SynthPerson]]:
        """Frame ``index`` as ``(H, W, 3)`` uint8 RGB and the people visible in it (by track id).

        ``clean=True`` leaves out the blur and sensor noise (the masks are the same either way).
        """
        frame, persons = self._compose(self._check(index), colour=True, clean=clean)
        assert frame is not None
        return frame, persons

    def people(self, index: int) -> list[SynthPerson]:
        """The ground truth of frame ``index`` alone (faster than :meth:`render`)."""
        return self._compose(self._check(index), colour=False)[1]

    def render_person(
        self, index: int, track_id: int, background: tuple[int, int, int] = (0, 0, 0)
    ) -> np.ndarray:
        """Person ``track_id`` alone in frame ``index``, unoccluded, over a flat ``background``,
        without shadow, blur or noise: ``(H, W, 3)`` uint8 RGB."""
        _, items = self._layout(self._check(index))
        out = np.empty((self.config.height, self.config.width, 3), np.uint8)
        out[:] = np.asarray(background, np.uint8)
        for it in items:
            if it.track_id == track_id and it.person is not None:
                h, w = it.labels.shape
                look.paste(out[it.y0 : it.y0 + h, it.x0 : it.x0 + w], it.colour(), it.labels)
        return out

    def plate(self, index: int) -> np.ndarray:
        """The clean background of frame ``index`` (backdrop and props, no people, shadows, blur
        or noise): ``(H, W, 3)`` uint8 RGB."""
        cam, items = self._layout(self._check(index))
        frame = self.backdrop.plate(cam)
        for it in items:
            if it.prop is not None:
                h, w = it.labels.shape
                look.paste(frame[it.y0 : it.y0 + h, it.x0 : it.x0 + w], it.colour(), it.labels)
        return frame

    def __iter__(self) -> Iterator[tuple[int, np.ndarray, list[SynthPerson]]]:
        for i in range(self.config.frames):
            frame, persons = self.render(i)
            yield i, frame, persons

    def audio(self) -> np.ndarray:
        """``(2, n)`` float32 stereo in ``[-1, 1]`` at ``config.audio_rate``,
        ``n = round(frames / fps * audio_rate)``: footsteps (panned to where they are seen) over a
        soft chord."""
        cfg, v = self.config, self.view
        n = round(cfg.duration * cfg.audio_rate)
        T = float(cfg.duration)
        steps: list[Step] = []
        for k, p in enumerate(self._people):
            for t, _foot in p.script.steps():
                if t >= T:
                    continue
                x, z = p.script.position(t)
                ix, _ = self.camera.at(t).apply(v, v.image_x(x, z), v.ground_y(z))
                seen = 0.0 <= ix < v.width
                gain = 0.5 * min(1.2, 3.2 / z) * (1.0 if seen else 0.3)
                steps.append(Step(t, (ix - v.cx) / v.cx, gain, k))
        return render_audio(
            n, cfg.audio_rate, np.random.default_rng(self._audio_seed), steps, len(self._people)
        )

    def trackset(self, file_name: str) -> TrackSet:
        """The whole ground truth as a :class:`TrackSet`: one video (id 1), a track
        ``"person N"`` for each person that appears, and per-frame records (ids 1..N in frame,
        then track order) with the mask as compressed RLE and score 1.0."""
        cfg = self.config
        video = VideoInfo(1, file_name, cfg.width, cfg.height, cfg.frames, cfg.fps)
        anns: list[PersonRecord] = []
        seen: set[int] = set()
        for i in range(cfg.frames):
            for p in self.people(i):
                seen.add(p.track_id)
                anns.append(
                    PersonRecord(
                        1,
                        i,
                        p.track_id,
                        p.bbox,
                        p.keypoints.copy(),
                        encode_mask(p.mask),
                        1.0,
                        len(anns) + 1,
                    )
                )
        tracks = [Track(k, 1, f"person {k}") for k in sorted(seen)]
        info = {
            "description": "humanfx synthetic clip",
            "generator": "inference.synth",
            "seed": cfg.seed,
            "people": cfg.people,
            "camera_motion": cfg.camera_motion,
            "props": cfg.props,
        }
        return TrackSet([video], tracks, anns, info)


def self_visible(pts: np.ndarray, fig: fg.Figure) -> np.ndarray:
    """``(17,)`` bool: which joints face the camera (not behind the person's own head or torso)."""
    out = np.ones(NUM_KEYPOINTS, bool)
    d = pts[:, 2]
    hd, b = d[fg.HEAD], fig.head_b
    out[fg.NOSE] = d[fg.NOSE] - hd > -0.25 * b  # still on the silhouette in profile
    out[fg.L_EYE] = d[fg.L_EYE] - hd > -0.1 * b
    out[fg.R_EYE] = d[fg.R_EYE] - hd > -0.1 * b
    out[fg.L_EAR] = d[fg.L_EAR] - hd > -0.3 * b
    out[fg.R_EAR] = d[fg.R_EAR] - hd > -0.3 * b
    for k in (fg.L_SHOULDER, fg.R_SHOULDER):
        out[k] = d[k] - d[fg.NECK] > -0.55 * fig.shoulder_half
    for k in (fg.L_HIP, fg.R_HIP):
        out[k] = d[k] - d[fg.PELVIS] > -0.55 * fig.hip_half
    return out
