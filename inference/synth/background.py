"""The world behind the people: view geometry, camera motion, a textured backdrop and props.

Coordinates.  *World-image* coordinates are frame pixels of the scene seen by the camera at rest
(zoom 1, no pan); the camera of frame ``t`` maps them to frame pixels by
``p = c + zoom * (q - c) + pan`` with ``c`` the frame centre (a pure pan/zoom: a small camera
rotation and focal change move near and far points alike).  Frame pixels follow COCO: pixel
``(row, col)`` covers ``[col, col+1) x [row, row+1)``.

The ground is a plane seen by a pinhole camera ``cam_height`` metres above it, horizon at image row
``horizon``: a point on the ground at depth ``z`` metres lies on world-image row
``horizon + focal * cam_height / z``, and lateral metres ``x`` map to ``cx + focal * x / z``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

Colour = tuple[int, int, int]
Point = tuple[float, float]
Range = tuple[float, float]
_SHIFT = 4
_ONE = 1 << _SHIFT


@dataclass(frozen=True)
class View:
    """Pinhole view of the ground plane (see the module docstring); lengths in pixels/metres."""

    width: int
    height: int
    focal: float
    horizon: float
    cam_height: float

    @property
    def cx(self) -> float:
        return 0.5 * self.width

    @property
    def cy(self) -> float:
        return 0.5 * self.height

    def half_width(self, z: float) -> float:
        """Metres from the centre line to the frame edge at depth ``z``."""
        return 0.5 * self.width * z / self.focal

    def ground_y(self, z: float) -> float:
        return self.horizon + self.focal * self.cam_height / z

    def image_x(self, x: float, z: float) -> float:
        return self.cx + self.focal * x / z

    def scale(self, z: float) -> float:
        """Pixels per metre at depth ``z``."""
        return self.focal / z


def random_view(rng: np.random.Generator, width: int, height: int) -> View:
    return View(
        width,
        height,
        focal=1.2 * height,
        horizon=rng.uniform(0.3, 0.4) * height,
        cam_height=rng.uniform(1.0, 1.45),
    )


@dataclass(frozen=True)
class Camera:
    """One frame's camera: world-image point ``q`` -> frame point ``c + zoom*(q - c) + pan``."""

    zoom: float = 1.0
    pan_x: float = 0.0
    pan_y: float = 0.0

    def apply(self, view: View, x: float, y: float) -> tuple[float, float]:
        return (
            view.cx + self.zoom * (x - view.cx) + self.pan_x,
            view.cy + self.zoom * (y - view.cy) + self.pan_y,
        )


class CameraPath:
    """Smooth pan (a few % of the frame), slow zoom (1..1.06) and a little hand-held shake."""

    def __init__(self, rng: np.random.Generator, view: View, enabled: bool):
        self.view = view
        self.enabled = enabled
        self._p = rng.uniform(0, 2 * math.pi, 6)
        self._f = np.array(
            [
                rng.uniform(0.08, 0.25),
                rng.uniform(0.3, 0.6),
                rng.uniform(0.05, 0.2),
                rng.uniform(0.06, 0.15),
                rng.uniform(1.5, 3.0),
                rng.uniform(1.5, 3.0),
            ]
        )
        self._drift = rng.uniform(-0.02, 0.02)

    def at(self, t: float) -> Camera:
        if not self.enabled:
            return Camera()
        w, h = self.view.width, self.view.height
        s = np.sin(2 * math.pi * self._f * t + self._p)
        drift = self._drift * math.sin(0.5 * math.pi * min(1.0, t / 8.0))  # bounded
        pan_x = w * (0.03 * s[0] + 0.01 * s[1] + drift + 0.0015 * s[4])
        pan_y = h * (0.012 * s[2] + 0.002 * s[5])
        zoom = 1.03 + 0.03 * s[3]
        return Camera(zoom, pan_x, pan_y)


def _gradient(rows: int, c0: Colour | np.ndarray, c1: Colour | np.ndarray) -> np.ndarray:
    """``(rows, 1, 3)`` float64 vertical blend from ``c0`` to ``c1``."""
    u = np.linspace(0.0, 1.0, max(rows, 1))[:, None]
    return ((1 - u) * np.asarray(c0, float) + u * np.asarray(c1, float))[:, None, :]


