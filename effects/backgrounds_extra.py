"""More backgrounds behind the selected persons: looks of the original frame and tiled images.

Each is a :class:`~effects.backgrounds.Background` (an immutable value rendered once per frame
by the compositor or the effect stack) with a :func:`~effects.backgrounds.parse_background` spec:

* ``desaturate[:AMOUNT]`` -- the original frame towards grey (Rec. 709 luma), AMOUNT in 0..1
  (default 1: fully grey);
* ``pixelate:BLOCK`` -- a mosaic of the original: each BLOCK x BLOCK block (pixels, from the
  top-left corner; partial blocks at the right/bottom edges) shows its mean colour;
* ``dim:AMOUNT`` -- the original darkened: ``c * (1 - AMOUNT)``, AMOUNT in 0..1;
* ``vignette:STRENGTH`` -- the original darkened towards the corners:
  ``c * clamp(1 - STRENGTH * d^2, 0, 1)``, d = distance from the frame centre over the
  half-diagonal (0 centre, 1 corners), STRENGTH in 0..1;
* ``colorkey:#RRGGBB[:TOLERANCE]`` -- the "colour key look" (colour splash): the original in
  grey except pixels whose hue is within TOLERANCE degrees (default 25) of the key colour's,
  which keep their colour (a 15-degree smooth edge; near-grey pixels always go grey);
* ``image:PATH:tile`` -- an image repeated at its own size from the top-left corner.

Why a colour-key look rather than a lens (bokeh) blur: it is a per-pixel operation, so it costs
one texture fetch per pixel on a software renderer (a disc kernel of useful radius costs
hundreds), it is exactly reproducible in NumPy (:func:`colorkey_reference`), and together with
``desaturate`` it gives editors the popular "only the subject's colour survives" look that no
existing background could make; ``blur:RADIUS`` already covers the out-of-focus look.

Every look has a NumPy reference here (``*_reference``), used by the tests: the GL output
matches it to within 1-2 levels of 8 bits.
"""

from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass
from pathlib import Path

import moderngl
import numpy as np

from effects.backgrounds import Background, BackgroundLayer, load_rgb
from effects.gl import draw_fullscreen
from inference.errors import InputError

log = logging.getLogger(__name__)

#: Spec forms added by this module, for error messages and ``--help``.
EXTRA_FORMS = (
    "desaturate[:AMOUNT], pixelate:BLOCK, dim:AMOUNT, vignette:STRENGTH, "
    "colorkey:#RRGGBB[:TOLERANCE], image:PATH:tile"
)
#: Kinds parsed by :func:`parse_extra` (``image:PATH:tile`` is routed here by the parser too).
EXTRA_KINDS = ("desaturate", "pixelate", "dim", "vignette", "colorkey")

MAX_BLOCK = 512
#: Width of the smooth edge of the colour-key hue gate, degrees.
COLORKEY_SOFTNESS_DEG = 15.0
#: Saturation gate of the colour key: smoothstep between these chroma magnitudes (0..1 scale).
COLORKEY_SAT_GATE = (0.04, 0.12)

_LUMA = np.array([0.2126, 0.7152, 0.0722])


def _unit(value: float, what: str) -> float:
    v = value
    if not (isinstance(v, (int, float)) and math.isfinite(v) and 0.0 <= v <= 1.0):
        raise InputError(f"{what} must be a number in 0..1, got {value!r}")
    return float(v)


def _look_layer(res, frame_tex: moderngl.Texture, look: str, uniforms: dict) -> BackgroundLayer:
    """Run ``bg_look.glsl`` with ``LOOK_<look>`` over the frame into an output-size target."""
    w, h = res.size
    prog = res.shaders.program("bg_look", {f"LOOK_{look}": None})
    prog["u_src"] = 0
    for k, v in uniforms.items():
        if k in prog:  # the compiler drops uniforms a look does not use
            prog[k] = v
    out = res.target("look.out", (w, h))
    frame_tex.use(0)
    draw_fullscreen(res.fullscreen(prog), out.fbo)
    return BackgroundLayer(out.texture, uv_scale=(1.0 / w, 1.0 / h))


# -- per-pixel looks ----------------------------------------------------------------------------


@dataclass(frozen=True)
class DesaturateBackground(Background):
    """The original frame moved ``amount`` (0..1) of the way to its Rec. 709 luma grey."""

    amount: float = 1.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "amount", _unit(self.amount, "desaturate amount"))

    @property
    def spec(self) -> str:
        return f"desaturate:{self.amount:g}"

    def render(self, res, frame_tex, frame_index, time) -> BackgroundLayer:
        return _look_layer(res, frame_tex, "DESATURATE", {"u_amount": self.amount})


