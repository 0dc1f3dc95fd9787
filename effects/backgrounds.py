"""Backgrounds shown where the matte is transparent: solid colour, image, blurred frame, video.

Every background is an immutable value (a frozen dataclass) with one method the compositor
calls once per frame::

    layer = background.render(res, frame_tex, frame_index, time)

``res`` is the compositor's :class:`~effects.gl.RenderResources` (output size, shader library,
cached render targets); ``frame_tex`` is the uploaded original frame (RGBA, A = 1, image space,
LINEAR filtering, see :mod:`effects.gl`).  The result is a :class:`BackgroundLayer`: a texture and the
scale that maps output pixel coordinates to its texture coordinates, so a background may be
smaller than the output (a blur computed at reduced resolution is upsampled bilinearly by the
compositor for free on a GPU; on a software renderer, where that full-frame pass is the
expensive part, OpenCV upsamples it and the layer carries the result as a CPU image too, see
:attr:`RenderResources.cpu_resample <effects.gl.RenderResources>`).  GL state a background
needs between frames lives in ``res``.

CLI strings are parsed by :func:`parse_background`.
"""

from __future__ import annotations

import abc
import logging
import math
import numbers
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Literal

import cv2
import moderngl
import numpy as np

from effects.gl import RenderResources, RenderTarget, draw_fullscreen
from inference.errors import InputError

log = logging.getLogger(__name__)

FitMode = Literal["fit", "fill"]
_MODES = ("fit", "fill")

#: Accepted background spec forms, for error messages and ``--help``.
BACKGROUND_FORMS = (
    "color:#RRGGBB, image:PATH[:fit|fill|tile], blur:RADIUS, video:PATH[:fit|fill], "
    "desaturate[:AMOUNT], pixelate:BLOCK, dim:AMOUNT, vignette:STRENGTH or "
    "colorkey:#RRGGBB[:TOLERANCE]"
)


@dataclass(frozen=True)
class BackgroundLayer:
    """A background for one frame: either a uniform colour or a texture and how it maps onto
    the output.

    ``color``: (r, g, b) in 0..1 -- the compositor then needs no texture fetch at all.
    Otherwise the compositor samples ``texture`` (with its own filter, edges clamped) at
    ``gl_FragCoord.xy * uv_scale + uv_offset``: ``uv_scale = (1/W, 1/H)`` and no offset for a
    texture of the output size; ``uv_scale = (1 / (w * f), 1 / (h * f))`` and
    ``uv_offset = (p / w, p / h)`` for a (w, h) texture each texel of which covers f x f output
    pixels, with p texels of padding before the first output pixel.

    ``image``, when the background has it on the CPU anyway: the layer at the output size,
    (H, W, 3 or 4) uint8 RGB(A) top row first, equal to what sampling ``texture`` at each
    pixel's centre gives (so a consumer may copy it instead of running a GL pass over the
    frame).  It may be a view into a buffer reused next frame: use it within the frame.
    """

    texture: moderngl.Texture | None = None
    uv_scale: tuple[float, float] = (0.0, 0.0)
    uv_offset: tuple[float, float] = (0.0, 0.0)
    color: tuple[float, float, float] | None = None
    image: np.ndarray | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if (self.texture is None) == (self.color is None):
            raise ValueError("a BackgroundLayer has either a texture or a colour")

    def pixels(self) -> np.ndarray | tuple[int, int, int] | None:
        """The layer on the CPU: ``image``, or the colour in 0..255 rounded as the GL passes
        round it (``floor(255 c + 0.5)`` in float32); None when it is only in GL."""
        if self.color is not None:
            c = np.floor(np.asarray(self.color, np.float32) * np.float32(255.0) + np.float32(0.5))
            return (int(c[0]), int(c[1]), int(c[2]))
        return self.image


class Background(abc.ABC):
    """What the compositor shows behind the selected persons."""

    @abc.abstractmethod
    def render(
        self,
        res: RenderResources,
        frame_tex: moderngl.Texture,
        frame_index: int,
        time: Fraction,
    ) -> BackgroundLayer:
        """The background for this frame (``frame_index``, clip ``time`` in seconds)."""

    @property
    @abc.abstractmethod
    def spec(self) -> str:
        """The CLI string that :func:`parse_background` turns back into this background."""


