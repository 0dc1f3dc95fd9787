"""The effect stack's partly-live float canvas (effects/canvas.py): rectangle bookkeeping, and
on a real EGL context the same pixels as a fully live canvas, bit for bit."""

from __future__ import annotations

from fractions import Fraction

import cv2
import numpy as np
import pytest

from effects.backgrounds import BlurBackground, ImageBackground, SolidColor
from effects.canvas import (
    CanvasRegions,
    complement,
    opaque_core,
    rect_quads,
    subtract_rect,
    tile_rects,
)
from effects.compositor import Compositor
from effects.gl import is_software_renderer
from effects.joints import Sticker
from effects.person import ColorGrade, Glow, Outline, Spotlight
from effects.stack import EffectStack, StackRenderer
from inference.cache.layers import PersonLayer

W, H = 150, 90  # not multiples of the blur factor or of the 16-pixel glow blocks


def _coverage(rects, size) -> np.ndarray:
    cov = np.zeros((size[1], size[0]), np.int32)
    for x0, y0, x1, y1 in rects:
        cov[y0:y1, x0:x1] += 1
    return cov


def _random_rect(rng, size):
    x0, y0 = rng.uniform(-8, size[0]), rng.uniform(-8, size[1])
    return (x0, y0, x0 + rng.uniform(0, 25), y0 + rng.uniform(0, 25))


def test_regions_fill_each_pixel_once_and_complement_the_rest():
    rng = np.random.default_rng(7)
    for _ in range(300):
        size = tuple(int(v) for v in rng.integers(1, 50, 2))
        filled: dict[bool, list] = {False: [], True: []}
        regions = CanvasRegions(size, lambda rects, ff, f=filled: f[ff].extend(rects))
        reserved = []
        for _ in range(int(rng.integers(0, 3))):  # persons' opaque cores, drawn later
            r = tuple(int(v) for v in np.clip(_random_rect(rng, size), 0, None))
            if r[2] > r[0] and r[3] > r[1]:
                regions.reserve(r)
                reserved.append(r)
        ops = [("ensure", None)] * int(rng.integers(0, 7)) + [("claim", r) for r in reserved]
        for k in rng.permutation(len(ops)):
            op, r = ops[k]
            if op == "claim":
                regions.claim(r)
                reserved.remove(r)
                continue
            got = regions.ensure(_random_rect(rng, size))
            if got is not None:  # live now, but for what is still reserved
                want = np.ones((size[1], size[0]), bool)
                for q in reserved:
                    want[q[1]:q[3], q[0]:q[2]] = False
                part = _coverage(regions.rects, size)[got[1]:got[3], got[0]:got[2]]
                assert np.all(part[want[got[1]:got[3], got[0]:got[2]]] == 1)
            held = np.zeros((size[1], size[0]), bool)
            for q in reserved:
                held[q[1]:q[3], q[0]:q[2]] = True
            assert not np.any(_coverage(filled[False] + filled[True], size)[held])
        live = _coverage(filled[False] + filled[True], size)
        assert live.max() <= 1  # nothing filled twice
        assert np.array_equal(live, _coverage(regions.rects, size))
        framed = _coverage(regions.frame_rects, size)
        assert np.all(live + framed <= 1)
        rest = _coverage(complement(regions.rects + regions.frame_rects, size), size)
        assert np.all(live + framed + rest == 1)  # the complement is exactly the rest
        assert regions.full == (rest.sum() + framed.sum() == 0)
    regions = CanvasRegions((5, 4), lambda rects, from_frame: None)
    assert regions.ensure((5, 0, 9, 4)) is None and regions.rects == []
    regions.ensure_all()
    assert regions.full and complement(regions.rects, (5, 4)) == []


def test_claimed_cores_are_filled_from_the_frame_only_when_drawn_on():
    calls = []
    regions = CanvasRegions((40, 30), lambda rects, from_frame: calls.append((rects, from_frame)))
    regions.reserve((10, 10, 20, 20))
    regions.ensure((0, 0, 40, 30))  # behind the person: everything but the core
    assert calls == [(calls[0][0], False)] and not _coverage(calls[0][0], (40, 30))[10:20,
                                                                                    10:20].any()
    regions.claim((10, 10, 20, 20))
    assert regions.frame_rects == [(10, 10, 20, 20)] and not regions.full
    regions.ensure((15, 15, 25, 25))  # an effect in front: that part comes from the frame
    assert calls[-1] == ([(15, 15, 20, 20)], True)
    assert _coverage(regions.frame_rects, (40, 30)).sum() == 100 - 25
    regions.ensure_all()
    assert regions.full and regions.frame_rects == []


