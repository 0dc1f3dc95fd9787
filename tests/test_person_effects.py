"""Person effects and the stack's layering, on a real EGL context, against NumPy references."""

from __future__ import annotations

import math
from fractions import Fraction

import cv2
import numpy as np
import pytest
from scipy import ndimage

from effects.backgrounds import BlurBackground, SolidColor
from effects.compositor import Compositor
from effects.matte import build_alpha
from effects.person import ColorGrade, Glow, Outline, Spotlight
from effects.stack import EffectStack, StackRenderer, depth_key
from inference.cache.layers import PersonLayer

H, W = 64, 96
T0 = Fraction(0)
BG = (20, 40, 60)


@pytest.fixture()
def renderer(ctx):
    with StackRenderer(ctx, W, H) as r:
        yield r


def _frame(seed: int = 0) -> np.ndarray:
    """Gradient plus discs plus noise: every pixel different enough to catch misplacement."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:H, 0:W]
    img = np.stack([x * 255 // (W - 1), y * 255 // (H - 1), (3 * x + 5 * y) % 256], -1)
    img = img.astype(np.uint8)
    for _ in range(6):
        col = tuple(int(v) for v in rng.integers(0, 256, 3))
        cv2.circle(img, (int(rng.integers(0, W)), int(rng.integers(0, H))), 9, col, -1)
    return cv2.add(img, rng.integers(0, 30, (H, W, 3), dtype=np.uint8))


def _ellipse(cx: int, cy: int, ax: int, ay: int) -> np.ndarray:
    m = np.zeros((H, W), np.uint8)
    cv2.ellipse(m, (cx, cy), (ax, ay), 0, 0, 360, 1, -1)
    return m


def _person(
    track_id: int,
    mask: np.ndarray | None,
    ankle_y: float | None = None,
    bbox: tuple[float, float, float, float] | None = None,
) -> PersonLayer:
    kp = np.zeros((17, 3))
    if ankle_y is not None:
        kp[15] = (10.0, ankle_y, 2)
        kp[16] = (12.0, ankle_y - 3, 1)
    if bbox is None:
        assert mask is not None
        x, y, w, h = cv2.boundingRect(mask)
        bbox = (float(x), float(y), float(w), float(h))
    return PersonLayer(track_id, bbox, kp, 1.0, mask, None)


def _f(img: np.ndarray) -> np.ndarray:
    return img.astype(np.float64) / 255.0


def _solid(rgb: tuple[int, int, int]) -> np.ndarray:
    return np.broadcast_to(np.array(rgb, np.float64) / 255.0, (H, W, 3)).copy()


def _over(canvas: np.ndarray, color01, alpha: np.ndarray, additive: bool = False) -> np.ndarray:
    """Premultiplied "over": colour * alpha + (1 - alpha_out) * canvas."""
    prem = np.asarray(color01, np.float64) * alpha[..., None]
    out_alpha = np.zeros_like(alpha) if additive else alpha
    return prem + (1.0 - out_alpha[..., None]) * canvas


def _person_over(canvas: np.ndarray, colour01: np.ndarray, mask: np.ndarray) -> np.ndarray:
    m = (mask != 0).astype(np.float64)[..., None]
    return m * colour01 + (1.0 - m) * canvas


def _done(canvas: np.ndarray) -> np.ndarray:
    return np.floor(np.clip(canvas, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def _err(a: np.ndarray, b: np.ndarray) -> int:
    return int(np.abs(a.astype(np.int16) - b.astype(np.int16)).max())


def _distance(mask: np.ndarray) -> np.ndarray:
    """Exact Euclidean distance to the nearest mask pixel (SciPy, independent of OpenCV)."""
    return ndimage.distance_transform_edt(mask == 0)


def _falloff(s: np.ndarray) -> np.ndarray:
    e = math.exp(-4.5)
    return np.where(s < 1, (np.exp(-4.5 * s * s) - e) / (1 - e), 0.0)


def _render(renderer, frame, persons, stack, **kw):
    kw.setdefault("frame_index", 0)
    kw.setdefault("time", T0)
    return renderer.render(frame, persons, stack, **kw).copy()


# -- outline and glow -------------------------------------------------------------------------------


def test_outline_matches_reference(renderer):
    frame = _frame(1)
    mask = _ellipse(40, 30, 14, 20)
    effect = Outline(width=2.5, color=(255, 0, 40), opacity=0.9)
    out = _render(
        renderer, frame, [_person(1, mask)], EffectStack({1: [effect]}), background=SolidColor(BG)
    )
    d = _distance(mask)
    a = 0.9 * np.clip(2.5 + 0.5 - d, 0, 1) * (d > 0)
    ref = _person_over(_over(_solid(BG), (1.0, 0.0, 40 / 255), a), _f(frame), mask)
    assert _err(out, _done(ref)) <= 1
    assert np.count_nonzero(a > 0.5) > 100  # the band is really there


@pytest.mark.parametrize("blend", ["normal", "add"])
def test_glow_matches_reference(renderer, blend):
    frame = _frame(2)
    mask = _ellipse(48, 34, 10, 18)
    effect = Glow(radius=14, color=(255, 200, 80), intensity=0.85, blend=blend)
    out = _render(
        renderer, frame, [_person(3, mask)], EffectStack({3: [effect]}), background=SolidColor(BG)
    )
    d = _distance(mask)
    a = 0.85 * _falloff(d / 14.0) * (d > 0)
    ref = _over(_solid(BG), (1.0, 200 / 255, 80 / 255), a, additive=blend == "add")
    ref = _person_over(ref, _f(frame), mask)
    assert _err(out, _done(ref)) <= 2
    assert _err(out, _done(_person_over(_solid(BG), _f(frame), mask))) > 100


def test_behind_is_hidden_by_every_mask_and_front_is_not(renderer):
    frame = _frame(3)
    a_mask = _ellipse(36, 32, 10, 20)
    b_mask = _ellipse(58, 36, 10, 18)  # overlaps a's glow
    a, b = _person(1, a_mask, ankle_y=50), _person(2, b_mask, ankle_y=40)
    glow = Glow(radius=20, color=(0, 255, 0), intensity=1.0)
    plain = _render(renderer, frame, [a, b], EffectStack(), background=SolidColor(BG))
    behind = _render(renderer, frame, [a, b], EffectStack({1: [glow]}), background=SolidColor(BG))
    front = _render(
        renderer,
        frame,
        [a, b],
        EffectStack({1: [glow.replace(layer="front")]}),
        background=SolidColor(BG),
    )
    covered = (a_mask | b_mask) != 0
    # Behind: exactly the person's own pixels wherever any mask covers.
    assert np.array_equal(behind[covered], frame[covered])
    assert np.array_equal(behind[covered], plain[covered])
    assert np.count_nonzero(np.any(behind[~covered] != plain[~covered], axis=-1)) > 200
    # In front: over person b too, and the same as behind where no mask is.
    d = _distance(a_mask)
    a_alpha = _falloff(d / 20.0) * (d > 0)
    on_b = (b_mask != 0) & (a_alpha > 0.2)
    assert on_b.sum() > 20
    assert np.all(front[on_b][:, 1] > frame[on_b][:, 1])
    assert np.array_equal(front[~covered], behind[~covered])
    ref = _over(
        _person_over(_person_over(_solid(BG), _f(frame), b_mask), _f(frame), a_mask),
        (0.0, 1.0, 0.0),
        a_alpha,
    )
    assert _err(front, _done(ref)) <= 2


# -- grade and spotlight -------------------------------------------------------------------------


def _grade_ref(c: np.ndarray, brightness, contrast, saturation, tint, amount) -> np.ndarray:
    luma = np.array([0.2126, 0.7152, 0.0722])
    c = (c - 0.5) * contrast + 0.5 + brightness
    c = c * saturation + (1 - saturation) * (c @ luma)[..., None]
    c = c * (1 - amount) + amount * (c @ luma)[..., None] * (np.array(tint) / 255.0)
    return np.clip(c, 0, 1)


def test_grade_matches_reference_inside_the_mask_only(renderer):
    frame = _frame(4)
    mask = _ellipse(50, 30, 20, 22)
    effect = ColorGrade(
        brightness=0.05, contrast=1.3, saturation=0.4, tint=(255, 120, 30), tint_amount=0.6
    )
    out = _render(renderer, frame, [_person(1, mask)], EffectStack({1: [effect]}))
    graded = _grade_ref(_f(frame), 0.05, 1.3, 0.4, (255, 120, 30), 0.6)
    ref = _person_over(_f(frame), graded, mask)
    assert _err(out, _done(ref)) <= 1
    assert np.array_equal(out[mask == 0], frame[mask == 0])
    assert _err(out[mask != 0], frame[mask != 0]) > 40
    # Two grades chain in order.
    second = ColorGrade(brightness=-0.2)
    out2 = _render(renderer, frame, [_person(1, mask)], EffectStack({1: [effect, second]}))
    ref2 = _person_over(_f(frame), _grade_ref(graded, -0.2, 1.0, 1.0, (0, 0, 0), 0.0), mask)
    assert _err(out2, _done(ref2)) <= 1


@pytest.mark.parametrize("layer", ["front", "behind"])
def test_spotlight_matches_reference(renderer, layer):
    frame = _frame(5)
    a_mask = _ellipse(30, 32, 10, 20)
    b_mask = _ellipse(75, 32, 8, 16)
    a = _person(1, a_mask, bbox=(20.0, 12.0, 21.0, 41.0))
    b = _person(2, b_mask)
    spot = Spotlight(darkness=0.8, scale=1.2, feather=0.4, color=(10, 0, 30), layer=layer)
    out = _render(renderer, frame, [a, b], EffectStack({1: [spot]}))
    y, x = np.mgrid[0:H, 0:W] + 0.5
    r = np.hypot((x - 30.5) / (1.2 * 10.5), (y - 32.5) / (1.2 * 20.5))
    t = np.clip((r - 0.6) / 0.4, 0, 1)
    alpha = 0.8 * t * t * (3 - 2 * t)
    base = _f(frame)
    ref = _over(base, (10 / 255, 0.0, 30 / 255), alpha)
    if layer == "behind":  # the persons are drawn over it again
        ref = _person_over(_person_over(ref, base, a_mask), base, b_mask)
    assert _err(out, _done(ref)) <= 1
    lit = np.hypot(x - 30.5, (y - 32.5) / 2) < 6
    assert np.array_equal(out[lit], frame[lit])  # the lit centre is untouched
    darker_b = out[b_mask != 0].astype(int).sum() < frame[b_mask != 0].astype(int).sum()
    assert darker_b == (layer == "front")


# -- the stack: background, depth, selection, absence ---------------------------------------------


def test_no_effects_equals_the_compositor(ctx, renderer):
    frame = _frame(6)
    masks = [_ellipse(30, 30, 10, 20), _ellipse(66, 36, 12, 18)]
    persons = [_person(1, masks[0]), _person(2, masks[1])]
    for bg in (BlurBackground(3.0), BlurBackground(25.0), SolidColor((200, 10, 10))):
        with Compositor(ctx, W, H) as comp:
            for selected in ([1], [1, 2]):
                alpha = build_alpha([masks[i - 1] for i in selected])
                want = comp.composite(frame, alpha, bg, frame_index=0, time=T0)
                got = _render(
                    renderer, frame, persons, EffectStack(), background=bg, selected=selected
                )
                assert _err(got, want) <= 1, (bg, selected)
    # No background: the frame itself, persons and all.
    assert np.array_equal(_render(renderer, frame, persons, EffectStack()), frame)


def test_feathered_mattes_match_build_alpha(ctx, renderer):
    frame = _frame(7)
    mask = _ellipse(40, 30, 14, 22)
    alpha = build_alpha([mask], "feather", 2.0)
    with Compositor(ctx, W, H) as comp:
        want = comp.composite(frame, alpha, SolidColor(BG), frame_index=0, time=T0)
    got = _render(
        renderer,
        frame,
        [_person(1, mask)],
        EffectStack(),
        background=SolidColor(BG),
        refine="feather",
        feather_px=2.0,
    )
    assert _err(got, want) <= 1
    assert len(np.unique(alpha)) > 10  # really soft


def test_depth_order_by_feet_with_override(renderer):
    frame = _frame(8)
    a_mask = _ellipse(40, 30, 14, 20)
    b_mask = _ellipse(54, 34, 14, 20)
    overlap = (a_mask != 0) & (b_mask != 0)
    assert overlap.sum() > 100
    red = ColorGrade(tint=(255, 0, 0), tint_amount=1.0)
    blue = ColorGrade(tint=(0, 0, 255), tint_amount=1.0)
    a = _person(1, a_mask, ankle_y=60.0)  # lower feet: nearer the camera, in front
    b = _person(2, b_mask, bbox=(40.0, 14.0, 29.0, 48.0))  # no ankles: box bottom 62 > 60
    assert depth_key(a) == 60.0 and depth_key(b) == 62.0
    stack = EffectStack({1: [red], 2: [blue]})
    out = _render(renderer, frame, [a, b], stack)
    assert np.all(out[overlap][:, 2] >= out[overlap][:, 0])  # b (blue) is in front
    assert np.all(out[overlap][:, 1] == 0)
    stack = EffectStack({1: [red], 2: [blue]}, depth_override={1: 100.0})
    out = _render(renderer, frame, [b, a], stack)
    assert np.all(out[overlap][:, 0] >= out[overlap][:, 2])  # a forced to the front
    assert np.all(out[overlap][:, 2] == 0)
    assert [p.track_id for p in stack.order([a, b])] == [2, 1]
    # Ties go by track id; the order does not depend on the input order.
    c = _person(5, a_mask, ankle_y=60.0)
    assert [p.track_id for p in EffectStack().order([c, a])] == [1, 5]


def test_absent_person_and_maskless_person(renderer):
    frame = _frame(9)
    mask = _ellipse(40, 30, 14, 20)
    stack = EffectStack(
        {1: [Glow(radius=10, layer="front"), Spotlight()]},
        everyone=[Outline(width=2, layer="front")],
    )
    # Track 1 is absent: its effects are skipped; everyone's outline still draws on track 2.
    out = _render(renderer, frame, [_person(2, mask)], stack)
    d = _distance(mask)
    a = np.clip(2.5 - d, 0, 1) * (d > 0)
    assert _err(out, _done(_over(_f(frame), (1.0, 1.0, 1.0), a))) <= 1
    # A person without a mask: mask effects draw nothing, nothing fails.
    out = _render(
        renderer,
        frame,
        [_person(1, None, bbox=(10.0, 10.0, 20.0, 30.0))],
        EffectStack({1: [Glow(radius=10), Outline(), ColorGrade(brightness=0.5)]}),
    )
    assert np.array_equal(out, frame)
    with pytest.raises(ValueError, match="mask"):
        _render(renderer, frame, [_person(1, mask[:10])], EffectStack())


def test_rendering_never_changes_the_effects(renderer):
    frame = _frame(10)
    mask = _ellipse(40, 30, 14, 20)
    effects = [Glow(radius=12), Outline(), ColorGrade(saturation=0.0), Spotlight()]
    before = [(e.to_dict(), hash(e)) for e in effects]
    stack = EffectStack({1: effects})
    for i in range(3):
        _render(renderer, frame, [_person(1, mask)], stack, frame_index=i, time=Fraction(i, 30))
    assert [(e.to_dict(), hash(e)) for e in effects] == before
    assert stack.effects_for(1) == tuple(effects)
    assert stack.with_effects(None, Outline()).effects_for(1) == (Outline(), *effects)
    assert stack.effects_for(1) == tuple(effects)
