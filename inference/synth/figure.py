"""Procedural articulated figure: body proportions, 3D pose and rasterisation into part maps.

A figure is a 2.5D puppet.  Its joints are computed in 3D *body coordinates* (metres; ``x`` the
person's left, ``y`` up, ``z`` forward; origin on the ground below the pelvis), turned by the
facing angle ``yaw`` into *camera-aligned* coordinates (``X`` image-right, ``Y`` up, ``D`` toward
the camera) and projected orthographically: a point lands at ``(ax + s*X, ay - s*Y)`` in frame
pixels, where ``(ax, ay)`` is the ground point below the pelvis and ``s`` the pixels per metre.
``yaw = 0`` faces the camera; ``yaw = +pi/2`` faces image-right.

Frame pixel coordinates follow COCO (see :mod:`inference.tracks.model`): origin at the top-left
corner of the top-left pixel, so pixel ``(row, col)`` covers ``[col, col+1) x [row, row+1)`` and its
centre is ``(col + 0.5, row + 0.5)``.  OpenCV's rasteriser puts pixel centres on integers, so every
vertex is shifted by ``-0.5`` before drawing (with 4 fractional bits).

Body parts are drawn (aliased, so the pixels are exact) into a ``uint8`` *part map* in painter's
order of their camera depth; :func:`inference.synth.look.colorize` paints a part map.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np

from inference.synth.look import (
    BOTTOM,
    DARK,
    HAIR_M,
    SHOES,
    SKIN,
    TOP,
    Appearance,
    Palette,
    material_colours,
)
from inference.tracks.model import NUM_KEYPOINTS

# -- points: the 17 COCO keypoints (COCO order) followed by construction points -----------------
NOSE, L_EYE, R_EYE, L_EAR, R_EAR = 0, 1, 2, 3, 4
L_SHOULDER, R_SHOULDER, L_ELBOW, R_ELBOW, L_WRIST, R_WRIST = 5, 6, 7, 8, 9, 10
L_HIP, R_HIP, L_KNEE, R_KNEE, L_ANKLE, R_ANKLE = 11, 12, 13, 14, 15, 16
NECK, HEAD, PELVIS, L_HAND, R_HAND, L_TOE, R_TOE = 17, 18, 19, 20, 21, 22, 23
N_POINTS = 24

# -- parts (ids in a part map; 0 = empty) -------------------------------------------------------
# fmt: off
(TORSO, HIPS, NECK_P, HEAD_P, HAIR, EYES, L_UARM, L_FARM, L_HAND_P, R_UARM, R_FARM, R_HAND_P,
 L_THIGH, L_SHIN, L_FOOT, R_THIGH, R_SHIN, R_FOOT) = range(1, 19)
# fmt: on
N_PARTS = 19  # palette size, including 0

#: parts whose pixels may show a keypoint as *visible* (own-body occlusion by other parts)
KEYPOINT_PARTS: tuple[frozenset[int], ...] = (frozenset({HEAD_P, EYES, HAIR}),) * 5 + (
    frozenset({TORSO, L_UARM}),
    frozenset({TORSO, R_UARM}),
    frozenset({L_UARM, L_FARM}),
    frozenset({R_UARM, R_FARM}),
    frozenset({L_FARM, L_HAND_P}),
    frozenset({R_FARM, R_HAND_P}),
    frozenset({HIPS, TORSO, L_THIGH}),
    frozenset({HIPS, TORSO, R_THIGH}),
    frozenset({L_THIGH, L_SHIN}),
    frozenset({R_THIGH, R_SHIN}),
    frozenset({L_SHIN, L_FOOT}),
    frozenset({R_SHIN, R_FOOT}),
)
#: a (N_KEYPOINTS, N_PARTS) lookup table of :data:`KEYPOINT_PARTS`
KEYPOINT_PART_LUT = np.zeros((NUM_KEYPOINTS, N_PARTS), dtype=bool)
for _k, _parts in enumerate(KEYPOINT_PARTS):
    KEYPOINT_PART_LUT[_k, list(_parts)] = True

_SHIFT = 4
_ONE = 1 << _SHIFT
_LEFT_LIMBS = (L_UARM, L_FARM, L_HAND_P, L_THIGH, L_SHIN, L_FOOT)
_RIGHT_LIMBS = (R_UARM, R_FARM, R_HAND_P, R_THIGH, R_SHIN, R_FOOT)
#: arm angles at rest (see :class:`Pose`)
REST_ARM = (0.0, 0.08, 0.15, 0.08)


@dataclass(frozen=True)
class Pose:
    """Joint angles of a figure at one instant (radians unless noted).

    ``legs``: ``(2, 2)`` rows (left, right) of ``(thigh swing, knee bend)``; swing > 0 is forward.
    ``arms``: ``(2, 4)`` rows (left, right) of ``(upper flex, upper abduction, forearm flex,
    forearm abduction)``: a segment's direction is ``(side*sin(abd), -cos(abd)*cos(flex),
    cos(abd)*sin(flex))`` in body coordinates, so flex swings it forward and abduction raises
    it sideways (pi = straight up).
    """

    yaw: float
    head_yaw: float = 0.0
    lean: float = 0.0
    legs: np.ndarray = field(default_factory=lambda: np.zeros((2, 2)))
    arms: np.ndarray = field(default_factory=lambda: np.array([REST_ARM, REST_ARM]))


def _dir(flex: float, abd: float, side: float) -> tuple[float, float, float]:
    ca = math.cos(abd)
    return side * math.sin(abd), -ca * math.cos(flex), ca * math.sin(flex)


class Figure:
    """One person's body: fixed proportions from an :class:`Appearance`, posed per frame."""

    def __init__(self, app: Appearance):
        self.app = app
        h, b = app.height, app.build
        self.thigh, self.shin, self.foot = 0.245 * h, 0.246 * h, 0.13 * h
        self.upper_arm, self.forearm = 0.186 * h, 0.146 * h
        self.hip_half, self.shoulder_half = 0.052 * h * b, 0.1 * h * min(b, 1.15)
        self.spine = 0.288 * h
        hs = app.head
        self.head_a, self.head_b, self.head_c = 0.047 * h * hs, 0.056 * h * hs, 0.066 * h * hs
        self.neck_len = 0.118 * h * (0.7 + 0.3 * hs)
        self.r_uarm, self.r_farm, self.r_hand = 0.036 * h * b, 0.027 * h * b, 0.03 * h
        self.r_thigh, self.r_shin, self.r_ankle, self.r_foot = (
            0.062 * h * b,
            0.04 * h * b,
            0.028 * h,
            0.026 * h,
        )
        self.r_neck = 0.03 * h * b
        self.torso_w, self.waist_w, self.hips_w, self.torso_d = (
            0.25 * h * b,
            0.2 * h * b,
            0.21 * h * b,
            0.13 * h * b,
        )
        a, b, c = self.head_a, self.head_b, self.head_c
        # nose, eyes and ears in head coordinates (inside the head's ellipsoid)
        self._face = np.array([[0.0, -0.1 * c, 0.95 * b], [0.35 * a, 0.15 * c, 0.82 * b],
                               [-0.35 * a, 0.15 * c, 0.82 * b], [0.9 * a, 0.0, -0.1 * b],
                               [-0.9 * a, 0.0, -0.1 * b]])  # fmt: skip
        self.hand = 0.04 * h
        self.materials = np.zeros(N_PARTS, dtype=np.int64)
        m = self.materials
        m[[TORSO, L_UARM, R_UARM]] = TOP
        m[[L_FARM, R_FARM]] = TOP if app.long_sleeves else SKIN
        m[[HIPS, L_THIGH, R_THIGH]] = BOTTOM
        m[[L_SHIN, R_SHIN]] = SKIN if app.shorts else BOTTOM
        m[[NECK_P, HEAD_P, L_HAND_P, R_HAND_P]] = SKIN
        m[HAIR], m[EYES], m[[L_FOOT, R_FOOT]] = HAIR_M, DARK, SHOES

    # -- 3D ---------------------------------------------------------------------------------------
    def pose3d(self, pose: Pose) -> np.ndarray:
        """``(N_POINTS, 3)`` float64 camera-aligned coordinates ``(X, Y, D)`` in metres."""
        p: list[tuple[float, float, float]] = [(0.0, 0.0, 0.0)] * N_POINTS
        cos, sin = math.cos, math.sin
        low = math.inf
        for k, (swing, bend) in enumerate(pose.legs.tolist()):
            side = 1.0 - 2.0 * k
            hx = side * self.hip_half
            kx, ky, kz = (
                hx + 0.03 * side * self.thigh,
                -self.thigh * cos(swing),
                self.thigh * sin(swing),
            )
            shin = swing - bend
            ay, az = ky - self.shin * cos(shin), kz + self.shin * sin(shin)
            rho = min(0.9, max(0.0, -0.9 * shin))  # toes point down when the shin is behind
            ty, tz = ay - self.foot * (sin(rho) + 0.05), az + self.foot * cos(rho)
            p[L_HIP + k], p[L_KNEE + k] = (hx, 0.0, 0.0), (kx, ky, kz)
            p[L_ANKLE + k], p[L_TOE + k] = (kx, ay, az), (kx, ty, tz)
            low = min(low, ay - self.r_ankle, ty - self.r_foot)
        lift = -low  # the lowest foot touches the ground
        for i in (L_HIP, R_HIP, L_KNEE, R_KNEE, L_ANKLE, R_ANKLE, L_TOE, R_TOE):
            x, y, z = p[i]
            p[i] = (x, y + lift, z)
        lean = pose.lean
        nx, ny, nz = 0.0, lift + self.spine * cos(lean), self.spine * sin(lean)
        p[PELVIS], p[NECK] = (0.0, lift, 0.0), (nx, ny, nz)
        head = (0.0, ny + self.neck_len * cos(0.5 * lean), nz + self.neck_len * sin(0.5 * lean))
        p[HEAD] = head
        drop = 0.012 * self.app.height
        for k, (f1, a1, f2, a2) in enumerate(pose.arms.tolist()):
            side = 1.0 - 2.0 * k
            sh = (side * self.shoulder_half, ny - drop, nz)
            u = _dir(f1, a1, side)
            el = tuple(c + self.upper_arm * d for c, d in zip(sh, u, strict=True))
            v = _dir(f2, a2, side)
            wr = tuple(c + self.forearm * d for c, d in zip(el, v, strict=True))
            hand = tuple(c + self.hand * d for c, d in zip(wr, v, strict=True))
            p[L_SHOULDER + k], p[L_ELBOW + k], p[L_WRIST + k], p[L_HAND + k] = sh, el, wr, hand
        out = np.array(p)
        out[:5] = np.array(head) + _turn(self._face, pose.head_yaw)  # turned by the head's own yaw
        return _turn(out, pose.yaw)

    def palette(self, yaw: float) -> Palette:
        """Colours of the parts for a figure facing ``yaw``: the far side is in shade."""
        colours = material_colours(self.app)
        base = np.zeros((N_PARTS, 3))
        alt = np.zeros((N_PARTS, 3))
        for part in range(1, N_PARTS):
            base[part], alt[part] = colours[int(self.materials[part])]
        sy = math.sin(yaw)
        shade = np.ones(N_PARTS)
        if abs(sy) > 0.3:
            shade[list(_LEFT_LIMBS if sy > 0 else _RIGHT_LIMBS)] = 0.78
        shade[[HIPS, L_THIGH, R_THIGH, L_SHIN, R_SHIN]] *= 0.93
        return Palette(
            base * shade[:, None],
            alt * shade[:, None],
            self.materials == TOP,
            self.materials == BOTTOM,
        )

    # -- 2D ---------------------------------------------------------------------------------------
    def primitives(
        self, pts: np.ndarray, pose: Pose, ax: float, ay: float, s: float
    ) -> list[tuple]:
        """Drawing primitives in painter's order: ``(part, kind, geometry)``, frame pixels.

        ``pts`` comes from :meth:`pose3d`; ``(ax, ay)`` is the pelvis' ground point in the frame
        and ``s`` the pixels per metre.  Kinds and geometry (floats): ``"capsule"``
        ``(x0, y0, x1, y1, r0, r1)``, ``"ellipse"`` ``(cx, cy, ra, rb)``, ``"poly"`` ``((N, 2)
        array,)``.
        """
        X = (ax + s * pts[:, 0]).tolist()
        Y = (ay - s * pts[:, 1]).tolist()
        d = pts[:, 2].tolist()
        items: list[tuple[float, int, str, tuple]] = []

        def capsule(part: int, i: int, j: int, r0: float, r1: float, bias: float = 0.0) -> None:
            geom = (X[i], Y[i], X[j], Y[j], s * r0, s * r1)
            items.append((0.5 * (d[i] + d[j]) + bias, part, "capsule", geom))

        cy, sy = abs(math.cos(pose.yaw)), abs(math.sin(pose.yaw))
        # torso: a projected box, tapering to the waist, split into shirt and trousers
        neck, pelvis = np.array([X[NECK], Y[NECK]]), np.array([X[PELVIS], Y[PELVIS]])
        axis = neck - pelvis
        length = max(math.hypot(axis[0], axis[1]), 1e-6)
        u = axis / length
        n = np.array([-u[1], u[0]])
        widths = (self.torso_w, self.torso_w, self.waist_w, self.hips_w)
        hw = [0.5 * s * (w * cy + self.torso_d * sy) for w in widths]
        levels = (neck - 0.02 * length * u, neck - 0.22 * length * u, neck - 0.62 * length * u,
                  pelvis + 0.12 * length * u)  # fmt: skip
        left = [c + w * n for c, w in zip(levels, hw, strict=True)]
        right = [c - w * n for c, w in zip(levels, hw, strict=True)]
        shirt = np.array([0.985 * left[0] + 0.015 * right[0], *left[1:], *right[:0:-1],
                          0.985 * right[0] + 0.015 * left[0]])  # fmt: skip
        down = 0.25 * length * u
        crotch = pelvis - 0.2 * length * u
        hips = np.array([left[3], left[3] - down, crotch, right[3] - down, right[3]])
        items.append((0.0, TORSO, "poly", (shirt,)))
        items.append((-0.004, HIPS, "poly", (hips,)))
        capsule(NECK_P, NECK, HEAD, self.r_neck, self.r_neck * 0.9, 0.01)
        # head, hair, eyes
        head_yaw = pose.yaw + pose.head_yaw
        ch, sh = math.cos(head_yaw), math.sin(head_yaw)
        ra = s * math.hypot(self.head_a * ch, self.head_b * sh)
        rb = s * self.head_c
        hx, hy, hd = X[HEAD], Y[HEAD], d[HEAD]
        items.append((hd + 0.05, HEAD_P, "ellipse", (hx, hy, ra, rb)))
        style = self.app.hair_style
        back = -sh * ra  # image x offset toward the back of the head
        front = 1.0 if ch > 0 else -1.0  # hair behind the face, or over the back of the head
        if style in ("short", "long"):
            hair = (hx + 0.18 * back, hy - 0.2 * rb, 1.06 * ra, 0.92 * rb)
            items.append((hd + 0.05 - 0.02 * front, HAIR, "ellipse", hair))
            if style == "long":
                x0 = hx + 0.25 * back
                tail = (x0, hy, x0, hy + 1.5 * rb, 0.8 * ra, 0.65 * ra)
                items.append((hd - 0.03 * front * (0.3 + cy), HAIR, "capsule", tail))
        elif style == "cap":
            items.append((hd + 0.07, HAIR, "ellipse", (hx, hy - 0.45 * rb, 1.04 * ra, 0.6 * rb)))
            brim = (hx + 0.9 * sh * ra, hy - 0.32 * rb, ra * (0.25 + 0.45 * abs(sh)), 0.12 * rb)
            items.append((hd + 0.07, HAIR, "ellipse", brim))
        if ch > 0.15:
            r_eye = max(0.35, 0.1 * ra)
            for k in (L_EYE, R_EYE):
                if d[k] > hd:
                    items.append((hd + 0.06, EYES, "ellipse", (X[k], Y[k], r_eye, r_eye)))
        # limbs
        for k, (ua, fa, hand, th, sn, ft) in enumerate((_LEFT_LIMBS, _RIGHT_LIMBS)):
            capsule(ua, L_SHOULDER + k, L_ELBOW + k, self.r_uarm, self.r_uarm * 0.85, 0.001)
            capsule(fa, L_ELBOW + k, L_WRIST + k, self.r_farm, self.r_farm * 0.85, 0.002)
            r = s * self.r_hand
            items.append(
                (d[L_HAND + k] + 0.003, hand, "ellipse", (X[L_HAND + k], Y[L_HAND + k], r, r))
            )
            capsule(th, L_HIP + k, L_KNEE + k, self.r_thigh, self.r_thigh * 0.72, -0.03)
            capsule(sn, L_KNEE + k, L_ANKLE + k, self.r_shin, self.r_ankle, -0.028)
            capsule(ft, L_ANKLE + k, L_TOE + k, self.r_foot, self.r_foot, -0.026)
        items.sort(key=lambda it: (it[0], it[1]))
        return [(part, kind, geom) for _, part, kind, geom in items]