def _rand_colour(rng: np.random.Generator, s: Range = (0.0, 0.6), v: Range = (0.3, 0.95)) -> Colour:
    """A random RGB colour with saturation and value in the given ranges (0..1)."""
    hsv = np.uint8(
        [[[rng.integers(0, 180), int(255 * rng.uniform(*s)), int(255 * rng.uniform(*v))]]]
    )
    r, g, b = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0]
    return int(r), int(g), int(b)


class Backdrop:
    """A textured, static world (sky or wall, buildings/doors/trees, a floor in perspective)
    rendered once into a canvas larger than the frame; :meth:`plate` shows it through a camera.

    ``theme`` is one of :attr:`THEMES`.  The content is resolution independent: the same random
    draws give the same world at any frame size.
    """

    THEMES = ("street", "room", "park", "hall")

    def __init__(self, rng: np.random.Generator, view: View):
        self.view = view
        w, h = view.width, view.height
        self.mx, self.my = math.ceil(0.12 * w) + 2, math.ceil(0.12 * h) + 2
        self.theme = str(rng.choice(self.THEMES))
        self.canvas = np.zeros((h + 2 * self.my, w + 2 * self.mx, 3), np.uint8)
        # world-image extent of the canvas
        self.x_lo, self.x_hi = -self.mx, w + self.mx
        self.y_lo, self.y_hi = -self.my, h + self.my
        outdoor = self.theme in ("street", "park")
        self.z_back = rng.uniform(14.0, 30.0) if outdoor else rng.uniform(9.5, 13.0)
        self.yb = view.ground_y(self.z_back)  # where the backdrop meets the floor
        self._base(rng, outdoor)
        if self.theme == "park":
            self._tree_line(rng)
        self._elements(rng)
        if not outdoor:  # skirting board
            self._rect(self.x_lo, self.yb - 0.012 * h, self.x_hi, self.yb,
                       _rand_colour(rng, (0.0, 0.4), (0.1, 0.5)))  # fmt: skip
        self._floor(rng)
        self._lighting(rng)

    # -- drawing helpers (world-image coordinates) -------------------------------------------------
    def _pt(self, x: float, y: float) -> tuple[int, int]:
        return round((x + self.mx - 0.5) * _ONE), round((y + self.my - 0.5) * _ONE)

    def _poly(self, pts: list[Point], colour: Colour) -> None:
        cv2.fillConvexPoly(self.canvas, np.array([self._pt(*p) for p in pts], np.int32), colour,
                           cv2.LINE_AA, _SHIFT)  # fmt: skip

    def _rect(self, x0: float, y0: float, x1: float, y1: float, colour: Colour) -> None:
        self._poly([(x0, y0), (x1, y0), (x1, y1), (x0, y1)], colour)

    def _ellipse(self, x: float, y: float, ra: float, rb: float, colour: Colour) -> None:
        cv2.ellipse(self.canvas, self._pt(x, y), (round(ra * _ONE), round(rb * _ONE)), 0, 0, 360,
                    colour, -1, cv2.LINE_AA, _SHIFT)  # fmt: skip

    def _line(self, p0: Point, p1: Point, colour: Colour, thickness: int = 1) -> None:
        cv2.line(self.canvas, self._pt(*p0), self._pt(*p1), colour, thickness, cv2.LINE_AA, _SHIFT)

    # -- layers ---------------------------------------------------------------------------------
    def _base(self, rng: np.random.Generator, outdoor: bool) -> None:
        """Sky or wall above the backdrop line, a floor gradient below."""
        c = self.canvas
        rb = min(max(0, round(self.yb - self.y_lo)), c.shape[0])
        if outdoor:
            top = _rand_colour(rng, (0.2, 0.6), (0.75, 1.0))
            bottom = _rand_colour(rng, (0.0, 0.2), (0.85, 1.0))
        else:
            top = _rand_colour(rng, (0.05, 0.5), (0.45, 0.95))
            bottom = tuple(int(0.85 * q) for q in top)
        c[:rb] = _gradient(rb, top, bottom)[:rb].astype(np.uint8)
        floor = _rand_colour(rng, (0.05, 0.5), (0.25, 0.7))
        if self.theme == "park":  # grass
            g = _rand_colour(rng, (0.4, 0.8), (0.3, 0.6))
            floor = (int(g[0] * 0.5), int(min(255, g[1] * 1.2 + 40)), int(g[2] * 0.4))
        f = np.asarray(floor, float)
        c[rb:] = _gradient(c.shape[0] - rb, 0.85 * f, 1.1 * f)[: c.shape[0] - rb].clip(0, 255)

    def _tree_line(self, rng: np.random.Generator) -> None:
        w, h = self.view.width, self.view.height
        x = self.x_lo
        while x < self.x_hi:
            g = (int(rng.integers(15, 70)), int(rng.integers(60, 130)), int(rng.integers(15, 60)))
            y = self.yb - rng.uniform(0.0, 0.03) * h
            self._ellipse(x, y, rng.uniform(0.03, 0.07) * w, rng.uniform(0.03, 0.09) * h, g)
            x += rng.uniform(0.02, 0.05) * w

    def _elements(self, rng: np.random.Generator) -> None:
        """Buildings, trees, doors, columns, pictures and windows along the backdrop line."""
        w, h, yb, theme = self.view.width, self.view.height, self.yb, self.theme
        x = self.x_lo - rng.uniform(0, 0.1) * w
        while x < self.x_hi:
            bw = rng.uniform(0.06, 0.25) * w
            if theme == "street":  # a building with a grid of windows
                top = yb - rng.uniform(0.15, 0.6) * h
                self._rect(x, top, x + bw - 2, yb, _rand_colour(rng, (0.0, 0.35), (0.3, 0.85)))
                win = _rand_colour(rng, (0.1, 0.6), (0.2, 0.9))
                step = max(3.0, rng.uniform(0.025, 0.05) * h)
                for yy in np.arange(top + 0.6 * step, yb - step, step):
                    for xx in np.arange(x + 0.5 * step, x + bw - step, step):
                        self._rect(xx, yy, xx + 0.55 * step, yy + 0.6 * step, win)
            elif theme == "park":  # a tree
                if rng.random() < 0.6:
                    trunk = (int(rng.integers(60, 110)), int(rng.integers(40, 70)), 30)
                    th = rng.uniform(0.05, 0.15) * h
                    self._rect(x + 0.45 * bw, yb - th, x + 0.55 * bw, yb, trunk)
                    for _ in range(4):
                        g = (int(rng.integers(20, 90)), int(rng.integers(90, 170)),
                             int(rng.integers(20, 80)))  # fmt: skip
                        cx = x + bw * rng.uniform(0.3, 0.7)
                        cy = yb - th - rng.uniform(0.0, 0.12) * h
                        ra = bw * rng.uniform(0.25, 0.5)
                        self._ellipse(cx, cy, ra, ra * rng.uniform(0.6, 1.0), g)
            else:  # room / hall
                kind = rng.random()
                if theme == "hall" or kind < 0.3:  # column
                    col = _rand_colour(rng, (0.0, 0.3), (0.35, 0.9))
                    self._rect(x, self.y_lo, x + 0.3 * bw, yb, col)
                    self._rect(x + 0.24 * bw, self.y_lo, x + 0.3 * bw, yb,
                               tuple(int(q * 0.7) for q in col))  # fmt: skip
                elif kind < 0.55:  # door
                    self._rect(x + 0.1 * bw, yb - 0.3 * h, x + 0.5 * bw, yb,
                               _rand_colour(rng, (0.1, 0.7), (0.2, 0.7)))  # fmt: skip
                    self._rect(x + 0.42 * bw, yb - 0.16 * h, x + 0.45 * bw, yb - 0.14 * h,
                               (200, 190, 120))  # fmt: skip
                elif kind < 0.8:  # a picture in a frame
                    self._rect(x + 0.1 * bw, yb - 0.35 * h, x + 0.8 * bw, yb - 0.15 * h,
                               _rand_colour(rng, (0.0, 0.9), (0.1, 1.0)))  # fmt: skip
                    self._rect(x + 0.2 * bw, yb - 0.32 * h, x + 0.6 * bw, yb - 0.2 * h,
                               _rand_colour(rng, (0.0, 0.9), (0.1, 1.0)))  # fmt: skip
                else:  # window
                    self._rect(x + 0.1 * bw, yb - 0.4 * h, x + 0.9 * bw, yb - 0.12 * h,
                               (170, 205, 235))  # fmt: skip
                    self._line((x + 0.5 * bw, yb - 0.4 * h), (x + 0.5 * bw, yb - 0.12 * h),
                               (90, 80, 70), 2)  # fmt: skip
            x += bw

    def _floor(self, rng: np.random.Generator) -> None:
        """Floor pattern in perspective: a zebra crossing, planks, tiles, a chequerboard or a
        path across a lawn."""
        v, z_back = self.view, self.z_back
        x_lo, x_hi = self.x_lo, self.x_hi
        z_bottom = v.focal * v.cam_height / max(1.0, self.y_hi - v.horizon)
        kind = {"street": "stripes", "park": "path", "hall": "checks",
                "room": str(rng.choice(["planks", "tiles"]))}[self.theme]  # fmt: skip
        line = _rand_colour(rng, (0.0, 0.5), (0.05, 0.95))

        def quad(x0: float, x1: float, z0: float, z1: float) -> list[tuple[float, float]]:
            return [
                (v.image_x(x, z), v.ground_y(z))
                for x, z in ((x0, z0), (x1, z0), (x1, z1), (x0, z1))
            ]

        if kind == "checks":
            step = rng.uniform(0.4, 0.9)
            other = np.array(_rand_colour(rng, (0.0, 0.4), (0.05, 0.95)), np.uint8)
            r0 = max(0, math.ceil(self.yb - self.y_lo))
            if r0 < self.canvas.shape[0]:
                ys = np.arange(r0, self.canvas.shape[0]) + 0.5 + self.y_lo  # world-image rows
                xs = np.arange(self.canvas.shape[1]) + 0.5 + self.x_lo
                z = v.focal * v.cam_height / np.maximum(ys - v.horizon, 1e-3)
                xm = (xs[None, :] - v.cx) * z[:, None] / v.focal
                odd = (np.floor(z / step)[:, None] + np.floor(xm / step)).astype(np.int64) & 1
                self.canvas[r0:][odd.astype(bool)] = other
        elif kind in ("tiles", "planks"):
            step = rng.uniform(0.4, 0.9) if kind == "tiles" else rng.uniform(0.12, 0.25)
            depth_step = step if kind == "tiles" else 4 * step
            for z in [*np.arange(z_back, z_bottom, -depth_step), z_bottom]:
                self._line((x_lo, v.ground_y(z)), (x_hi, v.ground_y(z)), line)
            lat = step if kind == "tiles" else 3 * step
            xr = max(abs(x_lo - v.cx), abs(x_hi - v.cx)) * z_bottom / v.focal * 4
            for j in range(-int(xr / lat) - 1, int(xr / lat) + 2):
                p0 = (v.image_x(j * lat, z_back), v.ground_y(z_back))
                p1 = (v.image_x(j * lat, z_bottom), v.ground_y(z_bottom))
                self._line(p0, p1, line)
        elif kind == "stripes":  # a zebra crossing and a pavement
            white = (int(rng.integers(200, 250)),) * 3
            z0 = rng.uniform(4.0, 8.0)
            z1 = z0 - rng.uniform(1.5, 3.0)
            for j in range(-30, 30, 2):
                self._poly(quad(0.5 * j, 0.5 * j + 0.5, z0, z1), white)
            self._rect(x_lo, v.ground_y(z_back), x_hi, v.ground_y(0.7 * z_back),
                       _rand_colour(rng, (0.0, 0.2), (0.5, 0.8)))  # fmt: skip
        else:  # a gravel path across the lawn
            z0 = rng.uniform(5.0, 9.0)
            z1 = z0 - rng.uniform(1.0, 2.0)
            self._rect(x_lo, v.ground_y(z0), x_hi, v.ground_y(z1),
                       _rand_colour(rng, (0.1, 0.35), (0.55, 0.85)))  # fmt: skip

    def _lighting(self, rng: np.random.Generator) -> None:
        """Low-frequency illumination (a 12 x 16 grid of gains, smoothly interpolated) and a
        fine grain."""
        ch, cw = self.canvas.shape[:2]
        gains = rng.uniform(0.85, 1.12, (12, 16)).astype(np.float32)
        light = cv2.resize(gains, (cw, ch), interpolation=cv2.INTER_CUBIC)
        grain = 4.0 * rng.standard_normal((max(2, ch // 2), max(2, cw // 2), 3), np.float32)
        grain = cv2.resize(grain, (cw, ch), interpolation=cv2.INTER_NEAREST)
        lit = self.canvas.astype(np.float32) * light[:, :, None] + grain
        self.canvas = np.clip(lit, 0, 255).astype(np.uint8)

    def plate(self, cam: Camera) -> np.ndarray:
        """``(H, W, 3)`` uint8 RGB: the backdrop as the camera ``cam`` sees it.

        The view is resampled (bilinear) from a whole-pixel window of the canvas, so the
        backdrop's position is exact to within half a canvas pixel (people are placed exactly).
        """
        v = self.view
        # frame point p shows world-image point q = c + (p - c - pan) / zoom
        x0 = (0.0 - v.cx - cam.pan_x) / cam.zoom + v.cx + self.mx
        y0 = (0.0 - v.cy - cam.pan_y) / cam.zoom + v.cy + self.my
        ix, iy = round(x0), round(y0)
        sw, sh = round(v.width / cam.zoom), round(v.height / cam.zoom)
        ch, cw = self.canvas.shape[:2]
        ix, iy = min(max(ix, 0), cw - sw), min(max(iy, 0), ch - sh)
        window = self.canvas[iy : iy + sh, ix : ix + sw]
        if sw == v.width and sh == v.height:
            return window.copy()
        return cv2.resize(window, (v.width, v.height), interpolation=cv2.INTER_LINEAR)


@dataclass(frozen=True)
class Prop:
    """A static object standing on the ground that can hide people behind it (a pole, pillar,
    planter or bollard).  ``x``, ``z``, ``width``, ``height`` in metres; colours RGB."""

    kind: str
    x: float
    z: float
    width: float
    height: float
    colour: tuple[int, int, int]
    band: tuple[int, int, int]
    band_at: tuple[float, float]  # band's bottom and top, metres above the ground

    def geometry(self, view: View, cam: Camera) -> tuple[float, float, float, list[np.ndarray]]:
        """``(depth, anchor_x, anchor_y, [body, band, shade])`` quads (``(4, 2)`` frame pixels);
        ``depth`` is the frame row of its ground line, like a person's."""
        ax, ay = cam.apply(view, view.image_x(self.x, self.z), view.ground_y(self.z))
        s = view.scale(self.z) * cam.zoom
        hw = 0.5 * self.width * s

        def quad(x0: float, x1: float, y0: float, y1: float) -> np.ndarray:
            return np.array(
                [[ax + x0, ay - y0], [ax + x1, ay - y0], [ax + x1, ay - y1], [ax + x0, ay - y1]]
            )

        top = self.height * s
        b0, b1 = (min(self.height, b) * s for b in self.band_at)
        return (
            ay,
            ax,
            ay,
            [quad(-hw, hw, 0.0, top), quad(-hw, hw, b0, b1), quad(0.55 * hw, hw, 0.0, top)],
        )


def random_props(rng: np.random.Generator, view: View, z_range: tuple[float, float]) -> list[Prop]:
    """0-2 props in the people's depth range, inside the view."""
    n = int(rng.choice([0, 0, 1, 1, 1, 2]))
    out = []
    for _ in range(n):
        kind = str(rng.choice(["pole", "pillar", "planter", "bollard"]))
        z = rng.uniform(z_range[0] + 0.6, z_range[1] - 0.5)
        x = rng.uniform(-0.8, 0.8) * view.half_width(z)
        w, hgt = {
            "pole": (rng.uniform(0.08, 0.2), 20.0),
            "pillar": (rng.uniform(0.35, 0.7), 20.0),
            "planter": (rng.uniform(0.9, 2.2), rng.uniform(0.45, 0.9)),
            "bollard": (rng.uniform(0.15, 0.3), rng.uniform(0.8, 1.1)),
        }[kind]
        b0 = rng.uniform(0.0, max(0.05, min(hgt, 3.0) - 0.3))
        out.append(
            Prop(
                kind,
                float(x),
                float(z),
                float(w),
                float(hgt),
                _rand_colour(rng, (0.0, 0.8), (0.15, 0.9)),
                _rand_colour(rng, (0.0, 1.0), (0.2, 1.0)),
                (float(b0), float(b0 + rng.uniform(0.08, 0.3))),
            )
        )
    return out
