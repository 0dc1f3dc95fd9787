"""Scripted motion of the synthetic people: where each one walks, stands, gestures and turns.

World coordinates are metres on the ground plane: ``x`` to the camera's right, ``z`` the distance
from the camera.  Time ``t`` is in seconds from the start of the clip (a float derived from the
exact frame time ``index / fps``; the script is a pure function of it, so any frame can be posed
in any order).

A person's behaviour is a list of :class:`Segment` covering the clip: straight walks at constant
speed (their gait phase advances with the distance walked, so the feet do not slide much) and
stands (possibly with a gesture).  Between segments, facing, gait amplitude and lean blend over
:data:`BLEND` seconds.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from inference.synth.figure import REST_ARM, Pose

BLEND = 0.3  #: seconds over which facing and gait blend into the next segment
GESTURES = ("wave", "raise", "both", "point", "flap", "phone", "hips")


@dataclass(frozen=True)
class Segment:
    """One piece of a person's script.  ``amp`` is the leg swing amplitude (0: standing);
    ``cadence`` the gait phase rate (rad/s); ``gesture`` ``""`` for none, else one of
    :data:`GESTURES` on arm ``side`` (+1 left, -1 right, 0 both) from ``g0`` to ``g1`` s."""

    t0: float
    t1: float
    x0: float
    z0: float
    x1: float
    z1: float
    yaw: float
    amp: float = 0.0
    cadence: float = 0.0
    phase0: float = 0.0
    jog: float = 0.0
    gesture: str = ""
    side: int = 1
    g0: float = 0.0
    g1: float = 0.0

    @property
    def walking(self) -> bool:
        return self.amp > 0.0


def _smooth(u: float) -> float:
    u = min(1.0, max(0.0, u))
    return u * u * (3.0 - 2.0 * u)


def _wrap(a: float) -> float:
    return (a + math.pi) % (2.0 * math.pi) - math.pi


def _gesture_arm(kind: str, tau: float) -> tuple[float, float, float, float]:
    """Target ``(flex, abd, forearm flex, forearm abd)`` of a gesturing arm, ``tau`` s into it."""
    w = math.sin(2.0 * math.pi * 2.0 * tau)
    if kind == "wave":
        return 0.25, 1.95, 0.2, 2.85 + 0.35 * w
    if kind == "raise":
        return 0.1, 2.75, 0.1, 2.95
    if kind == "both":
        return 0.1, 2.4, 0.1, 2.55
    if kind == "point":
        return 1.45, 0.15, 1.5, 0.12
    if kind == "flap":
        f = math.sin(2.0 * math.pi * 1.3 * tau)
        return 0.0, 1.2 + 0.55 * f, 0.0, 1.3 + 0.65 * f
    if kind == "phone":
        return 0.35, 0.25, 2.5, 0.6
    return 0.0, 0.75, -0.3, -0.9  # hips


class Script:
    """A person's behaviour over the clip; :meth:`at` poses them at any time."""

    def __init__(self, segments: list[Segment], *, idle: float = 0.0):
        if not segments:
            raise ValueError("a script needs at least one segment")
        self.segments = segments
        self._starts = [s.t0 for s in segments]
        self._idle = idle  # phase of idle head motion

    def _index(self, t: float) -> int:
        return max(0, bisect.bisect_right(self._starts, t) - 1)

    def position(self, t: float) -> tuple[float, float]:
        """``(x, z)`` ground position in metres at ``t``."""
        s = self.segments[self._index(t)]
        u = 0.0 if s.t1 <= s.t0 else min(1.0, max(0.0, (t - s.t0) / (s.t1 - s.t0)))
        return s.x0 + u * (s.x1 - s.x0), s.z0 + u * (s.z1 - s.z0)

    def at(self, t: float) -> tuple[float, float, Pose]:
        """``(x, z, pose)`` at time ``t``."""
        k = self._index(t)
        s = self.segments[k]
        p = self.segments[k - 1] if k > 0 else s
        w = _smooth((t - s.t0) / BLEND)
        yaw = p.yaw + _wrap(s.yaw - p.yaw) * w
        amp = p.amp + (s.amp - p.amp) * w
        jog = p.jog + (s.jog - p.jog) * w
        phase = s.phase0 + s.cadence * (t - s.t0)
        legs = np.empty((2, 2))
        arms = np.empty((2, 4))
        a_rel = amp / 0.4
        for k2 in (0, 1):
            ps = phase + k2 * math.pi
            swing = amp * math.sin(ps)
            a = min(1.0, a_rel)  # knee flexion peaks mid-swing, ~50 deg walking, ~100 jogging
            bend = a * (0.1 + (0.75 + 0.5 * jog) * max(0.0, math.cos(ps)) ** 2 + 0.35 * jog) + 0.04
            legs[k2] = swing, bend
            sa = -amp * (0.9 + 0.3 * jog) * math.sin(ps)
            arms[k2] = (
                sa,
                REST_ARM[1] + 0.06 * jog,
                sa + REST_ARM[2] + 0.4 * max(0.0, sa) + 1.3 * jog,
                REST_ARM[3],
            )
        if s.gesture and s.g0 <= t <= s.g1:
            gw = _smooth((t - s.g0) / 0.3) * _smooth((s.g1 - t) / 0.3)
            target = np.array(_gesture_arm(s.gesture, t - s.g0))
            for k2, side in ((0, 1), (1, -1)):
                if s.side in (0, side):
                    arms[k2] += gw * (target - arms[k2])
        stand = max(0.0, 1.0 - a_rel)
        head_yaw = (0.45 * stand + 0.06) * math.sin(0.8 * t + self._idle)
        lean = min(1.0, a_rel) * (0.04 + 0.12 * jog)
        x, z = self.position(t)
        return x, z, Pose(yaw=yaw, head_yaw=head_yaw, lean=lean, legs=legs, arms=arms)

    def steps(self) -> list[tuple[float, int]]:
        """Heel strikes ``(t, foot)`` (foot 0 left, 1 right) of all walking segments."""
        out = []
        for s in self.segments:
            if not s.walking or s.cadence <= 0:
                continue
            # left heel strikes at phase pi/2 (mod 2pi), right at 3pi/2
            k = math.ceil((s.phase0 - 0.5 * math.pi) / math.pi)
            while True:
                t = s.t0 + (0.5 * math.pi + k * math.pi - s.phase0) / s.cadence
                if t >= s.t1:
                    break
                if t >= s.t0 + 0.5 * BLEND:  # no strike while the gait is still blending in
                    out.append((t, k % 2))
                k += 1
        return out