@dataclass(frozen=True)
class DimBackground(Background):
    """The original frame times ``1 - amount`` (amount 0..1; 1 is black)."""

    amount: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "amount", _unit(self.amount, "dim amount"))

    @property
    def spec(self) -> str:
        return f"dim:{self.amount:g}"

    def render(self, res, frame_tex, frame_index, time) -> BackgroundLayer:
        return _look_layer(res, frame_tex, "DIM", {"u_amount": self.amount})


@dataclass(frozen=True)
class VignetteBackground(Background):
    """The original frame darkened towards the corners (see the module docstring)."""

    strength: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "strength", _unit(self.strength, "vignette strength"))

    @property
    def spec(self) -> str:
        return f"vignette:{self.strength:g}"

    def render(self, res, frame_tex, frame_index, time) -> BackgroundLayer:
        return _look_layer(res, frame_tex, "VIGNETTE", {"u_amount": self.strength})


def _hue(rgb01: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(hue radians, chroma) of (..., 3) RGB in 0..1, in the opponent plane the shader uses."""
    r, g, b = rgb01[..., 0], rgb01[..., 1], rgb01[..., 2]
    a = r - 0.5 * (g + b)
    bb = math.sqrt(3.0) / 2.0 * (g - b)
    return np.arctan2(bb, a), np.hypot(a, bb)


@dataclass(frozen=True)
class ColorKeyBackground(Background):
    """The colour-key look: grey except the hues within ``tolerance`` degrees of ``rgb``'s.

    ``rgb``: the key colour (r, g, b) in 0..255, not grey.  ``tolerance``: 0..180 degrees.
    """

    rgb: tuple[int, int, int]
    tolerance: float = 25.0

    def __post_init__(self) -> None:
        rgb = tuple(self.rgb)
        if len(rgb) != 3 or not all(isinstance(c, (int, np.integer)) and 0 <= c <= 255 for c in rgb):
            raise InputError(f"key colour must be three integers in 0..255, got {self.rgb!r}")
        object.__setattr__(self, "rgb", tuple(int(c) for c in rgb))
        t = self.tolerance
        if not (isinstance(t, (int, float)) and math.isfinite(t) and 0 <= t <= 180):
            raise InputError(f"colour-key tolerance must be 0..180 degrees, got {t!r}")
        object.__setattr__(self, "tolerance", float(t))
        if _hue(np.array(self.rgb, np.float64) / 255.0)[1] < 1e-6:
            raise InputError(f"key colour {self.spec.split(':')[1]} is grey: it has no hue")

    @property
    def key_hue(self) -> float:
        """The key colour's hue, radians."""
        return float(_hue(np.array(self.rgb, np.float64) / 255.0)[0])

    @property
    def spec(self) -> str:
        return "colorkey:#{:02x}{:02x}{:02x}".format(*self.rgb) + f":{self.tolerance:g}"

    def render(self, res, frame_tex, frame_index, time) -> BackgroundLayer:
        return _look_layer(
            res,
            frame_tex,
            "COLORKEY",
            {
                "u_key_hue": self.key_hue,
                "u_tolerance": math.radians(self.tolerance),
                "u_softness": math.radians(COLORKEY_SOFTNESS_DEG),
            },
        )


# -- pixelate -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PixelateBackground(Background):
    """A mosaic of the original frame, ``block`` x ``block`` pixels (1..512) per tile."""

    block: int

    def __post_init__(self) -> None:
        b = self.block
        if isinstance(b, float) and b.is_integer():
            b = int(b)
        if not (isinstance(b, (int, np.integer)) and 1 <= b <= MAX_BLOCK):
            raise InputError(f"pixelate block must be an integer in 1..{MAX_BLOCK}, got {b!r}")
        object.__setattr__(self, "block", int(b))

    @property
    def spec(self) -> str:
        return f"pixelate:{self.block}"

    def render(self, res, frame_tex, frame_index, time) -> BackgroundLayer:
        w, h = res.size
        b = self.block
        size = (-(-w // b), -(-h // b))
        out = res.target("pixelate.out", size)  # NEAREST: each output pixel shows its block
        prog = res.shaders.program("bg_pixelate")
        prog["u_src"] = 0
        prog["u_block"] = b
        frame_tex.use(0)
        draw_fullscreen(res.fullscreen(prog), out.fbo)
        return BackgroundLayer(out.texture, uv_scale=(1.0 / (size[0] * b), 1.0 / (size[1] * b)))


# -- tiled image --------------------------------------------------------------------------------


@dataclass(frozen=True)
class TiledImageBackground(Background):
    """An image repeated at its own pixel size, the first copy at the top-left corner."""

    path: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path))

    @property
    def spec(self) -> str:
        return f"image:{self.path}:tile"

    def render(self, res, frame_tex, frame_index, time) -> BackgroundLayer:
        slot = res.slot("image.tile")
        if res.state.get("image.tile") != self or slot.texture is None:
            tex = slot.upload(load_rgb(self.path))
            tex.repeat_x = True
            tex.repeat_y = True
            tex.filter = (moderngl.NEAREST, moderngl.NEAREST)
            res.state["image.tile"] = self
            log.debug("uploaded tiled background %s", self.path)
        assert slot.texture is not None
        iw, ih = slot.texture.size
        return BackgroundLayer(slot.texture, uv_scale=(1.0 / iw, 1.0 / ih))


# -- references ---------------------------------------------------------------------------------


def _to_u8(c: np.ndarray) -> np.ndarray:
    return np.floor(np.clip(c, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def desaturate_reference(frame: np.ndarray, amount: float) -> np.ndarray:
    """NumPy :class:`DesaturateBackground` of an (H, W, 3) uint8 RGB frame (float64, rounded)."""
    c = frame.astype(np.float64) / 255.0
    y = (c @ _LUMA)[..., None]
    return _to_u8(c + amount * (y - c))


def dim_reference(frame: np.ndarray, amount: float) -> np.ndarray:
    """NumPy :class:`DimBackground`."""
    return _to_u8(frame.astype(np.float64) / 255.0 * (1.0 - amount))


def vignette_reference(frame: np.ndarray, strength: float) -> np.ndarray:
    """NumPy :class:`VignetteBackground` (pixel centres at +0.5)."""
    h, w = frame.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w] + 0.5
    cx, cy = w / 2.0, h / 2.0
    d2 = ((xx - cx) ** 2 + (yy - cy) ** 2) / (cx * cx + cy * cy)
    f = np.clip(1.0 - strength * d2, 0.0, 1.0)[..., None]
    return _to_u8(frame.astype(np.float64) / 255.0 * f)


def _smoothstep(e0: float, e1: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - e0) / (e1 - e0), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def colorkey_reference(frame: np.ndarray, bg: ColorKeyBackground) -> np.ndarray:
    """NumPy :class:`ColorKeyBackground`."""
    c = frame.astype(np.float64) / 255.0
    y = (c @ _LUMA)[..., None]
    hue, sat = _hue(c)
    dh = np.abs(hue - bg.key_hue)
    dh = np.minimum(dh, 2 * math.pi - dh)
    tol, soft = math.radians(bg.tolerance), math.radians(COLORKEY_SOFTNESS_DEG)
    keep = (1.0 - _smoothstep(tol, tol + soft, dh)) * _smoothstep(*COLORKEY_SAT_GATE, sat)
    return _to_u8(y + keep[..., None] * (c - y))


def pixelate_reference(frame: np.ndarray, block: int) -> np.ndarray:
    """NumPy :class:`PixelateBackground`: block means (partial edge blocks), rounded."""
    h, w = frame.shape[:2]
    out = np.empty_like(frame)
    f = frame.astype(np.float64)
    for y0 in range(0, h, block):
        for x0 in range(0, w, block):
            blk = f[y0 : y0 + block, x0 : x0 + block]
            out[y0 : y0 + block, x0 : x0 + block] = np.floor(blk.mean(axis=(0, 1)) + 0.5)
    return out


def tile_reference(img: np.ndarray, width: int, height: int) -> np.ndarray:
    """NumPy :class:`TiledImageBackground`: ``img`` repeated, cropped to (height, width)."""
    ih, iw = img.shape[:2]
    reps = (-(-height // ih), -(-width // iw), 1)
    return np.ascontiguousarray(np.tile(img, reps)[:height, :width])


# -- parsing ------------------------------------------------------------------------------------

_HEX = re.compile(r"#?([0-9a-fA-F]{6})\Z")


def parse_extra(kind: str, rest: str, bad) -> Background:
    """Parse the specs of :data:`EXTRA_KINDS` (``kind`` lower-case, ``rest`` after the first
    ``:``); ``bad(why)`` makes the :class:`InputError` to raise."""

    def number(text: str, what: str) -> float:
        try:
            v = float(text)
        except ValueError:
            raise bad(f"{what} must be a number") from None
        if not math.isfinite(v):
            raise bad(f"{what} must be finite")
        return v

    try:
        if kind == "desaturate":
            return DesaturateBackground(number(rest, "amount") if rest.strip() else 1.0)
        if kind == "dim":
            return DimBackground(number(rest, "amount"))
        if kind == "vignette":
            return VignetteBackground(number(rest, "strength"))
        if kind == "pixelate":
            v = number(rest, "block")
            if not v.is_integer():
                raise bad("block must be a whole number of pixels")
            return PixelateBackground(int(v))
        if kind == "colorkey":
            colour, _, tol = rest.partition(":")
            m = _HEX.match(colour.strip())
            if not m:
                raise bad("colour must be #RRGGBB hex")
            v = int(m.group(1), 16)
            rgb = ((v >> 16) & 255, (v >> 8) & 255, v & 255)
            t = number(tol, "tolerance") if tol.strip() else 25.0
            return ColorKeyBackground(rgb, t)
    except InputError as exc:
        if exc.message.startswith("bad background"):
            raise
        raise bad(exc.message) from None
    raise bad(f"unknown kind {kind!r}")
