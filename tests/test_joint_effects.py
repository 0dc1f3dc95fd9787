"""Joint-anchored effects on a real EGL context: references, anchoring, visibility rule."""

from __future__ import annotations

import itertools
import math
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import pytest
from scipy import ndimage

from effects.anchors import PoseHistory
from effects.backgrounds import SolidColor
from effects.joints import GlowOrb, MotionTrail, Particles, Sticker, TextLabel
from effects.stack import EffectStack, StackRenderer
from inference.cache.layers import PersonLayer
from inference.errors import InputError
from inference.tracks.model import COCO_KEYPOINTS

H, W = 64, 96
BG = (30, 20, 10)
BLACK = SolidColor((0, 0, 0))


@pytest.fixture()
def renderer(ctx):
    with StackRenderer(ctx, W, H) as r:
        yield r


def _layer(
    track_id: int = 1,
    joints: dict[str, tuple[float, float]] | None = None,
    bbox=(30.0, 10.0, 30.0, 50.0),
    mask: np.ndarray | None = None,
) -> PersonLayer:
    """A person whose listed joints are visible (v = 2); all others unlabelled at (0, 0)."""
    kp = np.zeros((17, 3))
    for name, (x, y) in (joints or {}).items():
        kp[COCO_KEYPOINTS.index(name)] = (x, y, 2)
    return PersonLayer(track_id, bbox, kp, 1.0, mask, None)