def _best_block_rectangle(full: np.ndarray) -> int:
    ny, nx = full.shape
    return max(((r1 - r0) * (c1 - c0) for r0 in range(ny) for r1 in range(r0 + 1, ny + 1)
                for c0 in range(nx) for c1 in range(c0 + 1, nx + 1) if full[r0:r1, c0:c1].all()),
               default=0)


def test_opaque_core_is_a_block_rectangle_inside_the_opaque_matte():
    m = np.zeros((70, 50), np.uint8)
    cv2.ellipse(m, (25, 35), (22, 33), 0, 0, 360, 255, -1)
    full = m[:68, :48].reshape(17, 4, 12, 4).min(axis=(1, 3)) == 255
    for spot in (False, True):
        if spot:
            m[30:34, 20:22] = 254  # a not quite opaque spot
        core = opaque_core(m, 4, (100, 200))
        assert core is not None
        x0, y0, x1, y1 = core
        assert (x0 - 100) % 4 == 0 and (y0 - 200) % 4 == 0 and (x1 - x0) % 4 == 0
        inner = m[y0 - 200:y1 - 200, x0 - 100:x1 - 100]
        assert inner.size and np.all(inner == 255)
        if not spot:  # convex: the largest of all
            assert (x1 - x0) * (y1 - y0) == _best_block_rectangle(full) * 16
    assert opaque_core(np.full((3, 9), 255, np.uint8), 4) is None
    assert opaque_core(np.zeros((40, 40), np.uint8), 4) is None


def test_subtract_and_quads():
    assert subtract_rect((0, 0, 10, 10), (20, 20, 30, 30)) == [(0, 0, 10, 10)]
    assert subtract_rect((0, 0, 10, 10), (-1, -1, 11, 11)) == []
    assert _coverage(subtract_rect((0, 0, 10, 10), (3, 4, 6, 8)), (10, 10)).sum() == 100 - 12
    q = rect_quads([(1, 2, 4, 7)])
    assert q.shape == (6, 2) and q.dtype == np.float32
    assert set(map(tuple, q.tolist())) == {(1, 2), (4, 2), (1, 7), (4, 7)}


def test_tile_rects_cover_every_set_pixel_once():
    rng = np.random.default_rng(3)
    for _ in range(200):
        h, w = (int(v) for v in rng.integers(1, 70, 2))
        active = rng.random((h, w)) < rng.uniform(0, 0.05)
        tile = int(rng.integers(1, 20))
        rects = tile_rects(active, tile, (4, 9))
        cov = _coverage(rects, (w + 4, h + 9))
        assert cov.max() <= 1
        assert cov[:9].sum() == 0 and cov[:, :4].sum() == 0  # shifted by the origin
        assert np.all(cov[9:, 4:][active] == 1)
        # Each rectangle is a run of whole blocks (clipped at the array's edge).
        for x0, y0, x1, y1 in rects - np.array([4, 9, 4, 9]):
            assert x0 % tile == 0 and y0 % tile == 0 and y1 - y0 == min(tile, h - y0)
            assert active[y0:y1, x0:x1].any()
    assert len(tile_rects(np.zeros((5, 5), bool), 4)) == 0


