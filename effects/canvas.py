"""The effect stack's float canvas, made live only where effects draw.

:class:`~effects.stack.StackRenderer` composites in a float RGBA canvas so that a pixel is
rounded to 8 bits once, at the end.  Most of a frame is usually untouched by any effect: there
the result is just the background, and writing it into the float canvas, reading it back out
and rounding it costs two full-frame passes for nothing (on a software renderer such as
llvmpipe each is several milliseconds at 1080p).  So the canvas starts *empty*: before an
effect draws, :class:`CanvasRegions` fills the part of its rectangle not yet live with the
background (the ``fill`` callback), and at the end the renderer resolves the live rectangles
from the canvas and draws the background straight into the 8-bit output everywhere else, with
the same rounding -- the same pixels as filling and resolving the whole canvas, bit for bit.

Likewise inside a person who is opaque and keeps the frame's colours (a rectangle of their
matte, :func:`opaque_core`): the result there is the frame's pixels whatever was drawn behind,
so that rectangle is left out of the canvas (:meth:`CanvasRegions.reserve`) and taken from the
frame at the end, unless something is drawn over the person there later.

Rectangles are ``(x0, y0, x1, y1)``: integer image pixels (x right, y down, see
:mod:`effects.gl`), end-exclusive.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence

import numpy as np

Rect = tuple[int, int, int, int]


def clip_rect(rect: Sequence[float], size: tuple[int, int]) -> Rect | None:
    """The integer rectangle covering ``rect`` (floats allowed: floor / ceil), clipped to
    ``size = (W, H)``; None when nothing is left."""
    w, h = size
    x0, y0 = max(0, math.floor(rect[0])), max(0, math.floor(rect[1]))
    x1, y1 = min(w, math.ceil(rect[2])), min(h, math.ceil(rect[3]))
    if x1 <= x0 or y1 <= y0:
        return None
    return x0, y0, x1, y1


def subtract_rect(r: Rect, c: Rect) -> list[Rect]:
    """``r`` minus ``c`` as up to four disjoint rectangles (top, bottom, left, right)."""
    if c[0] >= r[2] or c[2] <= r[0] or c[1] >= r[3] or c[3] <= r[1]:
        return [r]
    out = []
    if c[1] > r[1]:
        out.append((r[0], r[1], r[2], c[1]))
    if c[3] < r[3]:
        out.append((r[0], c[3], r[2], r[3]))
    y0, y1 = max(r[1], c[1]), min(r[3], c[3])
    if c[0] > r[0]:
        out.append((r[0], y0, c[0], y1))
    if c[2] < r[2]:
        out.append((c[2], y0, r[2], y1))
    return out


def complement(rects: Sequence[Rect], size: tuple[int, int]) -> list[Rect]:
    """The part of the ``size = (W, H)`` frame outside ``rects``, as disjoint rectangles
    (horizontal slabs between the rectangles' edges, merged down when they repeat)."""
    w, h = size
    ys = sorted({0, h, *(r[1] for r in rects), *(r[3] for r in rects)})
    out: list[Rect] = []
    open_: dict[tuple[int, int], int] = {}  # (x0, x1) gap -> y where it started
    for ya, yb in itertools.pairwise(ys):
        spans = sorted((r[0], r[2]) for r in rects if r[1] <= ya and r[3] >= yb)
        gaps, x = [], 0
        for a, b in spans:
            if a > x:
                gaps.append((x, a))
            x = max(x, b)
        if x < w:
            gaps.append((x, w))
        for g in [g for g in open_ if g not in gaps]:
            out.append((g[0], open_.pop(g), g[1], ya))
        for g in gaps:
            open_.setdefault(g, ya)
    out.extend((g[0], y, g[1], h) for g, y in open_.items())
    return out


def position_extent(
    vertices: np.ndarray, column: int | None, size: tuple[int, int]
) -> tuple[float, float, float, float] | None:
    """Bounding box ``(x0, y0, x1, y1)`` of the pixel positions in columns ``column`` and
    ``column + 1`` of (n, k) ``vertices``; the whole ``size = (W, H)`` frame when ``column`` is
    None, the array is not (n, k > column + 1) or a position is not finite; None when there are
    no vertices."""
    data = np.asarray(vertices)
    if data.ndim == 2 and data.shape[0] == 0:
        return None
    whole = (0.0, 0.0, float(size[0]), float(size[1]))
    if column is None or data.ndim != 2 or data.shape[1] < column + 2:
        return whole
    xy = data[:, column : column + 2]
    lo, hi = xy.min(axis=0), xy.max(axis=0)
    if not (np.all(np.isfinite(lo)) and np.all(np.isfinite(hi))):
        return whole
    return (float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1]))


