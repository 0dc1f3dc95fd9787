"""The GL compositor, backgrounds and mattes against NumPy/OpenCV references (real EGL context)."""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import pytest

from effects.backgrounds import (
    BlurBackground,
    ImageBackground,
    SolidColor,
    VideoBackground,
    VideoBackgroundSpec,
    blur_plan,
    fit_image,
    parse_background,
)
from effects.compositor import Compositor
from effects.matte import build_alpha
from inference.errors import InputError

T0 = Fraction(0)


def _frame(h: int, w: int, seed: int = 0) -> np.ndarray:
    """A random RGB frame whose rows all differ (so a flip cannot go unnoticed)."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)


def _smooth_frame(h: int, w: int, seed: int = 0) -> np.ndarray:
    """Filled discs on a gradient plus mild noise: edges and flat areas, like real footage."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    img = np.stack([x * 255 // max(w - 1, 1), y * 255 // max(h - 1, 1), (x + y) % 256], -1)
    img = img.astype(np.uint8)
    for _ in range(12):
        cx, cy = int(rng.integers(0, w)), int(rng.integers(0, h))
        col = tuple(int(v) for v in rng.integers(0, 256, 3))
        cv2.circle(img, (cx, cy), int(rng.integers(3, max(4, w // 4))), col, -1)
    return cv2.add(img, rng.integers(0, 20, (h, w, 3), dtype=np.uint8))


def _hard_alpha(h: int, w: int, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.where(rng.random((h, w)) < 0.5, 255, 0).astype(np.uint8)


def _reference(frame: np.ndarray, alpha: np.ndarray, bg: np.ndarray) -> np.ndarray:
    """alpha * frame + (1 - alpha) * bg in float64, rounded to nearest."""
    a = alpha.astype(np.float64) / 255.0 if alpha.dtype == np.uint8 else alpha.astype(np.float64)
    out = a[..., None] * frame + (1.0 - a[..., None]) * bg.astype(np.float64)
    return np.floor(out + 0.5).astype(np.uint8)


def _max_err(a: np.ndarray, b: np.ndarray) -> int:
    return int(np.abs(a.astype(np.int16) - b.astype(np.int16)).max())


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(255.0**2 / mse)


def _write_png(path: Path, rgb: np.ndarray) -> Path:
    assert cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return path


# -- solid colour, alpha forms, orientation, sizes ------------------------------------------------


@pytest.mark.parametrize("size", [(33, 17), (17, 33), (1, 1), (250, 3), (64, 48)])
def test_color_hard_matte_matches_reference(ctx, size):
    w, h = size
    frame, alpha = _frame(h, w), _hard_alpha(h, w)
    with Compositor(ctx, w, h) as comp:
        out = comp.composite(frame, alpha, SolidColor((10, 200, 31)), frame_index=0, time=T0)
    assert out.shape == (h, w, 3) and out.dtype == np.uint8
    bg = np.broadcast_to(np.array([10, 200, 31], np.uint8), frame.shape)
    assert _max_err(out, _reference(frame, alpha, bg)) <= 1
    # A hard matte selects whole pixels: exactly the frame or exactly the colour.
    assert np.array_equal(out[alpha == 255], frame[alpha == 255])
    assert np.all(out[alpha == 0] == [10, 200, 31])


def test_soft_alpha_uint8_float_and_bool(ctx):
    h, w = 17, 33
    frame = _frame(h, w, 3)
    rng = np.random.default_rng(4)
    a8 = rng.integers(0, 256, (h, w), dtype=np.uint8)
    af = rng.random((h, w), dtype=np.float32)
    bg = np.broadcast_to(np.array([255, 0, 128], np.uint8), frame.shape)
    color = SolidColor((255, 0, 128))
    with Compositor(ctx, w, h) as comp:
        out8 = comp.composite(frame, a8, color, frame_index=0, time=T0).copy()
        outf = comp.composite(frame, af, color, frame_index=1, time=T0).copy()
        outf64 = comp.composite(frame, af.astype(np.float64), color, frame_index=2, time=T0)
        assert np.array_equal(outf64, outf)
        outb = comp.composite(frame, a8 > 127, color, frame_index=3, time=T0)
        assert np.array_equal(
            outb, _reference(frame, np.where(a8 > 127, 255, 0).astype(np.uint8), bg)
        )
    assert _max_err(out8, _reference(frame, a8, bg)) <= 1
    assert _max_err(outf, _reference(frame, af, bg)) <= 1


def test_rows_are_not_flipped(ctx):
    h, w = 5, 7
    frame = np.zeros((h, w, 3), np.uint8)
    frame[0, 0] = (255, 0, 0)  # top-left: red
    frame[h - 1, w - 1] = (0, 0, 255)  # bottom-right: blue
    alpha = np.zeros((h, w), np.uint8)
    alpha[0, :] = 255  # keep only the top row of the frame
    with Compositor(ctx, w, h) as comp:
        out = comp.composite(frame, alpha, SolidColor((0, 255, 0)), frame_index=0, time=T0)
    assert tuple(out[0, 0]) == (255, 0, 0)
    assert tuple(out[0, 1]) == (0, 0, 0)
    assert tuple(out[h - 1, w - 1]) == (0, 255, 0)  # background: the blue pixel is not kept
    assert np.all(out[1:] == (0, 255, 0))


def test_resize_out_buffer_and_bad_inputs(ctx):
    comp = Compositor(ctx, 8, 6)
    try:
        f1, f2 = _frame(6, 8), _frame(9, 13)
        a1, a2 = _hard_alpha(6, 8), _hard_alpha(9, 13)
        bg = SolidColor((1, 2, 3))
        out = np.empty((6, 8, 3), np.uint8)
        assert comp.composite(f1, a1, bg, frame_index=0, time=T0, out=out) is out
        res = comp.resources
        first = comp.composite(f1, a1, bg, frame_index=1, time=T0)
        kept = first.copy()
        second = comp.composite(f1[::-1].copy(), a1, bg, frame_index=2, time=T0)
        assert comp.resources is res  # same size: nothing reallocated
        # Each result is its own array: an encoder queue may hold it while we go on.
        assert second is not first and np.array_equal(first, kept)
        assert not np.array_equal(first, second)
        big = comp.composite(f2, a2, bg, frame_index=2, time=T0)  # a new size: adapts
        assert comp.size == (13, 9) and big.shape == (9, 13, 3)
        assert np.array_equal(big[a2 == 255], f2[a2 == 255])
        with pytest.raises(ValueError):
            comp.composite(f2, a1, bg, frame_index=3, time=T0)
        with pytest.raises(ValueError):
            comp.composite(f2[..., :2], a2, bg, frame_index=3, time=T0)
        with pytest.raises(ValueError):
            comp.composite(f2, a2.astype(np.int32), bg, frame_index=3, time=T0)
        with pytest.raises(ValueError):
            comp.composite(f2, a2, bg, frame_index=3, time=T0, out=np.empty((9, 13, 4), np.uint8))
        # Non-contiguous inputs are fine.
        view = np.ascontiguousarray(np.concatenate([f2, f2], axis=1))[:, ::2]
        assert np.array_equal(comp.composite(view, a2 * 0 + 255, bg, frame_index=4, time=T0), view)
    finally:
        comp.release()


# -- image and video backgrounds ------------------------------------------------------------------


def _quadrants(h: int, w: int) -> np.ndarray:
    img = np.zeros((h, w, 3), np.uint8)
    img[: h // 2, : w // 2] = (255, 0, 0)
    img[: h // 2, w // 2 :] = (0, 255, 0)
    img[h // 2 :, : w // 2] = (0, 0, 255)
    img[h // 2 :, w // 2 :] = (255, 255, 0)
    return img


def test_fit_image_geometry():
    img = _quadrants(10, 20)  # 2:1
    fit = fit_image(img, 40, 40, "fit")  # -> 40x20 band in rows 10..29, black bars
    assert fit.shape == (40, 40, 3)
    assert np.all(fit[:10] == 0) and np.all(fit[30:] == 0)
    assert tuple(fit[12, 2]) == (255, 0, 0) and tuple(fit[27, 37]) == (255, 255, 0)
    fill = fit_image(img, 40, 40, "fill")  # -> 80x40, columns 20..59 kept
    assert fill.shape == (40, 40, 3)
    assert tuple(fill[2, 2]) == (255, 0, 0) and tuple(fill[2, 37]) == (0, 255, 0)
    assert tuple(fill[37, 2]) == (0, 0, 255) and tuple(fill[37, 37]) == (255, 255, 0)
    assert fit_image(img, 20, 10, "fill") is img


@pytest.mark.parametrize("mode", ["fit", "fill"])
def test_image_background_matches_reference(ctx, tmp_path, mode):
    w, h = 33, 17
    src = _smooth_frame(40, 25, seed=5)
    path = _write_png(tmp_path / "bg.png", src)
    frame, alpha = _frame(h, w), _hard_alpha(h, w)
    bg = ImageBackground(path, mode)
    with Compositor(ctx, w, h) as comp:
        out = comp.composite(frame, alpha, bg, frame_index=0, time=T0).copy()
        again = comp.composite(frame, alpha, bg, frame_index=1, time=T0)  # cached upload
        assert np.array_equal(out, again)
    expected_bg = fit_image(src, w, h, mode)
    assert _max_err(out, _reference(frame, alpha, expected_bg)) <= 1
    assert np.array_equal(out[alpha == 0], expected_bg[alpha == 0])


def test_image_background_errors(ctx, tmp_path):
    with Compositor(ctx, 8, 8) as comp:
        frame, alpha = _frame(8, 8), _hard_alpha(8, 8)
        missing = tmp_path / "nope.png"
        with pytest.raises(InputError, match="nope.png"):
            comp.composite(frame, alpha, ImageBackground(missing), frame_index=0, time=T0)
        junk = tmp_path / "junk.jpg"
        junk.write_bytes(b"this is not an image")
        with pytest.raises(InputError, match="junk.jpg"):
            comp.composite(frame, alpha, ImageBackground(junk), frame_index=0, time=T0)
    with pytest.raises(InputError):
        ImageBackground(missing, "stretch")  # type: ignore[arg-type]


def test_video_background_follows_time(ctx):
    w, h = 21, 11
    calls: list[Fraction] = []

    def frames(t: Fraction) -> np.ndarray:
        calls.append(t)
        img = _smooth_frame(22, 42, seed=int(t * 30))
        return img

    frame, alpha = _frame(h, w), _hard_alpha(h, w)
    bg = VideoBackground(frames, "fill")
    with Compositor(ctx, w, h) as comp:
        for i in range(3):
            t = Fraction(i, 30)
            out = comp.composite(frame, alpha, bg, frame_index=i, time=t)
            expected = fit_image(_smooth_frame(22, 42, seed=i), w, h, "fill")
            assert _max_err(out, _reference(frame, alpha, expected)) <= 1
    assert calls == [Fraction(0), Fraction(1, 30), Fraction(2, 30)]
    assert all(isinstance(t, Fraction) for t in calls)


# -- blur -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("radius", [1.5, 3.0])
def test_blur_small_radius_matches_opencv(ctx, radius):
    h, w = 61, 97
    sigma, factor, _ = blur_plan(radius)
    assert factor == 1  # full resolution: must match OpenCV closely
    frame = _smooth_frame(h, w, seed=7)
    k = max(1, math.ceil(3 * sigma))
    ref_bg = cv2.GaussianBlur(frame, (2 * k + 1, 2 * k + 1), sigma, borderType=cv2.BORDER_REPLICATE)
    alpha = _hard_alpha(h, w)
    with Compositor(ctx, w, h) as comp:
        bg_only = comp.composite(
            frame, np.zeros((h, w), np.uint8), BlurBackground(radius), frame_index=0, time=T0
        ).copy()
        out = comp.composite(frame, alpha, BlurBackground(radius), frame_index=0, time=T0)
    assert _psnr(bg_only, ref_bg) >= 45.0
    assert np.array_equal(out[alpha == 255], frame[alpha == 255])
    assert _psnr(out, _reference(frame, alpha, ref_bg)) >= 45.0
    # Not a no-op: the blur changed the image a lot more than its error.
    assert _psnr(bg_only, frame) < 35.0


@pytest.mark.parametrize("radius", [4.5, 12.0, 25.0, 60.0])
def test_blur_large_radius_looks_right(ctx, radius):
    h, w = 180, 320
    sigma, factor, _ = blur_plan(radius)
    assert factor >= 2  # the downsampled path
    frame = _smooth_frame(h, w, seed=8)
    k = math.ceil(3 * sigma)
    ref_bg = cv2.GaussianBlur(frame, (2 * k + 1, 2 * k + 1), sigma, borderType=cv2.BORDER_REPLICATE)
    with Compositor(ctx, w, h) as comp:
        out = comp.composite(
            frame, np.zeros((h, w), np.uint8), BlurBackground(radius), frame_index=0, time=T0
        )
    assert _psnr(out, ref_bg) >= 42.0
    # The downsampled result is close to the exact blur everywhere, not only on average,
    # and the edges are replicated rather than darkened.
    assert _max_err(out, ref_bg) <= 16
    # Blurrier than a much smaller blur would be.
    half = cv2.GaussianBlur(frame, (0, 0), sigma / 3, borderType=cv2.BORDER_REPLICATE)
    assert _psnr(out, ref_bg) > _psnr(out, half) + 3


def test_blur_on_tiny_frames(ctx):
    for w, h in ((33, 17), (5, 3), (1, 1)):
        frame = _smooth_frame(h, w, seed=9)
        with Compositor(ctx, w, h) as comp:
            out = comp.composite(
                frame, np.zeros((h, w), np.uint8), BlurBackground(25), frame_index=0, time=T0
            )
        ref = cv2.GaussianBlur(frame, (51, 51), 25 / 3, borderType=cv2.BORDER_REPLICATE)
        assert _max_err(out, ref) <= 12, (w, h)


def test_blur_plan_bounds_the_work():
    for radius in (4, 25, 100, 1000):
        sigma, factor, working = blur_plan(radius)
        assert factor % 2 == 0 and 2 <= factor <= 16
        assert working * factor <= sigma + 1e-9
    assert blur_plan(3)[1] == 1


# -- parsing --------------------------------------------------------------------------------------


def test_parse_background_accepts():
    assert parse_background("color:#00FF7f") == SolidColor((0, 255, 127))
    assert parse_background("blur:25") == BlurBackground(25.0)
    assert parse_background("blur:2.5") == BlurBackground(2.5)
    assert parse_background("image:/a/b.png") == ImageBackground(Path("/a/b.png"), "fill")
    assert parse_background("image:/a/b.png:fit") == ImageBackground(Path("/a/b.png"), "fit")
    assert parse_background("image:C:/pics/b.png:fill") == ImageBackground(
        Path("C:/pics/b.png"), "fill"
    )
    assert parse_background("video:clip.mp4") == VideoBackgroundSpec(Path("clip.mp4"), "fill")
    assert parse_background("video:clip.mp4:fit") == VideoBackgroundSpec(Path("clip.mp4"), "fit")
    for bg in (
        SolidColor((1, 2, 255)),
        BlurBackground(7.5),
        ImageBackground(Path("x:y.png"), "fit"),
    ):
        assert parse_background(bg.spec) == bg


@pytest.mark.parametrize(
    "spec",
    ["", "green", "color:", "color:#12345", "color:#GGHHII", "blur:", "blur:abc", "blur:0",
     "blur:-3", "blur:nan", "blur:inf", "image:", "image::fit", "video:", "gif:x.gif"],
)  # fmt: skip
def test_parse_background_rejects(spec):
    with pytest.raises(InputError) as info:
        parse_background(spec)
    msg = str(info.value)
    assert "color:#RRGGBB" in msg and "blur:RADIUS" in msg and "image:PATH" in msg


# -- matte ----------------------------------------------------------------------------------------


def test_build_alpha_union_and_refine():
    h, w = 40, 60
    a = np.zeros((h, w), bool)
    a[5:20, 5:25] = True
    b = np.zeros((h, w), np.uint8)
    b[15:35, 30:55] = 1  # uint8 0/1 masks count as well
    hard = build_alpha([a, b])
    assert hard.dtype == np.uint8 and set(np.unique(hard)) == {0, 255}
    assert np.array_equal(hard == 255, a | (b != 0))
    soft = build_alpha([a, b], "feather", 1.5)
    assert soft.dtype == np.uint8
    assert soft[12, 15] == 255 and soft[38, 2] == 0  # far inside / far outside unchanged
    edge = soft[10, 5]  # on the left edge of mask a: about half
    assert 80 <= edge <= 180
    assert 0 < soft[10, 4] < 128 < soft[10, 6] < 255  # a ramp across the edge
    assert np.array_equal(build_alpha([a], "feather", 0), build_alpha([a]))
    assert np.array_equal(build_alpha([], shape=(3, 4)), np.zeros((3, 4), np.uint8))
    with pytest.raises(ValueError):
        build_alpha([])
    with pytest.raises(ValueError):
        build_alpha([a, b[:10]])
    with pytest.raises(InputError):
        build_alpha([a], "sharpen")


def test_torchvision_loads_after_a_gl_context(tmp_path):
    """Mesa's LLVM and Triton's clash when Triton loads second (SIGSEGV): a process that
    composites a frame and then analyzes (the plugin server) must survive the torch import."""
    import subprocess
    import sys

    script = (
        "import numpy as np, sys\n"
        "from effects.gl import create_context\n"
        "from effects.compositor import Compositor\n"
        "from effects.backgrounds import SolidColor\n"
        "ctx = create_context()\n"
        "with Compositor(ctx, 8, 6) as comp:\n"
        "    out = comp.composite(np.zeros((6, 8, 3), np.uint8), np.zeros((6, 8), np.float32),\n"
        "                         SolidColor((255, 0, 0)), frame_index=0, time=0)\n"
        "assert (out == (255, 0, 0)).all()\n"
        "import torchvision.ops\n"
        "print('alive', 'torch' in sys.modules)\n"
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         cwd=Path(__file__).resolve().parents[1], check=False, timeout=300)
    assert run.returncode == 0, (run.returncode, run.stderr[-2000:])
    assert run.stdout.strip() == "alive True"