# -- solid colour -------------------------------------------------------------------------------


@dataclass(frozen=True)
class SolidColor(Background):
    """A uniform colour, ``rgb`` = (r, g, b) in 0..255."""

    rgb: tuple[int, int, int]

    def __post_init__(self) -> None:
        rgb = tuple(self.rgb)
        if len(rgb) != 3 or not all(isinstance(c, numbers.Integral) and 0 <= c <= 255 for c in rgb):
            raise InputError(f"colour must be three integers in 0..255, got {self.rgb!r}")
        object.__setattr__(self, "rgb", tuple(int(c) for c in rgb))

    @property
    def spec(self) -> str:
        return "color:#{:02x}{:02x}{:02x}".format(*self.rgb)

    def render(self, res, frame_tex, frame_index, time) -> BackgroundLayer:
        r, g, b = self.rgb
        return BackgroundLayer(color=(r / 255.0, g / 255.0, b / 255.0))


# -- image and video ----------------------------------------------------------------------------


def fit_image(img: np.ndarray, width: int, height: int, mode: FitMode) -> np.ndarray:
    """Resize an (h, w, 3) uint8 image to (height, width, 3), keeping its aspect ratio.

    ``'fit'``: the whole image, letterboxed/pillarboxed on black.  ``'fill'``: cover the output
    and crop the overflow equally on both sides.  Area interpolation when shrinking, bilinear
    when enlarging.  Returns ``img`` itself when it already has the output size.
    """
    h, w = img.shape[:2]
    if (w, h) == (width, height):
        return img
    if mode == "fit":
        scale = min(width / w, height / h)
        nw, nh = min(width, max(1, round(w * scale))), min(height, max(1, round(h * scale)))
    else:
        scale = max(width / w, height / h)
        nw, nh = max(width, round(w * scale)), max(height, round(h * scale))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    resized = cv2.resize(img, (nw, nh), interpolation=interp)
    if mode == "fill":
        x0, y0 = (nw - width) // 2, (nh - height) // 2
        return np.ascontiguousarray(resized[y0 : y0 + height, x0 : x0 + width])
    out = np.zeros((height, width, 3), np.uint8)
    x0, y0 = (width - nw) // 2, (height - nh) // 2
    out[y0 : y0 + nh, x0 : x0 + nw] = resized
    return out


def load_rgb(path: Path) -> np.ndarray:
    """Read an image file as (h, w, 3) uint8 RGB; :class:`InputError` naming it if impossible."""
    if not path.is_file():
        raise InputError("background image not found", path=path, hint="check the path")
    try:
        data = np.fromfile(path, dtype=np.uint8)  # also works for non-ASCII paths on Windows
    except OSError as exc:
        raise InputError(f"cannot read background image: {exc.strerror}", path=path) from exc
    bgr = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if bgr is None:
        raise InputError(
            "cannot decode background image",
            path=path,
            hint="use a PNG, JPEG, BMP, TIFF or WebP file",
        )
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def _check_mode(mode: str) -> None:
    if mode not in _MODES:
        raise InputError(f"background mode must be 'fit' or 'fill', not {mode!r}")


@dataclass(frozen=True)
class ImageBackground(Background):
    """A still image, scaled to ``'fit'`` (letterbox on black) or ``'fill'`` (cover, crop)."""

    path: Path
    mode: FitMode = "fill"

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path))
        _check_mode(self.mode)

    @property
    def spec(self) -> str:
        return f"image:{self.path}:{self.mode}"

    def load(self, width: int, height: int) -> np.ndarray:
        """The background as a (height, width, 3) uint8 RGB image; :class:`InputError` if the
        file is missing or unreadable."""
        return fit_image(load_rgb(self.path), width, height, self.mode)

    def render(self, res, frame_tex, frame_index, time) -> BackgroundLayer:
        slot = res.slot("image")
        key = (self, res.size)
        if res.state.get("image") != key or slot.texture is None:
            res.state["image.pixels"] = img = self.load(*res.size)
            slot.upload(img)
            res.state["image"] = key
            log.debug("uploaded background image %s (%s)", self.path, self.mode)
        assert slot.texture is not None
        w, h = res.size
        return BackgroundLayer(slot.texture, uv_scale=(1.0 / w, 1.0 / h),
                               image=res.state["image.pixels"])