def tile_rects(active: np.ndarray, tile: int, origin: tuple[int, int] = (0, 0)) -> np.ndarray:
    """Rectangles covering every non-zero pixel of the (h, w) array ``active``: the
    ``tile`` x ``tile`` blocks holding one, merged into runs along each row of blocks (the last
    row and column of blocks clipped to the array).  (n, 4) int ``x0, y0, x1, y1`` rows in
    pixels of the array shifted by ``origin = (x, y)``."""
    a = active.view(np.uint8) if active.dtype == np.bool_ else active
    h, w = a.shape
    ny, nx = -(-h // tile), -(-w // tile)
    padded = np.zeros((ny * tile, w), a.dtype)  # the max over each block's rows, then columns
    padded[:h] = a
    cols = np.zeros((ny, nx * tile), a.dtype)
    cols[:, :w] = padded.reshape(ny, tile, w).max(axis=1)
    blocks = np.zeros((ny, nx + 2), np.int8)
    blocks[:, 1:-1] = cols.reshape(ny, nx, tile).max(axis=2) != 0
    edges = np.diff(blocks, axis=1)
    rows, starts = np.nonzero(edges == 1)  # row-major, so starts and ends pair up in order
    _, ends = np.nonzero(edges == -1)
    out = np.stack([starts * tile, rows * tile, np.minimum(ends * tile, w),
                    np.minimum((rows + 1) * tile, h)], axis=1)
    return out + np.array([origin[0], origin[1], origin[0], origin[1]])


def rect_quads(rects: Sequence[Rect]) -> np.ndarray:
    """Two triangles per rectangle: (6n, 2) float32 pixel positions (for ``in_pos``)."""
    r = np.asarray(rects, np.float32).reshape(-1, 4)
    x0, y0, x1, y1 = r[:, 0], r[:, 1], r[:, 2], r[:, 3]
    xs = np.stack([x0, x1, x0, x1, x1, x0], axis=1)
    ys = np.stack([y0, y0, y1, y0, y1, y1], axis=1)
    return np.stack([xs, ys], axis=2).reshape(-1, 2)


def opaque_core(matte: np.ndarray, tile: int, origin: tuple[int, int] = (0, 0)) -> Rect | None:
    """A large rectangle of whole ``tile`` x ``tile`` blocks (from the array's top-left corner)
    where the (h, w) uint8 ``matte`` is 255 everywhere, in pixels shifted by ``origin``; None
    when there is no such block.  It spans consecutive rows of blocks, within the longest run
    of such blocks of each (the largest such rectangle: the largest of all when every row's
    blocks form a single run, as a convex matte's do)."""
    h, w = matte.shape
    ny, nx = h // tile, w // tile
    if not (ny and nx):
        return None
    rows = matte[: ny * tile, : nx * tile].reshape(ny, tile, nx * tile).min(axis=1)
    full = np.zeros((ny, nx + 2), np.int8)
    full[:, 1:-1] = rows.reshape(ny, nx, tile).min(axis=2) == 255
    edges = np.diff(full, axis=1)
    run_rows, starts = np.nonzero(edges == 1)  # row-major: starts and ends pair up in order
    _, ends = np.nonzero(edges == -1)
    if not len(starts):
        return None
    # Each row's longest run [left, right) of full blocks (rows without one: [0, 0)).
    order = np.lexsort((starts - ends, run_rows))  # by row, then longest first
    first = np.ones(len(order), bool)
    first[1:] = run_rows[order][1:] != run_rows[order][:-1]
    left, right = np.zeros(ny, np.int64), np.zeros(ny, np.int64)
    left[run_rows[order][first]] = starts[order][first]
    right[run_rows[order][first]] = ends[order][first]
    # Rectangle over rows r0..r1: columns max(left) .. min(right) of those rows.
    r0, r1 = np.indices((ny, ny))
    inside = r1 >= r0
    lo = np.maximum.accumulate(np.where(inside, left[None, :], -1), axis=1)
    hi = np.minimum.accumulate(np.where(inside, right[None, :], nx + 1), axis=1)
    area = np.where(inside, np.maximum(hi - lo, 0) * (r1 - r0 + 1), 0)
    k = int(np.argmax(area))
    if area.flat[k] == 0:
        return None
    top, bottom = divmod(k, ny)
    x0, x1 = int(lo.flat[k]), int(hi.flat[k])
    return (origin[0] + x0 * tile, origin[1] + top * tile, origin[0] + x1 * tile,
            origin[1] + (bottom + 1) * tile)


def _minus(rects: list[Rect], cuts: Sequence[Rect]) -> list[Rect]:
    """``rects`` minus every rectangle of ``cuts``, as disjoint rectangles."""
    for c in cuts:
        rects = [p for q in rects for p in subtract_rect(q, c)]
        if not rects:
            break
    return rects


def _area(rects: Sequence[Rect]) -> int:
    return sum((r[2] - r[0]) * (r[3] - r[1]) for r in rects)


class CanvasRegions:
    """What each part of a ``size = (W, H)`` float canvas holds.

    * *live* rectangles: the canvas holds the right values (the background, then whatever was
      blended on);
    * *frame* rectangles: the result is the original frame's pixels -- an opaque person drawn
      with its own colours there (:meth:`reserve`, :meth:`claim`) -- not in the canvas;
    * *reserved* rectangles: such a person is still to be drawn there;
    * the rest: the result is the background, not in the canvas.

    ``fill(rects, from_frame)`` must draw into the canvas over ``rects`` (disjoint, not live)
    the background, or the frame when ``from_frame``.  :meth:`ensure` makes a rectangle live
    before something blends onto it.
    """

    def __init__(self, size: tuple[int, int], fill: Callable[[list[Rect], bool], None]):
        self.size = (int(size[0]), int(size[1]))
        self._fill = fill
        self._rects: list[Rect] = []
        self._frame: list[Rect] = []
        self._reserved: list[Rect] = []
        self._area = 0

    @property
    def rects(self) -> list[Rect]:
        """The live rectangles, disjoint."""
        return list(self._rects)

    @property
    def frame_rects(self) -> list[Rect]:
        """The frame rectangles, disjoint (and disjoint from the live ones)."""
        return list(self._frame)

    @property
    def full(self) -> bool:
        """True when the whole canvas is live."""
        return self._area == self.size[0] * self.size[1]

    def reserve(self, rect: Rect) -> None:
        """Declare that a person drawn later covers ``rect`` opaquely with the frame's own
        pixels, hiding whatever is drawn there before: until :meth:`claim`, :meth:`ensure`
        leaves it out (the canvas there is never read)."""
        r = clip_rect(rect, self.size)
        if r is not None:
            self._reserved.append(r)

    def claim(self, rect: Rect) -> None:
        """The person who reserved ``rect`` has been drawn (everywhere else): the result
        there is the frame's pixels."""
        r = clip_rect(rect, self.size)
        if r is not None and r in self._reserved:
            self._reserved.remove(r)
            self._frame.extend(_minus([r], self._rects + self._frame))

    def ensure(self, rect: Sequence[float]) -> Rect | None:
        """Make ``rect`` (floats: its covering integer rectangle) live, but for the reserved
        parts; returns it clipped to the canvas, or None when it lies outside."""
        r = clip_rect(rect, self.size)
        if r is None:
            return None
        pieces = _minus([r], self._rects + self._reserved)
        if not pieces:
            return r
        framed = []  # the parts of the frame rectangles drawn on now: filled from the frame
        for f in self._frame:
            for p in pieces:
                x0, y0, x1, y1 = max(f[0], p[0]), max(f[1], p[1]), min(f[2], p[2]), min(f[3], p[3])
                if x0 < x1 and y0 < y1:
                    framed.append((x0, y0, x1, y1))
        if framed:
            self._frame = _minus(self._frame, framed)
            pieces = _minus(pieces, framed)
            self._fill(framed, True)
        if pieces:
            self._fill(pieces, False)
        self._rects.extend(framed + pieces)
        self._area += _area(framed) + _area(pieces)
        return r

    def ensure_all(self) -> None:
        """Make the whole canvas live, but for the reserved parts."""
        if not self.full:
            self.ensure((0, 0, *self.size))