def _turn(p: np.ndarray, yaw: float) -> np.ndarray:
    """Rotate ``(N, 3)`` body coordinates (x left, y up, z forward) by ``yaw`` about the vertical
    into camera-aligned ``(X, Y, D)``."""
    c, s = math.cos(yaw), math.sin(yaw)
    out = np.empty_like(p)
    out[:, 0] = p[:, 0] * c + p[:, 2] * s
    out[:, 1] = p[:, 1]
    out[:, 2] = -p[:, 0] * s + p[:, 2] * c
    return out


def primitive_bounds(prims: list[tuple]) -> tuple[float, float, float, float]:
    """``(x0, y0, x1, y1)`` frame-pixel bounds of the primitives (inclusive of radii)."""
    x0 = y0 = math.inf
    x1 = y1 = -math.inf
    for _, kind, g in prims:
        if kind == "capsule":
            r = max(g[4], g[5])
            x0, x1 = min(x0, g[0] - r, g[2] - r), max(x1, g[0] + r, g[2] + r)
            y0, y1 = min(y0, g[1] - r, g[3] - r), max(y1, g[1] + r, g[3] + r)
        elif kind == "ellipse":
            x0, x1 = min(x0, g[0] - g[2]), max(x1, g[0] + g[2])
            y0, y1 = min(y0, g[1] - g[3]), max(y1, g[1] + g[3])
        else:
            lo, hi = g[0].min(0), g[0].max(0)
            x0, y0, x1, y1 = min(x0, lo[0]), min(y0, lo[1]), max(x1, hi[0]), max(y1, hi[1])
    return float(x0), float(y0), float(x1), float(y1)