@dataclass(frozen=True, eq=False)
class VideoBackground(Background):
    """A moving background: ``frames(time)`` returns the (h, w, 3) uint8 RGB image to show at
    clip time ``time`` (seconds, exact); it is scaled to ``'fit'`` or ``'fill'`` every frame.

    The editor_plugin layer builds this from a :class:`VideoBackgroundSpec` with a looping,
    time-synced decoder.  Compared by identity (the provider is a live object).
    """

    frames: Callable[[Fraction], np.ndarray]
    mode: FitMode = "fill"
    source: str = ""  # for :attr:`spec` only: the video path the provider decodes

    def __post_init__(self) -> None:
        _check_mode(self.mode)

    @property
    def spec(self) -> str:
        return f"video:{self.source}:{self.mode}"

    def render(self, res, frame_tex, frame_index, time) -> BackgroundLayer:
        img = np.asarray(self.frames(time))
        if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
            raise ValueError(f"video background frames must be (h, w, 3) uint8, got {img.shape}")
        w, h = res.size
        img = fit_image(img, w, h, self.mode)
        tex = res.slot("video").upload(img)
        return BackgroundLayer(tex, uv_scale=(1.0 / w, 1.0 / h), image=img)


@dataclass(frozen=True)
class VideoBackgroundSpec:
    """``video:PATH[:fit|fill]`` as parsed; editor_plugin resolves it into a
    :class:`VideoBackground` (effects cannot open video files)."""

    path: Path
    mode: FitMode = "fill"

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path))
        _check_mode(self.mode)

    @property
    def spec(self) -> str:
        return f"video:{self.path}:{self.mode}"


# -- blur ---------------------------------------------------------------------------------------

#: Blurs with sigma up to this many pixels (radius 3) run at full resolution.
DIRECT_MAX_SIGMA = 1.0
#: Larger blurs run on a copy downsampled by the largest even factor that leaves a blur of at
#: least about this sigma (in reduced pixels) to do at the reduced resolution ...
WORKING_SIGMA = 1.0
#: ... up to this factor (beyond it the reduced-resolution kernel grows instead).
MAX_FACTOR = 16


def gaussian_kernel(sigma: float) -> np.ndarray:
    """Normalised 1-D Gaussian weights for offsets -k..k, k = max(1, ceil(3 sigma)), float64.

    The same kernel as ``cv2.getGaussianKernel(2k + 1, sigma)``.
    """
    k = max(1, math.ceil(3.0 * sigma))
    x = np.arange(-k, k + 1, dtype=np.float64)
    w = np.exp(-0.5 * (x / sigma) ** 2)
    return w / w.sum()