def _frame(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:H, 0:W]
    img = np.stack([x * 255 // (W - 1), y * 255 // (H - 1), (7 * x + 3 * y) % 256], -1)
    return cv2.add(img.astype(np.uint8), rng.integers(0, 30, (H, W, 3), dtype=np.uint8))


def _solid(rgb) -> np.ndarray:
    return np.broadcast_to(np.array(rgb, np.float64) / 255.0, (H, W, 3)).copy()


def _over(canvas, prem: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    return prem + (1.0 - alpha[..., None]) * canvas


def _done(canvas: np.ndarray) -> np.ndarray:
    return np.floor(np.clip(canvas, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def _err(a: np.ndarray, b: np.ndarray) -> int:
    return int(np.abs(a.astype(np.int16) - b.astype(np.int16)).max())


def _falloff(s: np.ndarray) -> np.ndarray:
    e = math.exp(-4.5)
    return np.where(s < 1, (np.exp(-4.5 * s * s) - e) / (1 - e), 0.0)


def _centres() -> tuple[np.ndarray, np.ndarray]:
    y, x = np.mgrid[0:H, 0:W].astype(np.float64)
    return x + 0.5, y + 0.5


def _png(path: Path, rgba: np.ndarray) -> Path:
    assert cv2.imwrite(str(path), cv2.cvtColor(rgba, cv2.COLOR_RGBA2BGRA))
    return path


def _disc_rgba(n: int) -> np.ndarray:
    img = np.zeros((n, n, 4), np.uint8)
    img[..., :3] = 255
    yy, xx = np.mgrid[0:n, 0:n] + 0.5
    img[..., 3] = np.where(np.hypot(xx - n / 2, yy - n / 2) <= n / 2 - 0.5, 255, 0)
    return img


def _render(renderer, frame, persons, stack, i=0, **kw):
    return renderer.render(frame, persons, stack, frame_index=i, time=Fraction(i, 30), **kw).copy()


# -- sticker --------------------------------------------------------------------------------------


def _sticker_reference(
    rgba: np.ndarray, center, width: float, angle: float, opacity: float
) -> tuple[np.ndarray, np.ndarray]:
    """Premultiplied colour (0..1) and alpha of a bilinearly sampled, rotated, scaled sticker."""
    h, w = rgba.shape[:2]
    a = rgba[..., 3:4].astype(np.float64) / 255.0
    pm = np.zeros((h + 2, w + 2, 4))
    pm[1:-1, 1:-1, :3] = np.floor(rgba[..., :3] * a + 0.5)
    pm[1:-1, 1:-1, 3] = rgba[..., 3]
    texel = width / w
    px, py = _centres()
    dx, dy = px - center[0], py - center[1]
    c, s = math.cos(angle), math.sin(angle)
    lx, ly = c * dx + s * dy, -s * dx + c * dy
    tx, ty = lx / texel + (w + 2) / 2 - 0.5, ly / texel + (h + 2) / 2 - 0.5
    chans = [
        ndimage.map_coordinates(pm[..., k], [ty, tx], order=1, mode="grid-constant", cval=0.0)
        for k in range(4)
    ]
    out = np.stack(chans, -1) / 255.0 * opacity
    return out[..., :3], out[..., 3]


def test_sticker_matches_bilinear_reference(renderer, tmp_path):
    rng = np.random.default_rng(3)
    rgba = rng.integers(0, 256, (5, 7, 4), dtype=np.uint8)
    rgba[0, 0, 3] = 0
    rgba[2, 3, 3] = 255
    path = _png(tmp_path / "s.png", rgba)
    joints = {"left_wrist": (40.3, 30.2), "right_wrist": (52.1, 36.9)}
    sticker = Sticker(
        image=path,
        joints=("left_wrist", "right_wrist"),
        size=21.0,
        rotate_joints=("left_wrist", "right_wrist"),
        rotation=10.0,
        opacity=0.9,
    )
    out = _render(
        renderer,
        _frame(),
        [_layer(joints=joints)],
        EffectStack({1: [sticker]}),
        background=SolidColor(BG),
    )
    angle = math.atan2(36.9 - 30.2, 52.1 - 40.3) + math.radians(10)
    prem, alpha = _sticker_reference(rgba, (46.2, 33.55), 21.0, angle, 0.9)
    ref = _done(_over(_solid(BG), prem, alpha))
    assert _err(out, ref) <= 2
    assert np.count_nonzero(np.any(out != np.array(BG, np.uint8), axis=-1)) > 150


def test_head_sticker_geometry(tmp_path):
    path = _png(tmp_path / "hat.png", _disc_rgba(8)[:4])  # 8 wide, 4 high
    hat = Sticker(
        image=path,
        joints=("left_eye", "right_eye", "left_ear", "right_ear"),
        scale_joints=("left_shoulder", "right_shoulder"),
        size=0.5,
        rotate_joints=("right_eye", "left_eye"),
        offset=(0.0, -1.0),
    )
    pose = {
        "left_eye": (54.0, 20.0),
        "right_eye": (46.0, 20.0),
        "left_ear": (58.0, 22.0),
        "right_ear": (42.0, 22.0),
        "left_shoulder": (64.0, 40.0),
        "right_shoulder": (40.0, 40.0),
    }
    hist = PoseHistory()
    hist.add(0, [_layer(joints=pose)])
    place = hat.placement(hist, 1, 0)
    assert place is not None
    assert place.size == (12.0, 6.0)  # half the shoulder width; the image's aspect
    assert place.angle == 0.0
    assert place.center == (50.0, 21.0 - 12.0)  # eyes/ears centre, one width up
    # Tilt the head 90 degrees clockwise (on screen): "up" turns into "right".
    turned = {k: (50.0 - (y - 21.0), 21.0 + (x - 50.0)) for k, (x, y) in pose.items()}
    turned["left_shoulder"], turned["right_shoulder"] = (64.0, 40.0), (40.0, 40.0)
    hist.add(1, [_layer(joints=turned)])
    place = hat.placement(hist, 1, 1)
    assert place.angle == pytest.approx(math.pi / 2)
    assert place.center == pytest.approx((50.0 + 12.0, 21.0))


def test_sticker_follows_its_joint_in_every_frame(renderer, tmp_path):
    path = _png(tmp_path / "disc.png", _disc_rgba(12))
    sticker = Sticker(
        image=path, joints=("right_wrist",), size=18.0, rotate_joints=("right_elbow", "right_wrist")
    )
    stack = EffectStack({4: [sticker]})
    frame = np.zeros((H, W, 3), np.uint8)
    px, py = _centres()
    for i in range(16):
        t = i / 16
        wrist = (48 + 30 * math.sin(2 * math.pi * t) + 0.37, 32 + 14 * math.cos(3 * t) - 0.21)
        elbow = (wrist[0] - 10 * math.cos(5 * t), wrist[1] + 10 * math.sin(5 * t))
        person = _layer(4, {"right_wrist": wrist, "right_elbow": elbow})
        out = _render(renderer, frame, [person], stack, i, background=BLACK)
        weight = out[..., 0].astype(np.float64)
        assert weight.sum() > 100 * 255
        cx, cy = (weight * px).sum() / weight.sum(), (weight * py).sum() / weight.sum()
        assert math.hypot(cx - wrist[0], cy - wrist[1]) <= 1.0, (i, (cx, cy), wrist)


def test_sticker_behind_is_hidden_exactly_where_the_mask_is(renderer, tmp_path):
    path = _png(tmp_path / "disc.png", _disc_rgba(10))
    frame = _frame(4)
    mask = np.zeros((H, W), np.uint8)
    cv2.ellipse(mask, (48, 36), (9, 20), 15, 0, 360, 1, -1)
    joints = {"nose": (52.0, 30.0)}
    person = _layer(1, joints, mask=mask)
    sticker = Sticker(image=path, joints=("nose",), size=30.0, layer="behind")
    plain = _render(renderer, frame, [person], EffectStack(), background=SolidColor(BG))
    behind = _render(
        renderer, frame, [person], EffectStack({1: [sticker]}), background=SolidColor(BG)
    )
    front = _render(
        renderer,
        frame,
        [person],
        EffectStack({1: [sticker.replace(layer="front")]}),
        background=SolidColor(BG),
    )
    inside = mask != 0
    assert np.array_equal(behind[inside], frame[inside])
    assert np.array_equal(behind[inside], plain[inside])
    changed = np.any(behind != plain, axis=-1)
    assert changed.sum() > 150 and not changed[inside].any()
    # In front it covers the person too; away from the mask both modes agree.
    assert np.any(front[inside] != frame[inside], axis=-1).sum() > 100
    assert np.array_equal(front[~inside], behind[~inside])


def test_lost_joint_holds_then_fades_and_absent_person_skips(renderer, tmp_path):
    path = _png(tmp_path / "disc.png", _disc_rgba(10))
    sticker = Sticker(image=path, joints=("left_wrist",), size=12.0, hold_frames=3, fade_frames=2)
    stack = EffectStack({1: [sticker]})
    frame = np.zeros((H, W, 3), np.uint8)
    seen = {0: (20.0, 30.0), 1: (30.0, 31.0), 2: (40.0, 32.0)}
    outs, places = {}, {}
    for i in range(10):
        joints = {"left_wrist": seen[i]} if i in seen else {"nose": (70.0, 10.0)}
        persons = [] if i == 8 else [_layer(1, joints)]
        outs[i] = _render(renderer, frame, persons, stack, i, background=BLACK)
        places[i] = sticker.placement(renderer.history, 1, i)
    # Frames 3..5 (1..3 frames after the wrist was last seen): held at full opacity.
    for i in (3, 4, 5):
        assert places[i].center == (40.0, 32.0) and places[i].opacity == 1.0
        assert np.array_equal(outs[i], outs[2])
    # Then it fades over 2 frames and is gone; it never goes to (0, 0).
    assert places[6].opacity == pytest.approx(2 / 3) and places[6].center == (40.0, 32.0)
    assert places[7].opacity == pytest.approx(1 / 3)
    assert places[9] is None
    peak = outs[2].astype(int).sum()
    assert outs[6].astype(int).sum() == pytest.approx(peak * 2 / 3, rel=0.02)
    assert outs[7].astype(int).sum() == pytest.approx(peak / 3, rel=0.03)
    assert not outs[9].any()
    # Frame 8: the person is absent, so nothing is drawn at all.
    assert not outs[8].any()
    for out in outs.values():
        assert not out[:12, :12].any()
    # Never shown before the joint was first seen.
    fresh = PoseHistory()
    fresh.add(0, [_layer(1, {"nose": (5.0, 5.0)})])
    assert sticker.placement(fresh, 1, 0) is None


# -- glow orb, trail, particles -------------------------------------------------------------------


@pytest.mark.parametrize("blend", ["add", "normal"])
def test_orb_matches_reference(renderer, blend):
    frame = _frame(5)
    orb = GlowOrb(
        joints=("left_wrist", "left_elbow"),
        radius=9.5,
        color=(255, 128, 0),
        intensity=0.8,
        blend=blend,
        opacity=0.75,
    )
    person = _layer(2, {"left_wrist": (30.2, 20.7), "left_elbow": (40.0, 30.0)})
    out = _render(renderer, frame, [person], EffectStack({2: [orb]}))
    px, py = _centres()
    a = 0.8 * 0.75 * _falloff(np.hypot(px - 35.1, py - 25.35) / 9.5)
    prem = a[..., None] * np.array([1.0, 128 / 255, 0.0])
    ref = _over(frame / 255.0, prem, a if blend == "normal" else np.zeros_like(a))
    assert _err(out, _done(ref)) <= 2
    assert _err(out, frame) > 60


def _path(i: int) -> tuple[float, float]:
    return 20.0 + 4.5 * i + 0.3, 50.0 - 2.2 * i - 0.1 * i * i


def test_trail_matches_reference(renderer):
    frame = _frame(6)
    trail = MotionTrail(
        joints=("right_ankle",), length=6, width=6.0, color=(0, 255, 128), opacity=0.9
    )
    stack = EffectStack({3: [trail]})
    for i in range(9):
        joints = {} if i == 6 else {"right_ankle": _path(i)}  # lost in frame 6
        out = _render(renderer, frame, [_layer(3, joints)], stack, i)
    pts = trail.points(renderer.history, 3, 8)
    want = [
        (*_path(8), 0.0),
        (*_path(7), 1.0),
        (*_path(5), 3.0),
        (*_path(4), 4.0),
        (*_path(3), 5.0),
    ]
    assert np.allclose(pts, want)
    px, py = _centres()
    best = np.zeros((H, W))
    for (ax, ay, ta), (bx, by, tb) in itertools.pairwise(want):
        abx, aby = bx - ax, by - ay
        u = np.clip(((px - ax) * abx + (py - ay) * aby) / (abx**2 + aby**2), 0, 1)
        d = np.hypot(px - (ax + u * abx), py - (ay + u * aby))
        w = np.maximum(1 - (ta + u * (tb - ta)) / 6.0, 0)
        best = np.maximum(best, w * np.clip(0.5 * 6.0 * w - d + 0.5, 0, 1))
    a = 0.9 * best
    ref = _over(frame / 255.0, a[..., None] * np.array([0.0, 1.0, 128 / 255]), a)
    assert _err(out, _done(ref)) <= 2
    assert np.count_nonzero(a > 0.3) > 60


def test_particles_are_deterministic_and_match_reference(ctx, renderer):
    frame = _frame(7)
    fx = Particles(
        joints=("nose",),
        rate=3,
        lifetime=8,
        speed=2.0,
        spread=90.0,
        size=3.0,
        gravity=0.2,
        seed=11,
        blend="normal",
        color=(255, 255, 0),
        opacity=0.9,
    )
    stack = EffectStack({5: [fx]})
    poses = {i: _layer(5, {"nose": (30.0 + 3 * i, 40.0 - i)}) for i in range(12)}
    for i in range(12):
        out = _render(renderer, frame, [poses[i]], stack, i)
    discs = fx.discs(renderer.history, 5, 11)
    assert len(discs) == 3 * 8
    # Random access: a fresh renderer with a history source draws frame 11 identically.
    source = PoseHistory(source=lambda i: [poses[i]] if i in poses else [])
    assert np.array_equal(fx.discs(source, 5, 11), discs)
    with StackRenderer(ctx, W, H, history=PoseHistory(source=lambda i: [poses[i]])) as fresh:
        assert np.array_equal(_render(fresh, frame, [poses[11]], stack, 11), out)
    # The documented physics for one particle: #2 emitted in frame 9, 2 frames old.
    u = np.random.default_rng([11, 5, 9]).random((3, 2))[2]
    theta = math.radians(-90 + 90 * (u[0] - 0.5))
    v = 2.0 * (1 + 0.5 * (2 * u[1] - 1))
    x, y, r, *_, strength, _add = discs[5 * 3 + 2]  # ages 7, 6, ..., 0: frame 9 is the sixth block
    assert (x, y) == pytest.approx(
        (57.0 + 2 * v * math.cos(theta), 31.0 + 2 * v * math.sin(theta) + 0.5 * 0.2 * 4)
    )
    assert r == pytest.approx(3.0 * (0.25 + 0.75 * 0.75)) and strength == pytest.approx(0.675)
    # Another seed: other particles.
    assert not np.allclose(fx.replace(seed=12).discs(renderer.history, 5, 11)[:, :2], discs[:, :2])
    # GL against sequential "over" blending of the same discs, oldest first.
    px, py = _centres()
    canvas = frame / 255.0
    for dx, dy, dr, cr, cg, cb, st, _ in discs:
        a = st * _falloff(np.hypot(px - dx, py - dy) / dr)
        canvas = _over(canvas, a[..., None] * np.array([cr, cg, cb]), a)
    assert _err(out, _done(canvas)) <= 2
    assert _err(out, frame) > 60


# -- text label -----------------------------------------------------------------------------------


def test_label_follows_the_person_and_matches_reference(renderer):
    frame = _frame(8)
    label = TextLabel(
        text="P{track_id}",
        font_scale=0.4,
        thickness=1,
        color=(255, 255, 0),
        plate_color=(0, 0, 80),
        plate_opacity=0.5,
        padding=2,
        offset=(1.0, -3.0),
    )
    for i, bbox in enumerate([(30.0, 30.0, 20.0, 30.0), (41.4, 27.6, 20.0, 30.0)]):
        out = _render(renderer, frame, [_layer(9, bbox=bbox)], EffectStack({9: [label]}), i)
        (tw, th), base = cv2.getTextSize("P9", cv2.FONT_HERSHEY_SIMPLEX, 0.4, 1)
        w, h = tw + 4, th + base + 4
        cov = np.zeros((h, w), np.uint8)
        cv2.putText(cov, "P9", (2, 2 + th), cv2.FONT_HERSHEY_SIMPLEX, 0.4, 255, 1, cv2.LINE_AA)
        a = cov / 255.0
        prem = (
            np.floor(
                255
                * (a[..., None] * [1, 1, 0] + (1 - a[..., None]) * 0.5 * np.array([0, 0, 80 / 255]))
                + 0.5
            )
            / 255
        )
        alpha = np.floor(255 * (a + (1 - a) * 0.5) + 0.5) / 255
        x0 = math.floor(bbox[0] + bbox[2] / 2 + 1.0 - w / 2 + 0.5)
        y0 = math.floor(bbox[1] - 3.0 - h + 0.5)
        ref = frame / 255.0
        ref[y0 : y0 + h, x0 : x0 + w] = _over(ref[y0 : y0 + h, x0 : x0 + w], prem, alpha)
        assert _err(out, _done(ref)) <= 1, i
        assert _err(out, frame) > 100


def test_bad_joint_names_and_files_are_named(tmp_path):
    for cls in (GlowOrb, MotionTrail, Particles, TextLabel):
        with pytest.raises(InputError, match=r"parameter joints: 'left_hand' is not a COCO joint"):
            cls(joints=("left_wrist", "left_hand"))
    with pytest.raises(InputError, match="'neck' is not a COCO joint; use one of: nose, "):
        Sticker(image=_png(tmp_path / "ok.png", _disc_rgba(4)), scale_joints=("neck", "nose"))
    with pytest.raises(InputError, match=r"gone\.png: sticker image not found"):
        Sticker(image=tmp_path / "gone.png")