def _frame() -> np.ndarray:
    rng = np.random.default_rng(5)
    y, x = np.mgrid[0:H, 0:W]
    img = np.stack([x * 255 // (W - 1), y * 255 // (H - 1), (7 * x + 3 * y) % 256], -1)
    return cv2.add(img.astype(np.uint8), rng.integers(0, 40, (H, W, 3), dtype=np.uint8))


def _person(track_id: int, cx: int) -> PersonLayer:
    mask = np.zeros((H, W), np.uint8)
    cv2.ellipse(mask, (cx, 50), (12, 26), 0, 0, 360, 1, -1)
    kp = np.zeros((17, 3))
    kp[0] = (cx, 30, 2)  # nose
    x, y, w, h = cv2.boundingRect(mask)
    return PersonLayer(track_id, (float(x), float(y), float(w), float(h)), kp, 1.0, mask, None)


@pytest.mark.parametrize("background", [BlurBackground(25.0), BlurBackground(2.0), None,
                                        SolidColor((30, 60, 90))])
def test_partly_live_canvas_is_bit_identical_to_a_fully_live_one(ctx, tmp_path, background):
    """A no-op full-canvas effect (a spotlight of darkness 0) makes the whole canvas live: the
    output must not change by a single bit, whatever the background."""
    sticker = np.zeros((20, 20, 4), np.uint8)
    cv2.circle(sticker, (10, 10), 8, (0, 200, 255, 255), -1)
    cv2.imwrite(str(tmp_path / "s.png"), sticker)
    effects = [Glow(radius=9, color=(255, 200, 80), intensity=0.8),
               Outline(width=2.0, color=(0, 255, 0), layer="front"),
               Sticker(image=tmp_path / "s.png", joints=("nose",), size=17.0, rotation=20.0)]
    persons = [_person(1, 40), _person(2, 105)]
    frame = _frame()
    with StackRenderer(ctx, W, H) as r:
        def render(stack: EffectStack) -> np.ndarray:
            return r.render(frame, persons, stack, frame_index=0, time=Fraction(0),
                            background=background).copy()

        partial = render(EffectStack(everyone=effects))
        full = render(EffectStack(everyone=[*effects, Spotlight(darkness=0.0)]))
        plain = render(EffectStack())
    assert np.array_equal(partial, full)
    assert np.count_nonzero(np.any(partial != plain, axis=-1)) > 500  # the effects are there


@pytest.mark.parametrize("background", [BlurBackground(25.0), BlurBackground(6.0), None,
                                        SolidColor((30, 60, 90)), "image"])
def test_render_reads_back_only_what_gl_drew_and_matches_the_target(ctx, tmp_path, background):
    """render() copies the background from the CPU where nothing was drawn (llvmpipe resamples
    blurs with OpenCV): the same pixels as reading the whole render_to_target() back."""
    if background == "image":
        path = tmp_path / "bg.png"
        cv2.imwrite(str(path), np.random.default_rng(1).integers(0, 256, (40, 70, 3), np.uint8))
        background = ImageBackground(path, "fill")
    stack = EffectStack(everyone=[Glow(radius=9, color=(255, 200, 80), intensity=0.8)])
    persons = [_person(1, 40), _person(2, 105)]
    frame = _frame()
    with StackRenderer(ctx, W, H) as r:
        kw = {"frame_index": 0, "time": Fraction(0), "background": background}
        assert r.resources.cpu_resample == is_software_renderer(ctx)
        for cpu in (True, False):
            r.resources.cpu_resample = cpu
            got = r.render(frame, persons, stack, **kw).copy()
            r.resources.target("fx.out", (W, H)).fbo.clear()  # nothing left from before
            want = r.read(r.render_to_target(frame, persons, stack, **kw))
            assert np.array_equal(got, want), cpu
            if cpu:
                on_cpu = got
        # Resampled by OpenCV or by GL's LINEAR filter: the same bilinear up to rounding.
        assert _max_diff(on_cpu, got) <= 1
        assert np.count_nonzero(np.any(got != frame, axis=-1)) > 500


def _max_diff(a: np.ndarray, b: np.ndarray) -> int:
    return int(np.abs(a.astype(np.int16) - b.astype(np.int16)).max())


@pytest.mark.parametrize("radius", [6.0, 25.0, 90.0])
def test_cpu_and_gl_blur_resampling_agree_and_match_the_exact_blur(ctx, radius):
    frame = _frame()
    sigma = radius / 3.0
    k = max(1, int(np.ceil(3 * sigma)))
    ref = cv2.GaussianBlur(frame, (2 * k + 1, 2 * k + 1), sigma, borderType=cv2.BORDER_REPLICATE)
    outs = []
    with Compositor(ctx, W, H) as comp:
        for cpu in (True, False):
            comp.resources.cpu_resample = cpu
            outs.append(comp.composite(frame, np.zeros((H, W), np.uint8), BlurBackground(radius),
                                       frame_index=0, time=Fraction(0)).copy())
    assert _max_diff(*outs) <= 1
    for out in outs:
        mse = np.mean((out.astype(np.float64) - ref) ** 2)
        assert 10 * np.log10(255.0**2 / mse) >= 42.0


@pytest.mark.parametrize("background", [BlurBackground(25.0), SolidColor((200, 10, 10)),
                                        BlurBackground(2.0)])
@pytest.mark.parametrize("alpha_kind", ["u8", "f4", "empty"])
def test_compositor_reads_back_only_the_alpha_box(ctx, background, alpha_kind):
    frame = _frame()
    alpha = np.zeros((H, W), np.uint8)
    if alpha_kind != "empty":
        cv2.ellipse(alpha, (60, 40), (20, 30), 0, 0, 360, 255, -1)
    if alpha_kind == "f4":
        alpha = cv2.GaussianBlur(alpha, (0, 0), 3.0).astype(np.float32) / 255.0
    with Compositor(ctx, W, H) as comp:
        kw = {"frame_index": 0, "time": Fraction(0)}
        got = comp.composite(frame, alpha, background, **kw).copy()
        want = comp.read(comp.composite_to_target(frame, alpha, background, **kw))
        bg_only = comp.composite(frame, np.zeros((H, W), np.uint8), background, **kw).copy()
    assert np.array_equal(got, want)
    inside = (alpha > 0.999) if alpha_kind == "f4" else alpha == 255
    assert np.array_equal(got[inside], frame[inside])
    assert np.array_equal(got[alpha == 0], bg_only[alpha == 0])


def test_opaque_persons_cores_come_from_the_frame_bit_for_bit(ctx, tmp_path):
    """Big persons have opaque cores (no canvas there): a nearer person overlapping a farther
    one's core, a sticker in front over a core, a grade (no core: its colours are not the
    frame's) -- the same pixels as a fully live canvas and as the GL target."""
    w, h = 220, 150
    rng = np.random.default_rng(9)
    frame = cv2.add(np.full((h, w, 3), 90, np.uint8), rng.integers(0, 120, (h, w, 3), np.uint8))

    def person(tid: int, cx: int, cy: int, ankle: float) -> PersonLayer:
        mask = np.zeros((h, w), np.uint8)
        cv2.ellipse(mask, (cx, cy), (34, 60), 0, 0, 360, 1, -1)
        kp = np.zeros((17, 3))
        kp[0] = (cx, cy - 20, 2)  # nose, inside the core
        kp[15] = (cx, ankle, 2)
        x, y, bw, bh = cv2.boundingRect(mask)
        return PersonLayer(tid, (float(x), float(y), float(bw), float(bh)), kp, 1.0, mask, None)

    persons = [person(1, 70, 75, 130.0), person(2, 105, 80, 140.0), person(3, 175, 75, 120.0)]
    for p in persons:
        assert opaque_core(p.mask * np.uint8(255), 16) is not None  # cores do exist
    sticker = np.zeros((20, 20, 4), np.uint8)
    cv2.circle(sticker, (10, 10), 8, (0, 200, 255, 255), -1)
    cv2.imwrite(str(tmp_path / "s.png"), sticker)
    stack = EffectStack(
        {1: [Sticker(image=tmp_path / "s.png", joints=("nose",), size=30.0)],
         3: [ColorGrade(saturation=0.2, tint_amount=0.5)]},
        everyone=[Glow(radius=12, color=(255, 200, 80), intensity=0.8)])
    backgrounds = (BlurBackground(25.0), SolidColor((10, 20, 30)), None, "gl-blur")
    with StackRenderer(ctx, w, h) as r, StackRenderer(ctx, w, h) as gl:
        for background in backgrounds:
            r.resources.cpu_resample = background != "gl-blur"
            if background == "gl-blur":  # no CPU pixels: render() reads the GL target back
                background = BlurBackground(25.0)
            kw = {"frame_index": 0, "time": Fraction(0), "background": background}
            got = r.render(frame, persons, stack, **kw).copy()
            full = r.render(frame, persons, stack.with_effects(None, Spotlight(darkness=0.0)),
                            **kw).copy()
            gl.resources.cpu_resample = r.resources.cpu_resample
            gl.resources.target("fx.out", (w, h)).fbo.clear()  # nothing left from before
            target = gl.read(gl.render_to_target(frame, persons, stack, **kw))
            assert np.array_equal(got, full) and np.array_equal(got, target)
            plain = r.render(frame, persons, EffectStack(), **kw)
            assert np.count_nonzero(np.any(got != plain, axis=-1)) > 500
            # Person 3 is graded all over, inside included; person 2's inside is the frame's.
            inner = cv2.erode(persons[2].mask, np.ones((9, 9), np.uint8)) != 0
            assert np.mean(np.any(got[inner] != frame[inner], axis=-1)) > 0.9
            inner = cv2.erode(persons[1].mask, np.ones((9, 9), np.uint8)) != 0
            inner[:, :90] = False  # person 1's sticker is in front of some of person 2
            assert np.array_equal(got[inner], frame[inner])
