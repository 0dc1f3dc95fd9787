"""The synthetic clip's sound: a footstep on every heel strike, panned to where the step is seen,
over a soft sustained chord.  Stereo float32 PCM in ``[-1, 1]``, deterministic per seed."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.signal import lfilter

_CHUNK = 1 << 18


@dataclass(frozen=True)
class Step:
    """One footstep: ``t`` seconds from the start, ``pan`` -1 (left) .. 1 (right), ``gain`` linear,
    ``voice`` index of the walker's step sound."""

    t: float
    pan: float
    gain: float
    voice: int


def step_sound(rng: np.random.Generator, rate: int) -> np.ndarray:
    """A ~60 ms footstep: a low-passed noise scuff and a low thump; float64, peak 1."""
    n = max(8, int(0.06 * rate))
    t = np.arange(n) / rate
    cut = rng.uniform(0.05, 0.25)  # one-pole low-pass coefficient complement
    scuff = lfilter([cut], [1.0, cut - 1.0], rng.standard_normal(n)) * np.exp(
        -t / rng.uniform(0.004, 0.012)
    )
    thump = np.sin(2 * math.pi * rng.uniform(60.0, 130.0) * t) * np.exp(
        -t / rng.uniform(0.012, 0.03)
    )
    s = 0.6 * scuff / max(1e-9, np.abs(scuff).max()) + thump
    s[-min(n, 32) :] *= np.linspace(1.0, 0.0, min(n, 32))  # no click at the end
    return s / max(1e-9, np.abs(s).max())


def render_audio(
    n: int, rate: int, rng: np.random.Generator, steps: list[Step], voices: int
) -> np.ndarray:
    """``(2, n)`` float32 in ``[-1, 1]``: the chord plus the footsteps."""
    out = np.zeros((2, n), np.float32)
    if n == 0:
        return out
    root = float(rng.choice([196.0, 220.0, 246.94, 261.63, 293.66]))
    ratios = [(1.0, 1.5, 2.0), (1.0, 1.25, 1.5), (1.0, 1.2, 1.5)][int(rng.integers(3))]
    amps = (0.035, 0.022, 0.015)
    trem_f, trem_p = rng.uniform(0.1, 0.3), rng.uniform(0, 2 * math.pi)
    fade = min(n // 2, int(0.03 * rate))
    for a in range(0, n, _CHUNK):
        idx = np.arange(a, min(n, a + _CHUNK), dtype=np.float64)
        t = idx / rate
        trem = 1.0 + 0.3 * np.sin(2 * math.pi * trem_f * t + trem_p)
        for ch, detune in ((0, 1.0), (1, 1.003)):
            tone = np.zeros_like(t)
            for r, amp in zip(ratios, amps, strict=True):
                tone += amp * np.sin(2 * math.pi * root * r * detune * t)
            out[ch, a : a + len(idx)] = tone * trem
    if fade > 0:
        ramp = np.linspace(0.0, 1.0, fade, dtype=np.float32)
        out[:, :fade] *= ramp
        out[:, n - fade :] *= ramp[::-1]
    sounds = [step_sound(rng, rate) for _ in range(max(1, voices))]
    for st in steps:
        snd = sounds[st.voice % len(sounds)]
        i = round(st.t * rate)
        if i >= n or i < 0:
            continue
        seg = snd[: n - i]
        p = 0.5 * (min(1.0, max(-1.0, st.pan)) + 1.0)
        out[0, i : i + len(seg)] += (st.gain * math.sqrt(1.0 - p)) * seg
        out[1, i : i + len(seg)] += (st.gain * math.sqrt(p)) * seg
    np.clip(out, -1.0, 1.0, out=out)
    return out