def fold_kernel(weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Fold a symmetric (2k+1)-tap kernel into bilinear fetches: (offsets, weights), float32.

    The centre tap stays; each pair of neighbouring taps (i, i+1), i = 1, 3, 5, ... on each
    side becomes one fetch at the weighted position between them, exact under LINEAR filtering.
    """
    k = (len(weights) - 1) // 2
    side = np.append(weights[k + 1 :], 0.0)  # taps 1..k, padded to an even count
    offs, ws = [0.0], [weights[k]]
    for i in range(0, k, 2):
        w1, w2 = side[i], side[i + 1]
        w = w1 + w2
        o = ((i + 1) * w1 + (i + 2) * w2) / w
        offs += [o, -o]
        ws += [w, w]
    return np.array(offs, np.float32), np.array(ws, np.float32)


def blur_plan(radius: float) -> tuple[float, int, float]:
    """(sigma, downsample factor, sigma at the working resolution) for a blur ``radius``.

    sigma = radius / 3 (the kernel reaches ``radius`` pixels, 3 sigma).  Factor 1 means full
    resolution (sigma <= :data:`DIRECT_MAX_SIGMA`).  Otherwise, with an even factor f, the
    frame is box-averaged f x f (variance (f^2 - 1) / 12), blurred, and bilinearly upsampled
    (variance f^2 / 6); the working sigma is chosen so that the three add up to sigma^2 (at
    least 0.5 reduced pixels).  Measured against the exact full-resolution Gaussian on synthetic
    test images (320x180, 1920x1080) this stays above ~46 dB PSNR for radii 4.5..300.  The working sigma
    is rounded to 1/100 pixel so that a program is compiled per distinct value only.
    """
    sigma = radius / 3.0
    if sigma <= DIRECT_MAX_SIGMA:
        return sigma, 1, sigma
    f = min(MAX_FACTOR, 2 * max(1, math.floor(sigma / (2.0 * WORKING_SIGMA))))
    var = sigma**2 - (f * f - 1) / 12.0 - f * f / 6.0
    return sigma, f, round(max(0.5, math.sqrt(max(var, 0.0)) / f), 2)


def _glsl_floats(values: np.ndarray) -> str:
    return f"float[{len(values)}](" + ", ".join(f"{float(v):.9g}" for v in values) + ")"


def _kernel_defines(sigma: float) -> dict[str, str | int]:
    offsets, weights = fold_kernel(gaussian_kernel(sigma))
    return {
        "TAPS": len(offsets),
        "OFFSETS": _glsl_floats(offsets),
        "WEIGHTS": _glsl_floats(weights),
    }


@dataclass(frozen=True)
class BlurBackground(Background):
    """The original frame under a Gaussian blur of ``radius`` pixels (sigma = radius / 3).

    Separable, edges replicated (like ``cv2.BORDER_REPLICATE``).  Up to radius 3 (sigma 1) it
    runs at full resolution and matches ``cv2.GaussianBlur(frame, (2k+1, 2k+1), sigma,
    borderType=cv2.BORDER_REPLICATE)``, k = ceil(3 sigma); larger radii run on a copy
    downsampled so that the cost stays bounded at any radius (see :func:`blur_plan`) and
    upsampled bilinearly: by the consumer's LINEAR sampling, or, when ``res.cpu_resample``
    (software renderers), by OpenCV into a full-size texture whose pixels the layer also hands
    out as :attr:`BackgroundLayer.image` (the same bilinear, up to one level of rounding).
    On a software renderer (llvmpipe) the full-resolution path is the slow one: at 1920x1080
    radius 3 costs several times radius 25; on a GPU both are negligible.
    """

    radius: float

    def __post_init__(self) -> None:
        r = self.radius
        if not (isinstance(r, (int, float)) and math.isfinite(r) and 0 < r <= 1000):
            raise InputError(f"blur radius must be a number in (0, 1000], got {r!r}")

    @property
    def spec(self) -> str:
        return f"blur:{self.radius:g}"

    def render(self, res, frame_tex, frame_index, time) -> BackgroundLayer:
        w, h = res.size
        _, factor, sigma = blur_plan(float(self.radius))
        src = frame_tex
        if factor > 1:
            # One block of padding on each side (see box_downsample.glsl).
            size = (-(-w // factor) + 2, -(-h // factor) + 2)
            down = res.target("blur.down", size, linear=True)
            prog = res.shaders.program("box_downsample", {"FACTOR": factor})
            prog["u_src"] = 0
            src.use(0)
            draw_fullscreen(res.fullscreen(prog), down.fbo)
            src = down.texture
        else:
            size = (w, h)
        prog = res.shaders.program("gauss_pass", _kernel_defines(sigma))
        prog["u_src"] = 0
        vao = res.fullscreen(prog)
        tmp = res.target("blur.tmp", size, linear=True)
        out = res.target("blur.out", size, linear=True)
        for direction, source, dst in (((1.0, 0.0), src, tmp), ((0.0, 1.0), tmp.texture, out)):
            prog["u_dir"] = direction
            source.use(0)
            draw_fullscreen(vao, dst.fbo)
        if factor > 1 and res.cpu_resample:
            return _upsample_on_cpu(res, out, factor)
        pad = 1.0 if factor > 1 else 0.0
        return BackgroundLayer(
            out.texture,
            uv_scale=(1.0 / (size[0] * factor), 1.0 / (size[1] * factor)),
            uv_offset=(pad / size[0], pad / size[1]),
        )


def _upsample_on_cpu(res: RenderResources, small: RenderTarget, factor: int) -> BackgroundLayer:
    """The reduced-resolution blur ``small`` (one texel of padding on each side) upsampled
    ``factor`` times with OpenCV's bilinear ``cv2.resize`` -- the pixels the GL path's LINEAR
    sampling computes, with 11-bit instead of 8-bit weights -- and uploaded at that size, so
    that every consumer samples one texel per output pixel (NEAREST) and ``image`` holds the
    same pixels.  Output pixel (x, y) is upsampled pixel (x + factor, y + factor)."""
    tw, th = small.size
    bw, bh = tw * factor, th * factor
    low = res.state.get("blur.low")
    if not isinstance(low, np.ndarray) or low.shape != (th, tw, 4):
        low = res.state["blur.low"] = np.empty((th, tw, 4), np.uint8)
        res.state["blur.big"] = np.empty((bh, bw, 4), np.uint8)
    big = res.state["blur.big"]
    assert isinstance(big, np.ndarray)
    small.texture.read_into(low, alignment=1)
    cv2.resize(low, (bw, bh), dst=big, interpolation=cv2.INTER_LINEAR)
    tex = res.slot("blur.full").upload(big)
    w, h = res.size
    return BackgroundLayer(
        tex,
        uv_scale=(1.0 / bw, 1.0 / bh),
        uv_offset=(factor / bw, factor / bh),
        image=big[factor : factor + h, factor : factor + w],
    )


# -- parsing ------------------------------------------------------------------------------------

_HEX = re.compile(r"#?([0-9a-fA-F]{6})\Z")


def parse_background(spec: str) -> Background | VideoBackgroundSpec:
    """Parse a CLI background string.

    Forms: ``color:#RRGGBB``, ``image:PATH[:fit|fill]`` (default fill), ``blur:RADIUS``
    (pixels, > 0), ``video:PATH[:fit|fill]`` (returned as a :class:`VideoBackgroundSpec`), and
    the forms of :mod:`effects.backgrounds_extra` (``image:PATH:tile``, ``desaturate``,
    ``pixelate``, ``dim``, ``vignette``, ``colorkey``).
    PATH may itself contain ``:``.  Files are not opened here.  Raises :class:`InputError`
    listing the accepted forms.
    """
    kind, sep, rest = spec.partition(":")
    kind = kind.strip().lower()

    def bad(why: str) -> InputError:
        return InputError(f"bad background {spec!r}: {why}", hint=f"use {BACKGROUND_FORMS}")

    if not sep and kind != "desaturate":  # plain "desaturate": fully grey
        raise bad("no kind")
    if kind in ("color", "colour"):
        m = _HEX.match(rest.strip())
        if not m:
            raise bad("colour must be #RRGGBB hex")
        v = int(m.group(1), 16)
        return SolidColor(((v >> 16) & 255, (v >> 8) & 255, v & 255))
    if kind == "blur":
        try:
            radius = float(rest)
        except ValueError:
            raise bad("radius must be a number") from None
        if not (math.isfinite(radius) and 0 < radius <= 1000):
            raise bad("radius must be in (0, 1000] pixels")
        return BlurBackground(radius)
    if kind in _extra_kinds():
        from effects.backgrounds_extra import parse_extra

        return parse_extra(kind, rest, bad)
    if kind in ("image", "video"):
        path, mode = rest, "fill"
        head, colon, tail = rest.rpartition(":")
        if kind == "image" and colon and tail.lower() == "tile":
            from effects.backgrounds_extra import TiledImageBackground

            if not head.strip():
                raise bad("missing PATH")
            return TiledImageBackground(Path(head))
        if colon and tail.lower() in _MODES:
            path, mode = head, tail.lower()
        if not path.strip():
            raise bad("missing PATH")
        if kind == "image":
            return ImageBackground(Path(path), mode)  # type: ignore[arg-type]
        return VideoBackgroundSpec(Path(path), mode)  # type: ignore[arg-type]
    raise bad(f"unknown kind {kind!r}")


def _extra_kinds() -> tuple[str, ...]:
    from effects.backgrounds_extra import EXTRA_KINDS

    return EXTRA_KINDS
