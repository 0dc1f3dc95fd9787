"""Matte controls (effects.refine): guided filter, expand/choke, feather, temporal stabilisation."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from effects.matte import build_alpha
from effects.refine import (
    MatteRefiner,
    TemporalStabilizer,
    expand_matte,
    feather_matte,
    guide_luma,
    guided_filter,
    refine_guided,
)
from inference.errors import InputError


def _box_mean(x: np.ndarray, r: int) -> np.ndarray:
    """Mean over (2r+1)^2 windows, edges mirrored like BORDER_REFLECT, via summed-area tables
    in float64 (independent of OpenCV)."""
    p = np.pad(x.astype(np.float64), r, mode="symmetric")
    s = np.pad(p.cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    k = 2 * r + 1
    h, w = x.shape
    tot = s[k : k + h, k : k + w] - s[:h, k : k + w] - s[k : k + h, :w] + s[:h, :w]
    return tot / (k * k)


def _guided_reference(i: np.ndarray, p: np.ndarray, r: int, eps: float) -> np.ndarray:
    mi, mp = _box_mean(i, r), _box_mean(p, r)
    a = (_box_mean(i * p, r) - mi * mp) / (_box_mean(i * i, r) - mi * mi + eps)
    b = mp - a * mi
    return _box_mean(a, r) * i + _box_mean(b, r)


def _disk(h: int, w: int, r: float, cx: float | None = None, cy: float | None = None) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    cx = w / 2 if cx is None else cx
    cy = h / 2 if cy is None else cy
    return (np.hypot(xx - cx, yy - cy) <= r).astype(np.uint8) * 255


def _radius(mask: np.ndarray) -> float:
    """Equivalent radius of a disk-shaped matte from its area."""
    return float(np.sqrt(np.count_nonzero(mask >= 128) / np.pi))


@pytest.mark.parametrize(("r", "eps"), [(1, 1e-2), (4, 1e-3), (9, 1e-4)])
def test_guided_filter_matches_numpy_formula(r, eps):
    rng = np.random.default_rng(r)
    h, w = 57, 83
    guide = cv2.GaussianBlur(rng.random((h, w)).astype(np.float32), (0, 0), 2.0)
    src = (_disk(h, w, 20) / 255.0).astype(np.float32)
    out = guided_filter(guide, src, r, eps)
    assert out.dtype == np.float32 and out.shape == (h, w)
    ref = _guided_reference(guide.astype(np.float64), src.astype(np.float64), r, eps)
    assert np.abs(out - ref).max() <= 1e-4
    assert np.abs(out - src).max() > 0.05  # it really filtered


def test_guided_refinement_follows_the_frame_edge():
    # The frame has a sharp vertical edge at x = 40; the matte's edge is off by 3 px and blocky.
    h, w = 60, 80
    frame = np.zeros((h, w, 3), np.uint8)
    frame[:, 40:] = 220
    matte = np.zeros((h, w), np.uint8)
    matte[:, 37:] = 255
    out = refine_guided(matte, frame, radius=6, eps=1e-4)
    assert out.dtype == np.uint8
    # Within the bright half the matte is pulled to 1, within the dark half away from the
    # wrong edge towards 0: the edge moved to the frame's edge.
    assert out[:, 41:].min() >= 230
    assert out[:, 37:39].max() <= 140
    luma = guide_luma(frame)
    assert luma.dtype == np.float32 and abs(luma[0, 79] - 220 / 255) < 1e-6
    with pytest.raises(ValueError):
        refine_guided(matte, frame[:10])


@pytest.mark.parametrize("px", [3, 7.5, -4, -10.5])
def test_expand_and_choke_change_a_disk_radius(px):
    h, w, r0 = 101, 121, 30
    disk = _disk(h, w, r0)
    out = expand_matte(disk, px)
    assert out.dtype == np.uint8 and set(np.unique(out)) <= {0, 255}
    assert abs(_radius(out) - (r0 + px)) <= 1.0
    # A float matte gives the same hard result in float.
    outf = expand_matte(disk.astype(np.float32) / 255, px)
    assert outf.dtype == np.float32 and np.array_equal(outf >= 0.5, out == 255)
    assert expand_matte(disk, 0) is disk


def test_feather_matches_build_alpha():
    disk = _disk(40, 50, 12)
    assert np.array_equal(feather_matte(disk, 2.0), build_alpha([disk], "feather", 2.0))
    assert feather_matte(disk, 0) is disk


def _flicker(n: int, seed: int = 0) -> list[np.ndarray]:
    """A disk whose edge jumps randomly by up to 2 px each frame (radius 20 +- 2) and with
    salt noise: the true matte is still."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        m = _disk(64, 64, 20 + rng.uniform(-2, 2))
        m[rng.random((64, 64)) < 0.01] ^= 255
        out.append(m)
    return out


def _change(frames: list[np.ndarray]) -> float:
    return float(np.mean([np.abs(a.astype(np.float64) - b).mean()
                          for a, b in zip(frames[1:], frames[:-1])]))


@pytest.mark.parametrize("mode", ["ema", "median3"])
def test_temporal_stabilisation_reduces_flicker(mode):
    frames = _flicker(30)
    stab = TemporalStabilizer(mode, weight=0.4)
    out = [stab(f) for f in frames]
    assert all(o.dtype == np.uint8 and o.shape == (64, 64) for o in out)
    assert _change(out) < 0.6 * _change(frames)
    # A still matte stays exactly still (no drift, no bias).
    still = TemporalStabilizer(mode)
    d = _disk(64, 64, 20)
    assert all(np.array_equal(still(d), d) for _ in range(5))
    off = TemporalStabilizer("off")
    assert all(off(f) is f for f in frames[:3])


def test_temporal_reset_and_resize():
    stab = TemporalStabilizer("ema", weight=0.5)
    a = np.zeros((8, 8), np.uint8)
    b = np.full((8, 8), 255, np.uint8)
    stab(a)
    assert stab(b)[0, 0] == 128  # half way
    stab.reset()
    assert stab(b)[0, 0] == 255
    assert stab(np.zeros((4, 4), np.uint8)).shape == (4, 4)  # a new size restarts


def test_matte_refiner_pipeline():
    h, w = 60, 80
    frame = np.zeros((h, w, 3), np.uint8)
    frame[:, 40:] = 200
    matte = np.zeros((h, w), np.uint8)
    matte[:, 45:] = 255
    ref = MatteRefiner(refine="guided", expand_px=4, feather_px=1.0, radius=5, eps=1e-4,
                       temporal="ema", ema_weight=0.5)
    first = ref(matte, frame)
    assert first.dtype == np.uint8 and first[:, 42:].min() >= 200 and first[:, :36].max() <= 30
    assert np.array_equal(MatteRefiner()(matte), matte)  # defaults: unchanged
    assert np.array_equal(MatteRefiner(refine="feather", feather_px=1.5)(matte),
                          build_alpha([matte], "feather", 1.5))
    with pytest.raises(ValueError):
        MatteRefiner(refine="guided")(matte)
    for bad in ({"refine": "sharpen"}, {"expand_px": 1e9}, {"radius": 0}, {"eps": 0.0},
                {"temporal": "kalman"}, {"ema_weight": 0.0}):
        with pytest.raises(InputError):
            MatteRefiner(**bad)
