"""Build the compositor's alpha matte from the selected persons' masks.

The matte is (H, W) uint8 in image space (row 0 = top): 255 keeps the original pixel (a
selected person), 0 shows the background, values between blend linearly.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import cv2
import numpy as np

from inference.errors import InputError

#: Accepted values of ``refine``.
REFINE_MODES = ("none", "feather")


def build_alpha(
    masks: Sequence[np.ndarray],
    refine: str = "none",
    feather_px: float = 1.5,
    *,
    shape: tuple[int, int] | None = None,
) -> np.ndarray:
    """The union of ``masks`` as an (H, W) uint8 alpha matte.

    ``masks``: (H, W) arrays, bool or uint8 (any non-zero value is "person"), all the same
    shape.  ``shape`` = (H, W) is required only when ``masks`` is empty (then the matte is all
    0: nobody selected, background everywhere).

    ``refine='none'``: a hard matte of exactly 0 and 255.
    ``refine='feather'``: the hard matte blurred by a Gaussian of sigma ``feather_px`` pixels
    (kernel 2*ceil(3 sigma)+1 wide as chosen by OpenCV, edges replicated).  It softens only a
    band of about 3 sigma on each side of the mask edge: a pixel exactly on a straight edge
    gets ~128, pixels farther than ~3 sigma inside stay 255 and outside stay 0.  The band is
    centred on the edge, so the visible person neither grows nor shrinks on average.
    ``feather_px <= 0`` gives the hard matte.
    """
    if refine not in REFINE_MODES:
        raise InputError(
            f"unknown matte refinement {refine!r}; use one of: {', '.join(REFINE_MODES)}"
        )
    if not masks:
        if shape is None:
            raise ValueError("build_alpha needs shape=(H, W) when there are no masks")
        return np.zeros(shape, np.uint8)
    h, w = masks[0].shape[:2]
    if shape is not None and tuple(shape) != (h, w):
        raise ValueError(f"masks are {h}x{w} but shape={shape} was given")
    acc = np.zeros((h, w), np.uint8)
    for m in masks:
        if m.shape != (h, w):
            raise ValueError(f"all masks must be {(h, w)}, got {m.shape}")
        if m.dtype == np.bool_:
            m = m.view(np.uint8)
        elif m.dtype != np.uint8:
            m = (m != 0).view(np.uint8)
        cv2.bitwise_or(acc, m, dst=acc)
    # Any non-zero value -> 255.
    cv2.threshold(acc, 0, 255, cv2.THRESH_BINARY, dst=acc)
    if refine == "feather" and feather_px > 0:
        # Blur only the persons' box plus the kernel's reach: the rest is 0 and stays 0, and
        # replicating the zeros at the box edge is the same as blurring the whole frame.
        x, y, bw, bh = cv2.boundingRect(acc)
        if bw == 0:
            return acc
        reach = 2 * math.ceil(4 * float(feather_px)) + 2  # past OpenCV's kernel half-width
        x0, y0 = max(0, x - reach), max(0, y - reach)
        x1, y1 = min(w, x + bw + reach), min(h, y + bh + reach)
        acc[y0:y1, x0:x1] = cv2.GaussianBlur(
            acc[y0:y1, x0:x1], (0, 0), sigmaX=float(feather_px),
            borderType=cv2.BORDER_REPLICATE,
        )
    return acc
