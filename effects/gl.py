"""OpenGL plumbing shared by the compositor and the effects.

Image-space convention (used by every GL pass in :mod:`effects`)
-----------------------------------------------------------------
NumPy images are stored top row first.  We upload them unchanged, so *texture row r is image
row r*; every pass renders with a full-screen triangle and addresses pixels through
``gl_FragCoord``, so *framebuffer row r is image row r* too, and ``glReadPixels`` (which returns
rows in memory order) gives the image back top row first.  Nothing is ever flipped: in a
fragment shader ``gl_FragCoord.xy`` is the pixel centre ``(col + 0.5, row + 0.5)`` in the
image coordinate frame of :mod:`inference.tracks.model` (x right, y down).  The only thing
that would look upside down is a GL *window* showing these textures, which we never create.

Textures are uploaded and read with an alignment of 1, so any width (odd ones included) works.
"""

from __future__ import annotations

import importlib.util
import logging
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING

import cv2
import moderngl
import numpy as np

from inference.errors import HumanfxError

if TYPE_CHECKING:
    from effects.shaders import ShaderLibrary

log = logging.getLogger(__name__)

#: Minimum OpenGL version (core profile) the shaders are written for.
GL_REQUIRE = 330

_OPENGL_HINT = (
    "humanfx needs OpenGL 3.3 through EGL: install your GPU driver, or Mesa's software "
    "renderer (Debian/Ubuntu: apt install libegl1 libgl1-mesa-dri)"
)


def _load_triton_first() -> None:
    """Import Triton (when installed, e.g. with CUDA builds of torch) before any GL driver.

    Mesa's drivers (llvmpipe, radeonsi) load their LLVM with its symbols global; Triton's
    ``libtriton`` carries another LLVM, and when it is loaded *after* Mesa's its initializers
    bind to Mesa's copy and the process dies with SIGSEGV (the same first-loaded-wins clash
    as tensorflow/tensorflow#124205).  torchvision imports Triton on first use, so a process
    that renders a frame and then analyzes a clip (the plugin server) crashed.  Loaded first,
    Triton keeps its own LLVM and Mesa's works as before.  Costs about 0.3 s once.
    """
    if "triton" in sys.modules or importlib.util.find_spec("triton") is None:
        return
    try:
        import triton  # noqa: F401
    except Exception as exc:  # noqa: BLE001 -- a broken Triton only matters to torch
        log.debug("importing triton before OpenGL failed: %s", exc)


def create_context(backend: str | None = None) -> moderngl.Context:
    """Create a standalone (headless) OpenGL >= 3.3 context.

    ``backend=None`` tries EGL first (works without a display server, on GPUs and on Mesa's
    llvmpipe) and then moderngl's platform default (GLX/WGL/CGL).  A named ``backend`` (e.g.
    ``'egl'``) is the only one tried.  Raises :class:`HumanfxError` saying how to get OpenGL
    when no context can be made.  The renderer string is logged at INFO level.
    """
    _load_triton_first()
    backends: list[str | None] = [backend] if backend is not None else ["egl", None]
    failures: list[str] = []
    for b in backends:
        try:
            ctx = (
                moderngl.create_standalone_context(require=GL_REQUIRE, backend=b)
                if b is not None
                else moderngl.create_standalone_context(require=GL_REQUIRE)
            )
        except Exception as exc:  # noqa: BLE001 -- glcontext raises plain Exception
            msg = " ".join(str(exc).split()) or type(exc).__name__
            failures.append(f"{b or 'default'}: {msg}")
            log.debug("OpenGL backend %s failed: %s", b or "default", msg)
            continue
        log.info(
            "OpenGL %s context (%s): %s / %s",
            ctx.info.get("GL_VERSION", "?"),
            b or "default",
            ctx.info.get("GL_RENDERER", "?"),
            ctx.info.get("GL_VENDOR", "?"),
        )
        return ctx
    raise HumanfxError(
        f"could not create an OpenGL context ({'; '.join(failures)})", hint=_OPENGL_HINT
    )


def renderer_name(ctx: moderngl.Context) -> str:
    """The driver's renderer string, e.g. ``'llvmpipe (LLVM 15.0.6, 256 bits)'``."""
    return str(ctx.info.get("GL_RENDERER", "unknown"))


