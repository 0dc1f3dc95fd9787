"""Binary masks <-> COCO compressed RLE, through pycocotools.

Masks are ``(H, W)`` arrays (bool or uint8, non-zero = person) in full-frame pixel coordinates.
RLE dicts are ``{"size": [H, W], "counts": str}`` (compressed, JSON-ready).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pycocotools import mask as _cocomask


def encode_mask(mask: np.ndarray) -> dict[str, Any]:
    """Encode an ``(H, W)`` mask as compressed RLE with ``counts`` as ``str``."""
    m = np.asfortranarray(np.asarray(mask, dtype=np.uint8) != 0, dtype=np.uint8)
    rle = _cocomask.encode(m)
    return {"size": [int(rle["size"][0]), int(rle["size"][1])], "counts": rle["counts"].decode("ascii")}


def _as_cocoapi(rle: dict[str, Any]) -> dict[str, Any]:
    counts = rle["counts"]
    h, w = (int(v) for v in rle["size"])
    if isinstance(counts, list):  # uncompressed RLE
        return _cocomask.frPyObjects({"size": [h, w], "counts": counts}, h, w)
    if isinstance(counts, str):
        counts = counts.encode("ascii")
    return {"size": [h, w], "counts": counts}


def decode_mask(rle: dict[str, Any]) -> np.ndarray:
    """Decode compressed or uncompressed RLE to an ``(H, W)`` uint8 mask of 0/1."""
    return np.ascontiguousarray(_cocomask.decode(_as_cocoapi(rle)))


def compress_rle(rle: dict[str, Any]) -> dict[str, Any]:
    """Any RLE (compressed, bytes or uncompressed list) -> compressed RLE with ``str`` counts."""
    c = _as_cocoapi(rle)
    counts = c["counts"]
    return {"size": [int(c["size"][0]), int(c["size"][1])],
            "counts": counts.decode("ascii") if isinstance(counts, bytes) else counts}


def polygons_to_rle(polygons: list[list[float]], height: int, width: int) -> dict[str, Any]:
    """COCO polygon segmentation -> one compressed RLE."""
    rles = _cocomask.frPyObjects(polygons, height, width)
    merged = _cocomask.merge(rles)
    return compress_rle(merged)


def rle_area(rle: dict[str, Any]) -> int:
    return int(_cocomask.area(_as_cocoapi(rle)))


def rle_bbox(rle: dict[str, Any]) -> tuple[float, float, float, float]:
    """Tight ``(x, y, w, h)`` box of the mask (pycocotools convention)."""
    x, y, w, h = _cocomask.toBbox(_as_cocoapi(rle)).tolist()
    return float(x), float(y), float(w), float(h)


def mask_bbox(mask: np.ndarray) -> tuple[float, float, float, float] | None:
    """Tight ``(x, y, w, h)`` pixel box of the non-zero region, or ``None`` if empty."""
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        return None
    x0, y0 = int(xs.min()), int(ys.min())
    return float(x0), float(y0), float(xs.max() - x0 + 1), float(ys.max() - y0 + 1)


def rle_counts(rle: dict[str, Any]) -> np.ndarray:
    """Run lengths of a compressed (``str``/``bytes``) or uncompressed (``list``) RLE.

    Returns an int64 array (column-major runs, starting with a run of zeros).  Raises
    ``ValueError`` saying what is wrong when ``counts`` is not well-formed; it does not check the
    total against ``size`` (see :func:`check_rle`).  Vectorised: ~tens of microseconds per mask.
    """
    counts = rle.get("counts") if isinstance(rle, dict) else None
    if isinstance(counts, list):
        if not all(type(c) is int or (type(c) is float and c.is_integer()) for c in counts):
            raise ValueError("counts must be whole numbers")
        out = np.asarray(counts, dtype=np.int64)
        if out.size and out.min() < 0:
            raise ValueError("counts must not be negative")
        return out
    if isinstance(counts, str):
        try:
            counts = counts.encode("ascii")
        except UnicodeEncodeError:
            raise ValueError("counts has characters outside the RLE alphabet") from None
    if not isinstance(counts, bytes):
        raise ValueError(  # noqa: TRY004 - malformed file content, reported like the rest
            "counts must be a string (compressed RLE) or a list of run lengths")
    c = np.frombuffer(counts, dtype=np.uint8).astype(np.int64) - 48
    if c.size == 0:
        return np.zeros(0, dtype=np.int64)
    if c.min() < 0 or c.max() > 63:
        raise ValueError("counts has characters outside the RLE alphabet")
    more = (c & 0x20) != 0
    if more[-1]:
        raise ValueError("counts ends in the middle of a number")
    ends = np.flatnonzero(~more)
    starts = np.concatenate(([0], ends[:-1] + 1))
    lengths = ends - starts + 1
    if lengths.max() > 12:
        raise ValueError("counts has a number that is too large")
    k = np.arange(c.size) - np.repeat(starts, lengths)
    vals = np.add.reduceat((c & 0x1F) << (5 * k), starts)
    negative = (c[ends] & 0x10) != 0
    vals = np.where(negative, vals - (np.int64(1) << (5 * lengths)), vals)
    # pycocotools' delta coding: counts[m] += counts[m - 2] for m > 2.
    out = vals.copy()
    out[1::2] = np.cumsum(vals[1::2])
    out[2::2] = np.cumsum(vals[2::2])
    if out.min() < 0:
        raise ValueError("counts decodes to a negative run length")
    return out


def check_rle(rle: Any, height: int | None = None, width: int | None = None) -> None:
    """Raise ``ValueError`` (a short phrase) unless ``rle`` is a well-formed RLE dict.

    Checks ``size`` (two non-negative ints, equal to ``(height, width)`` when given) and that the
    runs cover exactly ``h * w`` pixels.  pycocotools reads past or short of the mask otherwise.
    """
    if not isinstance(rle, dict) or "size" not in rle or "counts" not in rle:
        raise ValueError("must be an RLE object with 'size' and 'counts'")
    size = rle["size"]
    if (not isinstance(size, list | tuple) or len(size) != 2
            or not all(type(v) is int and v >= 0 for v in size)):
        raise ValueError("size must be [height, width]")
    h, w = size
    if height is not None and width is not None and (h, w) != (height, width):
        raise ValueError(f"size is [{h}, {w}] but the video is {width}x{height} "
                         f"(size must be [{height}, {width}])")
    total = int(rle_counts(rle).sum())
    if total != h * w:
        raise ValueError(f"counts cover {total} pixels, not {h}x{w} = {h * w}")