def draw_primitives(canvas: np.ndarray, prims: list[tuple], x0: int, y0: int) -> None:
    """Rasterise ``prims`` (frame pixels) into ``canvas``, a ``uint8`` part map whose top-left
    pixel is frame pixel ``(y0, x0)``; each primitive writes its part id (aliased, exact).

    Coordinates go to OpenCV in fixed point (4 fractional bits), shifted by -0.5 px because
    OpenCV puts pixel centres on integers.
    """
    ox, oy = x0 + 0.5, y0 + 0.5
    line, shift = cv2.LINE_8, _SHIFT
    for part, kind, g in prims:
        if kind == "capsule":
            ax, ay, bx, by, r0, r1 = g
            ax, ay, bx, by = (ax - ox) * _ONE, (ay - oy) * _ONE, (bx - ox) * _ONE, (by - oy) * _ONE
            r0, r1 = r0 * _ONE, r1 * _ONE
            dx, dy = bx - ax, by - ay
            ln = math.hypot(dx, dy)
            if ln > 1e-3:
                nx, ny = -dy / ln, dx / ln
                quad = [(ax + r0 * nx, ay + r0 * ny), (bx + r1 * nx, by + r1 * ny),
                        (bx - r1 * nx, by - r1 * ny), (ax - r0 * nx, ay - r0 * ny)]  # fmt: skip
                cv2.fillConvexPoly(canvas, np.rint(quad).astype(np.int32), part, line, shift)
            cv2.circle(canvas, (round(ax), round(ay)), round(r0), part, -1, line, shift)
            cv2.circle(canvas, (round(bx), round(by)), round(r1), part, -1, line, shift)
        elif kind == "ellipse":
            cx, cy, ra, rb = g
            centre = (round((cx - ox) * _ONE), round((cy - oy) * _ONE))
            axes = (round(ra * _ONE), round(rb * _ONE))
            cv2.ellipse(canvas, centre, axes, 0.0, 0.0, 360.0, part, -1, line, shift)
        else:
            pts = np.rint((g[0] - (ox, oy)) * _ONE).astype(np.int32)
            cv2.fillPoly(canvas, [pts], part, line, shift)