#: Renderer names of the rasterizers that run on the CPU.
_SOFTWARE_RENDERERS = ("llvmpipe", "softpipe", "swrast", "swiftshader")


def is_software_renderer(ctx: moderngl.Context) -> bool:
    """True when ``ctx`` renders on the CPU (Mesa's llvmpipe, softpipe, swrast; SwiftShader)."""
    name = renderer_name(ctx).lower()
    return any(k in name for k in _SOFTWARE_RENDERERS)


@dataclass
class RenderTarget:
    """A colour texture with a framebuffer that renders into it (``width`` x ``height``)."""

    texture: moderngl.Texture
    fbo: moderngl.Framebuffer

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) in pixels."""
        return self.texture.size

    def release(self) -> None:
        self.fbo.release()
        self.texture.release()


def make_target(
    ctx: moderngl.Context,
    size: tuple[int, int],
    components: int = 4,
    dtype: str = "f1",
    *,
    linear: bool = False,
) -> RenderTarget:
    """Allocate a render target of ``size = (width, height)``; edges clamp; nearest or linear."""
    tex = ctx.texture(size, components, dtype=dtype, alignment=1)
    configure_texture(tex, linear=linear)
    return RenderTarget(tex, ctx.framebuffer(color_attachments=[tex]))


def configure_texture(tex: moderngl.Texture, *, linear: bool) -> None:
    """Clamp-to-edge addressing and nearest (exact texel) or bilinear filtering."""
    f = moderngl.LINEAR if linear else moderngl.NEAREST
    tex.filter = (f, f)
    tex.repeat_x = False
    tex.repeat_y = False


class TextureSlot:
    """A texture that is (re)written from NumPy images of one shape and dtype, reused per frame.

    ``upload(img)`` takes an (H, W) or (H, W, C) array, C in 1..4, dtype uint8 (normalised to
    [0, 1] in GL) or float32 (as is).  The texture is reallocated only when the shape or dtype
    changes.  Rows are uploaded top row first (see the module docstring).  uint8 RGB images
    are stored as RGBA (A = 1), converted by OpenCV into a staging buffer: on Mesa that is 2-3x
    faster than letting the driver convert RGB texel by texel.
    """

    def __init__(self, ctx: moderngl.Context, *, linear: bool = False):
        self.ctx = ctx
        self.linear = linear
        self.texture: moderngl.Texture | None = None
        self._key: tuple | None = None
        self._staging: np.ndarray | None = None

    def upload(self, img: np.ndarray) -> moderngl.Texture:
        if img.dtype == np.uint8:
            dtype = "f1"
        elif img.dtype == np.float32:
            dtype = "f4"
        else:
            raise TypeError(f"texture data must be uint8 or float32, not {img.dtype}")
        if img.ndim == 2:
            h, w = img.shape
            c = 1
        elif img.ndim == 3 and 1 <= img.shape[2] <= 4:
            h, w, c = img.shape
        else:
            raise ValueError(f"texture data must be (H, W) or (H, W, 1..4), not {img.shape}")
        expand = c == 3 and dtype == "f1"
        key = (w, h, c, dtype)
        if key != self._key:
            self.release()
            self.texture = self.ctx.texture((w, h), 4 if expand else c, dtype=dtype, alignment=1)
            configure_texture(self.texture, linear=self.linear)
            self._staging = np.empty((h, w, 4), np.uint8) if expand else None
            self._key = key
        assert self.texture is not None
        if self._staging is not None:
            cv2.cvtColor(img, cv2.COLOR_RGB2RGBA, dst=self._staging)
            self.texture.write(self._staging, alignment=1)
        else:
            self.texture.write(np.ascontiguousarray(img), alignment=1)
        return self.texture

    def release(self) -> None:
        if self.texture is not None:
            self.texture.release()
        self.texture = None
        self._key = None
        self._staging = None


def fullscreen_vao(ctx: moderngl.Context, program: moderngl.Program) -> moderngl.VertexArray:
    """A vertex array with no buffers: draw 3 vertices; the program's vertex shader makes a
    triangle covering the viewport from ``gl_VertexID`` (see ``effects/shaders/composite.glsl``)."""
    return ctx.vertex_array(program, [])


def draw_fullscreen(
    vao: moderngl.VertexArray,
    target: moderngl.Framebuffer,
    rect: tuple[int, int, int, int] | None = None,
) -> None:
    """Run ``vao``'s program over every pixel of ``target``, or only over ``rect`` =
    ``(x0, y0, x1, y1)`` (image pixels, end-exclusive; scissored).  On llvmpipe a scissored
    full-screen triangle is cheaper per pixel than a quad over the same rectangle."""
    if rect is not None:
        x0, y0, x1, y1 = rect
        target.scissor = (x0, y0, x1 - x0, y1 - y0)
    try:
        target.use()
        vao.render(moderngl.TRIANGLES, vertices=3)
    finally:
        if rect is not None:
            target.scissor = None


class RenderResources:
    """GL objects that persist across frames for one output size, owned by the compositor.

    Backgrounds and effects are immutable values; whatever GL state they need between frames
    (render targets, uploaded images, vertex arrays) lives here, under string keys they choose
    (by convention prefixed with their kind, e.g. ``"blur.tmp"``).  Objects are reallocated only
    when their size changes and released by :meth:`release`.

    ``size`` is the output ``(width, height)`` in pixels.

    ``cpu_resample`` (default: whether ``ctx`` is a software renderer): backgrounds that
    resample an image to the output size (a blur computed at reduced resolution) do it with
    OpenCV on the CPU and hand its result to their consumer too
    (:attr:`~effects.backgrounds.BackgroundLayer.image`).  On llvmpipe a full-frame GL pass
    that samples a texture costs several times what OpenCV takes for the same resampling; on
    a GPU it is the other way round.
    """

    def __init__(self, ctx: moderngl.Context, shaders: ShaderLibrary, size: tuple[int, int]):
        self.ctx = ctx
        self.shaders = shaders
        self.size = size
        self.cpu_resample = is_software_renderer(ctx)
        self._targets: dict[str, tuple[tuple, RenderTarget]] = {}
        self._slots: dict[str, TextureSlot] = {}
        self._vaos: dict[int, tuple[moderngl.Program, moderngl.VertexArray]] = {}
        self._children: dict[str, RenderResources] = {}
        #: Free-form per-key state (e.g. which image is currently uploaded), cleared on release.
        self.state: dict[str, object] = {}

    def target(
        self,
        key: str,
        size: tuple[int, int],
        components: int = 4,
        dtype: str = "f1",
        *,
        linear: bool = False,
    ) -> RenderTarget:
        """The render target ``key``, (re)allocated if its size/format/filter differ."""
        spec = (tuple(size), components, dtype, linear)
        hit = self._targets.get(key)
        if hit is not None and hit[0] == spec:
            return hit[1]
        if hit is not None:
            hit[1].release()
        t = make_target(self.ctx, spec[0], components, dtype, linear=linear)
        self._targets[key] = (spec, t)
        return t

    def slot(self, key: str, *, linear: bool = False) -> TextureSlot:
        """The upload slot ``key`` (see :class:`TextureSlot`)."""
        s = self._slots.get(key)
        if s is None:
            s = self._slots[key] = TextureSlot(self.ctx, linear=linear)
        return s

    def child(self, key: str) -> RenderResources:
        """Nested resources ``key`` of the same size and shader library, kept between frames
        and released with these: for a background drawn inside another (several backgrounds in
        one frame, see :mod:`effects.partition`), so their targets and uploads do not collide.
        Their ``cpu_resample`` is off: what is drawn there feeds a GL pass, not the CPU."""
        c = self._children.get(key)
        if c is None:
            c = self._children[key] = RenderResources(self.ctx, self.shaders, self.size)
            c.cpu_resample = False
        return c

    def fullscreen(self, program: moderngl.Program) -> moderngl.VertexArray:
        """A cached buffer-less vertex array for ``program`` (see :func:`fullscreen_vao`)."""
        hit = self._vaos.get(id(program))
        if hit is not None and hit[0] is program:
            return hit[1]
        vao = fullscreen_vao(self.ctx, program)
        self._vaos[id(program)] = (program, vao)
        return vao

    def release(self) -> None:
        """Release every GL object held here (programs belong to the shader library)."""
        for _, t in self._targets.values():
            t.release()
        for s in self._slots.values():
            s.release()
        for _, vao in self._vaos.values():
            vao.release()
        self._targets.clear()
        self._slots.clear()
        for c in self._children.values():
            c.release()
        self._vaos.clear()
        self._children.clear()
        self.state.clear()


class OutputSurface:
    """Base of the renderers that draw frames of one output size and read them back as RGB.

    Keeps a :class:`RenderResources` for the current size (reallocated only when the size
    changes) and a staging buffer for read-back.  Not thread-safe: use it from the thread that
    owns ``ctx``.  Subclasses call ``super().__init__`` and add their own GL objects.
    """

    def __init__(self, ctx: moderngl.Context, width: int, height: int,
                 shaders: ShaderLibrary | None = None):
        from effects.shaders import ShaderLibrary

        self.ctx = ctx
        self.shaders = shaders if shaders is not None else ShaderLibrary(ctx)
        self._res: RenderResources | None = None
        self._rgba: np.ndarray | None = None
        self.resize(width, height)

    @property
    def size(self) -> tuple[int, int]:
        """Output (width, height) in pixels."""
        assert self._res is not None
        return self._res.size

    @property
    def resources(self) -> RenderResources:
        """The per-size GL state shared with backgrounds and effects."""
        assert self._res is not None
        return self._res

    def resize(self, width: int, height: int) -> None:
        """Set the output size; reallocates GL objects only if it changed."""
        if width < 1 or height < 1:
            raise ValueError(f"bad output size {width}x{height}")
        size = (int(width), int(height))
        if self._res is not None and self._res.size == size:
            return
        if self._res is not None:
            self._res.release()
        self._res = RenderResources(self.ctx, self.shaders, size)
        self._rgba = np.empty((size[1], size[0], 4), np.uint8)
        log.debug("output size %dx%d", *size)

    def read(self, target: RenderTarget, out: np.ndarray | None = None) -> np.ndarray:
        """Read an output-size RGBA8 ``target`` back as (H, W, 3) uint8 RGB, into ``out`` if
        given (a C-contiguous (H, W, 3) uint8 array), else into a new array."""
        out = self._check_out(out)
        assert self._rgba is not None
        target.fbo.read_into(self._rgba, components=4, alignment=1)
        # RGBA read-back is 2-3x faster than RGB on Mesa; OpenCV drops A in ~0.5 ms.
        return cv2.cvtColor(self._rgba, cv2.COLOR_RGBA2RGB, dst=out)

    def read_over(
        self,
        target: RenderTarget,
        base: np.ndarray | tuple[int, int, int],
        rects: list[tuple[int, int, int, int]],
        out: np.ndarray | None = None,
    ) -> np.ndarray:
        """(H, W, 3) uint8 RGB: ``target``'s pixels inside ``rects`` (``(x0, y0, x1, y1)``,
        end-exclusive; only those are read back), ``base`` everywhere else: an (H, W, 3 or 4)
        uint8 image (its RGB) or an (r, g, b) colour in 0..255.  ``out`` as :meth:`read`."""
        out = self._check_out(out)
        if isinstance(base, np.ndarray):
            if base.shape[2] == 4:
                cv2.cvtColor(base, cv2.COLOR_RGBA2RGB, dst=out)
            else:
                np.copyto(out, base)
        else:  # one row, then copies of it (NumPy broadcasting 3 values is ~40x slower)
            out[0] = base
            out[1:] = out[0]
        assert self._rgba is not None
        flat = self._rgba.reshape(-1)
        for x0, y0, x1, y1 in rects:
            w, h = x1 - x0, y1 - y0
            buf = flat[: w * h * 4].reshape(h, w, 4)
            target.fbo.read_into(buf, viewport=(x0, y0, w, h), components=4, alignment=1)
            cv2.cvtColor(buf, cv2.COLOR_RGBA2RGB, dst=out[y0:y1, x0:x1])
        return out

    def _check_out(self, out: np.ndarray | None) -> np.ndarray:
        w, h = self.size
        if out is None:
            return np.empty((h, w, 3), np.uint8)
        if out.shape != (h, w, 3) or out.dtype != np.uint8 or not out.flags.c_contiguous:
            raise ValueError(f"out must be a C-contiguous ({h}, {w}, 3) uint8 array")
        return out

    def release(self) -> None:
        """Release the GL objects (not the shader library's programs)."""
        if self._res is not None:
            self._res.release()
            self._res = None

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
