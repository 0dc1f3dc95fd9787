"""The extra backgrounds (effects.backgrounds_extra) against NumPy references, real EGL context."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import pytest

from effects.backgrounds import BlurBackground, ImageBackground, parse_background
from effects.backgrounds_extra import (
    ColorKeyBackground,
    DesaturateBackground,
    DimBackground,
    PixelateBackground,
    TiledImageBackground,
    VignetteBackground,
    colorkey_reference,
    desaturate_reference,
    dim_reference,
    pixelate_reference,
    tile_reference,
    vignette_reference,
)
from effects.compositor import Compositor
from effects.stack import EffectStack, StackRenderer
from inference.errors import InputError

T0 = Fraction(0)


def _frame(h: int, w: int, seed: int = 0) -> np.ndarray:
    """Saturated discs on a gradient plus noise: every hue, grey areas and edges."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    img = np.stack([x * 255 // max(w - 1, 1), y * 255 // max(h - 1, 1), (x + y) % 256], -1)
    img = img.astype(np.uint8)
    for _ in range(14):
        col = tuple(int(v) for v in rng.integers(0, 256, 3))
        cv2.circle(img, (int(rng.integers(0, w)), int(rng.integers(0, h))),
                   int(rng.integers(3, max(4, w // 5))), col, -1)
    img[: h // 4, : w // 4] = 128  # a grey patch
    return cv2.add(img, rng.integers(0, 20, (h, w, 3), dtype=np.uint8))


def _err(a: np.ndarray, b: np.ndarray) -> int:
    return int(np.abs(a.astype(np.int16) - b.astype(np.int16)).max())


def _background_only(ctx, frame: np.ndarray, bg) -> np.ndarray:
    h, w = frame.shape[:2]
    with Compositor(ctx, w, h) as comp:
        return comp.composite(frame, np.zeros((h, w), np.uint8), bg, frame_index=0, time=T0).copy()


KEY = ColorKeyBackground((220, 30, 30), 30.0)


@pytest.mark.parametrize(
    ("bg", "reference"),
    [
        (DesaturateBackground(1.0), lambda f: desaturate_reference(f, 1.0)),
        (DesaturateBackground(0.4), lambda f: desaturate_reference(f, 0.4)),
        (DimBackground(0.6), lambda f: dim_reference(f, 0.6)),
        (VignetteBackground(0.8), lambda f: vignette_reference(f, 0.8)),
        (VignetteBackground(1.0), lambda f: vignette_reference(f, 1.0)),
        (KEY, lambda f: colorkey_reference(f, KEY)),
    ],
    ids=["desat1", "desat0.4", "dim", "vignette0.8", "vignette1", "colorkey"],
)
@pytest.mark.parametrize("size", [(97, 61), (33, 17)])
def test_looks_match_reference(ctx, bg, reference, size):
    w, h = size
    frame = _frame(h, w, seed=w)
    out = _background_only(ctx, frame, bg)
    ref = reference(frame)
    assert _err(out, ref) <= 2
    assert _err(out, frame) > 20  # the look really changed the picture


def test_colorkey_keeps_only_the_key_hue(ctx):
    h, w = 20, 60
    frame = np.zeros((h, w, 3), np.uint8)
    frame[:, :20] = (230, 20, 20)  # the key hue: kept
    frame[:, 20:40] = (20, 200, 40)  # green: grey
    frame[:, 40:] = (200, 30, 60)  # a red a few degrees off: kept
    out = _background_only(ctx, frame, KEY)
    assert _err(out[:, :20], frame[:, :20]) <= 1
    green = out[:, 20:40].astype(int)
    assert np.all(np.ptp(green, axis=-1) <= 1)  # grey
    assert _err(out[:, 40:], frame[:, 40:]) <= 1
    assert _err(out, colorkey_reference(frame, KEY)) <= 2


@pytest.mark.parametrize("block", [1, 4, 7, 16, 200])
def test_pixelate_matches_reference(ctx, block):
    h, w = 61, 97
    frame = _frame(h, w, seed=block)
    out = _background_only(ctx, frame, PixelateBackground(block))
    assert _err(out, pixelate_reference(frame, block)) <= 1
    if block == 1:
        assert np.array_equal(out, frame)


def test_tiled_image(ctx, tmp_path):
    tile = _frame(13, 9, seed=3)
    path = tmp_path / "tile.png"
    assert cv2.imwrite(str(path), cv2.cvtColor(tile, cv2.COLOR_RGB2BGR))
    h, w = 40, 50
    frame = _frame(h, w, seed=4)
    alpha = np.zeros((h, w), np.uint8)
    alpha[10:20, 10:30] = 255
    bg = TiledImageBackground(path)
    with Compositor(ctx, w, h) as comp:
        out = comp.composite(frame, alpha, bg, frame_index=0, time=T0).copy()
        again = comp.composite(frame, alpha, bg, frame_index=1, time=T0)
        assert np.array_equal(out, again)
    expected = tile_reference(tile, w, h)
    expected[alpha == 255] = frame[alpha == 255]
    assert np.array_equal(out, expected)
    with pytest.raises(InputError, match="gone.png"):
        _background_only(ctx, frame, TiledImageBackground(tmp_path / "gone.png"))


def test_looks_work_in_the_effect_stack(ctx):
    h, w = 48, 64
    frame = _frame(h, w, seed=9)
    with StackRenderer(ctx, w, h) as r:
        for bg, ref in ((DimBackground(0.5), dim_reference(frame, 0.5)),
                        (PixelateBackground(5), pixelate_reference(frame, 5))):
            out = r.render(frame, [], EffectStack(), frame_index=0, time=T0, background=bg)
            assert _err(out, ref) <= 2


def test_parse_extra_forms_round_trip():
    assert parse_background("desaturate") == DesaturateBackground(1.0)
    assert parse_background("desaturate:0.25") == DesaturateBackground(0.25)
    assert parse_background("pixelate:12") == PixelateBackground(12)
    assert parse_background("dim:0.5") == DimBackground(0.5)
    assert parse_background("vignette:0.7") == VignetteBackground(0.7)
    assert parse_background("colorkey:#ff0000") == ColorKeyBackground((255, 0, 0), 25.0)
    assert parse_background("colorkey:#00ff00:40") == ColorKeyBackground((0, 255, 0), 40.0)
    assert parse_background("image:C:/a/b.png:tile") == TiledImageBackground(Path("C:/a/b.png"))
    # Existing forms unchanged.
    assert parse_background("image:/a/b.png:fit") == ImageBackground(Path("/a/b.png"), "fit")
    assert parse_background("blur:5") == BlurBackground(5.0)
    for bg in (DesaturateBackground(0.3), PixelateBackground(9), DimBackground(1.0),
               VignetteBackground(0.0), KEY, TiledImageBackground(Path("x:y.png"))):
        assert parse_background(bg.spec) == bg


@pytest.mark.parametrize(
    "spec",
    ["desaturate:2", "desaturate:x", "pixelate:0", "pixelate:2.5", "pixelate:", "pixelate:9999",
     "dim:", "dim:-0.1", "dim:nan", "vignette:1.5", "colorkey:", "colorkey:#808080",
     "colorkey:#ff0000:500", "colorkey:red", "image::tile"],
)  # fmt: skip
def test_parse_extra_rejects(spec):
    with pytest.raises(InputError) as info:
        parse_background(spec)
    msg = str(info.value)
    assert "bad background" in msg and "pixelate:BLOCK" in msg and "color:#RRGGBB" in msg