class Planner:
    """Writes :class:`Script` s for the people of one scene.

    ``half_width(z)``: metres from the view's centre line to the frame edge at depth ``z``.
    ``z_range``: nearest and farthest ground depth people use.
    """

    def __init__(
        self,
        rng: np.random.Generator,
        duration: float,
        half_width: Callable[[float], float],
        z_range: tuple[float, float],
    ):
        self.rng = rng
        self.T = duration
        self.half_width = half_width
        self.z_min, self.z_max = z_range

    # -- helpers ------------------------------------------------------------------------------
    def off(self, z: float) -> float:
        """|x| beyond which a person at depth ``z`` is fully outside the frame, with margin for
        the camera's pan and zoom and for outstretched arms."""
        return 1.24 * self.half_width(z) + 0.9

    def clamp_z(self, z: float) -> float:
        return min(self.z_max, max(self.z_min, z))

    def _cadence(self, height: float, speed: float, jog: float) -> tuple[float, float]:
        amp = 0.55 if jog else 0.2 + 0.12 * speed
        cycle = 4.0 * 0.53 * height * math.sin(amp) * (1.3 if jog else 1.0)
        return amp, 2.0 * math.pi * speed / cycle

    def walk(
        self,
        segs: list[Segment],
        t: float,
        x: float,
        z: float,
        x1: float,
        z1: float,
        height: float,
        phase: float,
        *,
        speed: float | None = None,
        gesture: bool = True,
    ) -> tuple[float, float]:
        """Append a walk from ``(x, z)`` to ``(x1, z1)`` starting at ``t``; returns ``(t, phase)``
        at its end."""
        rng = self.rng
        jog = 0.0
        if speed is None:
            jog = 1.0 if rng.random() < 0.12 else 0.0
            speed = rng.uniform(2.2, 3.2) if jog else rng.uniform(0.6, 1.9)
        dist = math.hypot(x1 - x, z1 - z)
        dur = max(0.4, dist / speed)
        amp, cad = self._cadence(height, dist / dur, jog) if dist > 0.05 else (0.0, 0.0)
        yaw = math.atan2(x1 - x, -(z1 - z)) if dist > 1e-6 else (segs[-1].yaw if segs else 0.0)
        g = ""
        side, g0, g1 = 1, 0.0, 0.0
        if gesture and not jog and dur > 1.2 and rng.random() < 0.2:
            g, side = "wave", int(rng.choice([-1, 1]))
            g0 = t + rng.uniform(0.2, dur - 1.0)
            g1 = min(t + dur, g0 + rng.uniform(0.8, 2.0))
        segs.append(Segment(t, t + dur, x, z, x1, z1, yaw, amp, cad, phase, jog, g, side, g0, g1))
        return t + dur, phase + cad * dur

    def stand(
        self,
        segs: list[Segment],
        t: float,
        x: float,
        z: float,
        phase: float,
        dur: float,
        *,
        gesture: bool = True,
    ) -> float:
        """Append a stand of ``dur`` seconds at ``(x, z)`` from ``t``, often turning to face the
        camera and often with a gesture; returns its end time."""
        rng = self.rng
        prev = segs[-1].yaw if segs else 0.0
        r = rng.random()
        yaw = (
            prev
            if r < 0.35
            else (rng.uniform(-1.2, 1.2) if r < 0.85 else rng.uniform(-math.pi, math.pi))
        )
        g, side, g0, g1 = "", 1, 0.0, 0.0
        if gesture and dur > 0.9 and rng.random() < 0.65:
            g = str(rng.choice(GESTURES))
            side = 0 if g in ("both", "flap", "hips") else int(rng.choice([-1, 1]))
            g0 = t + rng.uniform(0.1, 0.4)
            g1 = t + dur - rng.uniform(0.05, 0.3)
        segs.append(Segment(t, t + dur, x, z, x, z, yaw, 0.0, 0.0, phase, 0.0, g, side, g0, g1))
        return t + dur

    # -- scripts ------------------------------------------------------------------------------
    def crossing(
        self, height_a: float, height_b: float, z_a: float, z_b: float, width: float, focal: float
    ) -> tuple[Script, Script]:
        """Two people walking across each other in opposite directions at different depths;
        both start inside the view and cross in the image within the first seconds."""
        rng = self.rng
        v_a, v_b = rng.uniform(0.8, 1.7), rng.uniform(0.8, 1.7)
        i_a, i_b = focal * v_a / z_a, focal * v_b / z_b  # image speeds, px/s
        tc = min(rng.uniform(0.35, 0.65) * self.T, rng.uniform(1.2, 3.5))
        gap = min((i_a + i_b) * tc, 0.8 * width)
        tc = gap / (i_a + i_b)
        fa = i_a / (i_a + i_b)
        lo, hi = 0.1 * width + gap * fa, 0.9 * width - gap * (1.0 - fa)
        xc = lo + rng.random() * max(0.0, hi - lo)
        d = 1.0 if rng.random() < 0.5 else -1.0  # a walks to the right (+1) or left
        if d < 0:
            xc = width - xc
        scripts = []
        for h, z, v, sgn in ((height_a, z_a, v_a, d), (height_b, z_b, v_b, -d)):
            xw = (xc - 0.5 * width) * z / focal  # world x where the two meet in the image
            x0 = xw - sgn * v * tc
            t_end = tc + rng.uniform(0.8, 2.5)
            segs: list[Segment] = []
            t, phase = self.walk(
                segs,
                0.0,
                x0,
                z,
                x0 + sgn * v * t_end,
                z,
                h,
                rng.uniform(0, 2 * math.pi),
                speed=v,
                gesture=False,
            )
            scripts.append(self._tail(segs, t, phase, h, z))
        return scripts[0], scripts[1]

    def wander(self, height: float, z_home: float, *, start_inside: bool) -> Script:
        """A person that starts inside the view (or just outside it, walking in) and then walks,
        stands, gestures, leaves and comes back at random."""
        rng = self.rng
        segs: list[Segment] = []
        z = self.clamp_z(z_home)
        phase = rng.uniform(0, 2 * math.pi)
        if start_inside:
            x = rng.uniform(-0.75, 0.75) * self.half_width(z)
            if rng.random() < 0.4:
                t = self.stand(segs, 0.0, x, z, phase, rng.uniform(0.5, 2.5))
            else:
                x1 = rng.uniform(-0.8, 0.8) * self.half_width(z)
                z1 = self.clamp_z(z + rng.normal(0.0, 0.8))
                t, phase = self.walk(segs, 0.0, x, z, x1, z1, height, phase)
            return self._tail(segs, t, phase, height, z_home)
        t = 0.0
        side = 1.0 if rng.random() < 0.5 else -1.0
        if rng.random() < 0.4:  # wait a little before coming in
            t = self.stand(
                segs,
                0.0,
                side * self.off(z),
                z,
                phase,
                rng.uniform(0.1, 0.35) * self.T + 0.05,
                gesture=False,
            )
        t, phase = self._enter(segs, t, side, z, height, phase)
        return self._tail(segs, t, phase, height, z_home)

    def _enter(
        self, segs: list[Segment], t: float, side: float, z: float, height: float, phase: float
    ) -> tuple[float, float]:
        z1 = self.clamp_z(z + self.rng.normal(0.0, 0.6))
        x1 = side * self.rng.uniform(-0.6, 0.7) * self.half_width(z1)
        return self.walk(segs, t, side * self.off(z), z, x1, z1, height, phase)

    def _tail(
        self, segs: list[Segment], t: float, phase: float, height: float, z_home: float
    ) -> Script:
        rng = self.rng
        while t < self.T + 0.5:
            last = segs[-1]
            x, z = last.x1, last.z1
            inside = abs(x) < self.half_width(z) + 0.3
            if not inside:
                t = self.stand(segs, t, x, z, phase, rng.uniform(0.3, 2.5), gesture=False)
                side = 1.0 if rng.random() < 0.5 else -1.0
                z_new = self.clamp_z(z_home + rng.normal(0.0, 0.8))
                t, phase = self._enter(segs, t, side, z_new, height, phase)
                continue
            r = rng.random()
            if r < 0.42:
                if rng.random() < 0.25:  # toward or away from the camera
                    z1 = (
                        self.z_min + 0.3
                        if z > 0.5 * (self.z_min + self.z_max)
                        else self.z_max - 0.5
                    )
                    z1 = self.clamp_z(z1 + rng.normal(0.0, 0.3))
                else:
                    z1 = self.clamp_z(z + rng.normal(0.0, 0.7))
                x1 = rng.uniform(-0.8, 0.8) * self.half_width(z1)
                t, phase = self.walk(segs, t, x, z, x1, z1, height, phase)
            elif r < 0.72:
                t = self.stand(segs, t, x, z, phase, rng.uniform(0.8, 3.0))
            else:  # leave, mostly by the nearer side
                side = math.copysign(1.0, x) if rng.random() < 0.7 else -math.copysign(1.0, x)
                z1 = self.clamp_z(z + rng.normal(0.0, 0.5))
                t, phase = self.walk(segs, t, x, z, side * self.off(z1), z1, height, phase)
        return Script(segs, idle=float(rng.uniform(0, 2 * math.pi)))
