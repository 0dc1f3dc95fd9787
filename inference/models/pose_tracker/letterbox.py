"""Letterboxing a frame into the network input, and mapping coordinates back.

Coordinate frames (all continuous pixel coordinates, origin at the top-left corner of the
top-left pixel, x right, y down, a pixel's centre at ``(col + 0.5, row + 0.5)`` as in COCO):

* **frame**: pixels of the original video frame, ``(W, H)``.
* **input**: pixels of the network input, ``(input_w, input_h)``.  The frame is scaled by
  ``(scale_x, scale_y)`` (equal up to rounding of the scaled size) and padded by
  ``(pad_x, pad_y)`` pixels on the left/top: ``input = frame * scale + pad``.
* **output**: cells of the stride-``s`` head maps: ``output = input / s``; cell ``(i, j)`` covers
  ``[j, j + 1) x [i, i + 1)``.

:func:`affine_for_cv2` converts a continuous-coordinate affine map into the pixel-index form
that :func:`cv2.warpAffine` expects, so warped images and mapped points agree exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from inference.errors import InputError

#: Value of the padding pixels (RGB, uint8).
PAD_VALUE = 0


def as_size(size: int | tuple[int, int]) -> tuple[int, int]:
    """``(width, height)`` from an int (square) or a pair; both must be positive multiples of 32."""
    w, h = (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
    if w <= 0 or h <= 0 or w % 32 or h % 32:
        raise InputError(
            f"network input size {w}x{h} is not valid",
            hint="use positive multiples of 32, e.g. 512x512",
        )
    return w, h


@dataclass(frozen=True)
class Letterbox:
    """Where a ``frame_size`` frame lands inside an ``input_size`` network input.

    Attributes:
        frame_size: ``(W, H)`` of the frame in pixels.
        input_size: ``(input_w, input_h)`` of the network input in pixels.
        scale_x, scale_y: input pixels per frame pixel along x and y.
        pad_x, pad_y: padding in input pixels on the left and top.
    """

    frame_size: tuple[int, int]
    input_size: tuple[int, int]
    scale_x: float
    scale_y: float
    pad_x: int
    pad_y: int

    @classmethod
    def fit(cls, frame_size: tuple[int, int], input_size: tuple[int, int]) -> Letterbox:
        """Largest aspect-preserving fit of ``frame_size`` into ``input_size``, centred."""
        fw, fh = int(frame_size[0]), int(frame_size[1])
        iw, ih = int(input_size[0]), int(input_size[1])
        if fw <= 0 or fh <= 0:
            raise InputError(f"frame size {fw}x{fh} is empty", hint="pass a decoded RGB frame")
        s = min(iw / fw, ih / fh)
        nw = min(iw, max(1, round(fw * s)))
        nh = min(ih, max(1, round(fh * s)))
        return cls((fw, fh), (iw, ih), nw / fw, nh / fh, (iw - nw) // 2, (ih - nh) // 2)

    @property
    def scaled_size(self) -> tuple[int, int]:
        """``(w, h)`` of the resized frame inside the input, in input pixels."""
        return (round(self.frame_size[0] * self.scale_x), round(self.frame_size[1] * self.scale_y))

    def matrix(self) -> np.ndarray:
        """``(2, 3)`` float64 affine map frame -> input (continuous coordinates)."""
        return np.array(
            [[self.scale_x, 0.0, self.pad_x], [0.0, self.scale_y, self.pad_y]], dtype=np.float64
        )

    def frame_to_input(self, points: np.ndarray) -> np.ndarray:
        """Map ``(..., 2)`` frame points to input points (float64)."""
        p = np.asarray(points, dtype=np.float64)
        return np.stack(
            [p[..., 0] * self.scale_x + self.pad_x, p[..., 1] * self.scale_y + self.pad_y], -1
        )

    def input_to_frame(self, points: np.ndarray) -> np.ndarray:
        """Map ``(..., 2)`` input points back to frame points (float64): undo the letterbox."""
        p = np.asarray(points, dtype=np.float64)
        return np.stack(
            [(p[..., 0] - self.pad_x) / self.scale_x, (p[..., 1] - self.pad_y) / self.scale_y], -1
        )

    def apply(self, frame: np.ndarray) -> np.ndarray:
        """Letterbox an ``(H, W, 3)`` uint8 frame into an ``(input_h, input_w, 3)`` uint8 image.

        Downscaling uses area averaging (no aliasing), upscaling bilinear interpolation; both
        follow the pixel-centre convention of the module docstring.
        """
        fh, fw = frame.shape[:2]
        if (fw, fh) != self.frame_size:
            raise ValueError(f"frame is {fw}x{fh}, letterbox was fitted to {self.frame_size}")
        nw, nh = self.scaled_size
        interp = cv2.INTER_AREA if nw < fw or nh < fh else cv2.INTER_LINEAR
        resized = cv2.resize(frame, (nw, nh), interpolation=interp)
        iw, ih = self.input_size
        out = np.full((ih, iw, frame.shape[2]), PAD_VALUE, dtype=np.uint8)
        out[self.pad_y : self.pad_y + nh, self.pad_x : self.pad_x + nw] = resized
        return out


def affine_for_cv2(matrix: np.ndarray) -> np.ndarray:
    """Turn a continuous-coordinate ``(2, 3)`` affine map into :func:`cv2.warpAffine` form.

    With pixel centres at ``index + 0.5``, ``dst = A @ src + b`` in continuous coordinates is
    ``dst_idx = A @ src_idx + (A @ [0.5, 0.5] + b - 0.5)`` in pixel indices.
    """
    m = np.asarray(matrix, dtype=np.float64).copy()
    m[:, 2] = m[:, :2] @ np.array([0.5, 0.5]) + m[:, 2] - 0.5
    return m


def apply_affine(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Map ``(..., 2)`` points through a ``(2, 3)`` affine matrix (float64)."""
    p = np.asarray(points, dtype=np.float64)
    return p @ matrix[:, :2].T + matrix[:, 2]


def compose(outer: np.ndarray, inner: np.ndarray) -> np.ndarray:
    """``(2, 3)`` affine map ``outer ∘ inner`` (apply ``inner`` first)."""
    a = np.vstack([outer, [0.0, 0.0, 1.0]]) @ np.vstack([inner, [0.0, 0.0, 1.0]])
    return a[:2]
