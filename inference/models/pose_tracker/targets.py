"""Training targets of the Global Pose Tracker (CenterNet/CenterTrack style), in NumPy.

Every person is a point: the centre of its box, drawn as a 2D Gaussian on the centre heatmap.
The other heads are regressed only at the centre cell (``ind``); joint heatmaps get one
Gaussian per labelled joint.  Coordinates follow :mod:`.letterbox`: people are given in
**input** pixels; maps are in **output** cells (``output = input / stride``).  A centre
``ct`` lives in cell ``ct_int = floor(ct)``; ``reg = ct - ct_int`` is its sub-cell offset.

Ignore regions: a heatmap pixel set to exactly 1.0 that is *not* listed as a positive (through
``ind``/``hp_ind``) has zero weight in the focal loss (its negative weight ``(1 - gt)^4`` is 0).

Target dict of one sample (``M = max_people``, ``J = 17``, ``(Ho, Wo)`` output size):

==============  ================  ========  ==================================================
key             shape             dtype     meaning
==============  ================  ========  ==================================================
hm              (1, Ho, Wo)       float32   centre heatmap
ind             (M,)              int64     flat index ``y * Wo + x`` of each centre cell
mask            (M,)              float32   1 for real people
wh              (M, 2)            float32   box width, height in output cells
reg             (M, 2)            float32   sub-cell centre offset
tracking        (M, 2)            float32   previous centre - ``ct_int`` (output cells)
tracking_mask   (M, 2)            float32   1 where the person was in the previous frame
hps             (M, 2J)           float32   joint - ``ct_int``, (x, y) interleaved
hps_mask        (M, 2J)           float32   1 for labelled joints inside the map
hm_hp           (J, Ho, Wo)       float32   joint heatmaps
hp_ind          (M*J,)            int64     flat index of each visible joint's cell
hp_joint        (M*J,)            int64     joint channel of each entry
hp_mask         (M*J,)            float32   1 for visible joints (positives of ``hm_hp``)
hp_offset       (M*J, 2)          float32   sub-cell joint offset
==============  ================  ========  ==================================================
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from inference.tracks.model import NUM_KEYPOINTS, V_VISIBLE

#: Down-sampling factor of every head map.
STRIDE = 4


@dataclass(frozen=True)
class TargetConfig:
    """How targets are drawn.

    Attributes:
        max_people: ``M``, people per sample beyond which the rest are dropped.
        min_overlap: IoU a box shifted/scaled within the Gaussian radius must keep
            (:func:`gaussian_radius`); also used for the previous-centre heatmap.
        stride: output stride of the head maps.
    """

    max_people: int = 32
    min_overlap: float = 0.7
    stride: int = STRIDE


@dataclass
class PersonAnn:
    """One person in one coordinate frame (frame or input pixels, as the caller states).

    Attributes:
        track_id: identity, stable across frames.
        bbox: ``(x, y, w, h)`` float.
        keypoints: ``(17, 3)`` float64 ``(x, y, v)`` with COCO visibility flags.
    """

    track_id: int
    bbox: tuple[float, float, float, float]
    keypoints: np.ndarray = field(default_factory=lambda: np.zeros((NUM_KEYPOINTS, 3)))


def gaussian_radius(height: float, width: float, min_overlap: float = 0.7) -> float:
    """Largest corner displacement that keeps IoU >= ``min_overlap`` with the true box.

    CornerNet's three cases (both corners shifted the same way, both inward, both outward),
    solved as quadratics in the radius ``r``; the smallest root wins.  Unlike CornerNet's and
    CenterNet's code (which divide by 2 instead of ``2a``, giving radii about 3x too large),
    this solves the quadratics exactly, as mmdetection does.
    """
    h, w, o = float(height), float(width), float(min_overlap)
    if h <= 0 or w <= 0:
        return 0.0
    # Case 1: box translated by (r, r): (w-r)(h-r) / (2wh - (w-r)(h-r)) = o.
    b1, c1 = h + w, w * h * (1 - o) / (1 + o)
    r1 = (b1 - math.sqrt(max(b1 * b1 - 4 * c1, 0.0))) / 2
    # Case 2: both corners inward by r: (w-2r)(h-2r) / (wh) = o.
    a2, b2, c2 = 4.0, 2 * (h + w), (1 - o) * w * h
    r2 = (b2 - math.sqrt(max(b2 * b2 - 4 * a2 * c2, 0.0))) / (2 * a2)
    # Case 3: both corners outward by r: wh / ((w+2r)(h+2r)) = o.
    a3, b3, c3 = 4 * o, 2 * o * (h + w), (o - 1) * w * h
    r3 = (-b3 + math.sqrt(max(b3 * b3 - 4 * a3 * c3, 0.0))) / (2 * a3)
    return max(0.0, min(r1, r2, r3))


def gaussian_kernel(radius: int) -> np.ndarray:
    """``(2r+1, 2r+1)`` float32 Gaussian with peak 1.0 and ``sigma = (2r+1) / 6``."""
    d = 2 * radius + 1
    sigma = d / 6.0
    y, x = np.ogrid[-radius : radius + 1, -radius : radius + 1]
    g = np.exp(-(x * x + y * y) / (2 * sigma * sigma)).astype(np.float32)
    g[g < np.finfo(np.float32).eps * g.max()] = 0
    return g


def draw_gaussian(heatmap: np.ndarray, center: tuple[int, int], radius: int, k: float = 1.0):
    """Draw ``k * gaussian_kernel(radius)`` at integer cell ``center = (x, y)``, keeping the max.

    ``heatmap`` is ``(H, W)`` float32, modified in place (cells outside are clipped).
    """
    h, w = heatmap.shape
    x, y = int(center[0]), int(center[1])
    r = max(0, int(radius))
    g = gaussian_kernel(r)
    left, right = min(x, r), min(w - x, r + 1)
    top, bottom = min(y, r), min(h - y, r + 1)
    if not (0 <= x < w and 0 <= y < h):
        return heatmap
    region = heatmap[y - top : y + bottom, x - left : x + right]
    patch = g[r - top : r + bottom, r - left : r + right] * k
    np.maximum(region, patch, out=region)
    return heatmap


def clipped_box(bbox: Sequence[float], width: float, height: float) -> np.ndarray | None:
    """``(x1, y1, x2, y2)`` float64 of an ``(x, y, w, h)`` box clipped to ``[0, W] x [0, H]``,
    or ``None`` when nothing of it is left."""
    x, y, bw, bh = (float(v) for v in bbox)
    box = np.array([x, y, x + bw, y + bh], dtype=np.float64)
    box[[0, 2]] = np.clip(box[[0, 2]], 0.0, width)
    box[[1, 3]] = np.clip(box[[1, 3]], 0.0, height)
    if box[2] - box[0] <= 0 or box[3] - box[1] <= 0:
        return None
    return box


def render_center_heatmap(
    boxes: np.ndarray,
    size: tuple[int, int],
    *,
    min_overlap: float = 0.7,
    centres: np.ndarray | None = None,
    weights: np.ndarray | None = None,
) -> np.ndarray:
    """The previous-frame centre heatmap ``C_{t-1}`` at **input** resolution.

    Args:
        boxes: ``(N, 4)`` float ``(x1, y1, x2, y2)`` in input pixels, already clipped.
        size: ``(width, height)`` of the network input.
        min_overlap: as in :func:`gaussian_radius` (the radius comes from the input-pixel box).
        centres: ``(N, 2)`` centres to draw at instead of the box centres (training jitter).
        weights: ``(N,)`` peak values (1.0 by default; 0 draws nothing).

    Returns:
        ``(height, width)`` float32 in [0, 1].
    """
    w, h = size
    hm = np.zeros((h, w), dtype=np.float32)
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    cts = (boxes[:, :2] + boxes[:, 2:]) / 2 if centres is None else np.asarray(centres)
    for i, box in enumerate(boxes):
        k = 1.0 if weights is None else float(weights[i])
        if k <= 0:
            continue
        bw, bh = box[2] - box[0], box[3] - box[1]
        radius = int(gaussian_radius(math.ceil(bh), math.ceil(bw), min_overlap))
        cx, cy = math.floor(cts[i][0]), math.floor(cts[i][1])
        if 0 <= cx < w and 0 <= cy < h:
            draw_gaussian(hm, (cx, cy), radius, k)
    return hm


def empty_targets(output_size: tuple[int, int], cfg: TargetConfig) -> dict[str, np.ndarray]:
    """All-zero target dict for an output map of ``(Wo, Ho)`` cells."""
    wo, ho = output_size
    m, j = cfg.max_people, NUM_KEYPOINTS
    f32 = np.float32
    return {
        "hm": np.zeros((1, ho, wo), f32),
        "ind": np.zeros(m, np.int64),
        "mask": np.zeros(m, f32),
        "wh": np.zeros((m, 2), f32),
        "reg": np.zeros((m, 2), f32),
        "tracking": np.zeros((m, 2), f32),
        "tracking_mask": np.zeros((m, 2), f32),
        "hps": np.zeros((m, 2 * j), f32),
        "hps_mask": np.zeros((m, 2 * j), f32),
        "hm_hp": np.zeros((j, ho, wo), f32),
        "hp_ind": np.zeros(m * j, np.int64),
        "hp_joint": np.tile(np.arange(j, dtype=np.int64), m),
        "hp_mask": np.zeros(m * j, f32),
        "hp_offset": np.zeros((m * j, 2), f32),
    }


def build_targets(
    people: Sequence[PersonAnn],
    input_size: tuple[int, int],
    *,
    prev_centres: Mapping[int, np.ndarray] | None = None,
    cfg: TargetConfig = TargetConfig(),
) -> dict[str, np.ndarray]:
    """Targets for the people of the current frame.

    Args:
        people: current-frame people in **input** pixels.
        input_size: ``(width, height)`` of the network input (multiples of ``cfg.stride``).
        prev_centres: track id -> ``(2,)`` centre of that person in the previous frame, in
            **output** cells; people missing from it get no tracking target.
        cfg: drawing parameters.

    Returns:
        The target dict described in the module docstring.
    """
    s = cfg.stride
    wo, ho = input_size[0] // s, input_size[1] // s
    t = empty_targets((wo, ho), cfg)
    prev_centres = prev_centres or {}
    for k, person in enumerate(people[: cfg.max_people]):
        x, y, bw, bh = (float(v) / s for v in person.bbox)
        box = clipped_box((x, y, bw, bh), wo, ho)
        if box is None:
            continue
        w, h = box[2] - box[0], box[3] - box[1]
        radius = int(gaussian_radius(math.ceil(h), math.ceil(w), cfg.min_overlap))
        ct = np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2])
        ct_int = np.minimum(np.floor(ct), [wo - 1, ho - 1]).astype(np.int64)
        draw_gaussian(t["hm"][0], (ct_int[0], ct_int[1]), radius)
        t["ind"][k] = ct_int[1] * wo + ct_int[0]
        t["mask"][k] = 1
        t["wh"][k] = w, h
        t["reg"][k] = ct - ct_int
        if person.track_id in prev_centres:
            t["tracking"][k] = np.asarray(prev_centres[person.track_id]) - ct_int
            t["tracking_mask"][k] = 1
        _add_joints(t, k, person.keypoints, ct_int, box, radius, s)
    return t


def _add_joints(t, k, keypoints, ct_int, box, radius, stride) -> None:
    """Joint targets of person ``k`` (CenterTrack's rules for visibility flags).

    Visible joints are positives of ``hm_hp``; occluded ones (v=1) are regressed from the centre
    but their heatmap peak is ignored; unlabelled ones (v=0) ignore their joint's heatmap over
    the person's box (they may be there, unlabelled).
    """
    ho, wo = t["hm_hp"].shape[1:]
    j_count = t["hm_hp"].shape[0]
    kps = np.asarray(keypoints, dtype=np.float64).reshape(-1, 3)
    for j in range(j_count):
        px, py, v = kps[j, 0] / stride, kps[j, 1] / stride, kps[j, 2]
        if v <= 0:
            x1, y1 = int(box[0]), int(box[1])
            x2, y2 = math.ceil(box[2]), math.ceil(box[3])
            region = t["hm_hp"][j, y1:y2, x1:x2]
            np.maximum(region, 1.0, out=region)
            continue
        if not (0 <= px < wo and 0 <= py < ho):
            continue
        e = k * j_count + j
        t["hps"][k, 2 * j : 2 * j + 2] = px - ct_int[0], py - ct_int[1]
        t["hps_mask"][k, 2 * j : 2 * j + 2] = 1
        pt_int = (math.floor(px), math.floor(py))
        t["hp_ind"][e] = pt_int[1] * wo + pt_int[0]
        t["hp_offset"][e] = px - pt_int[0], py - pt_int[1]
        draw_gaussian(t["hm_hp"][j], pt_int, radius)
        if v >= V_VISIBLE:
            t["hp_mask"][e] = 1
        else:
            t["hm_hp"][j, pt_int[1], pt_int[0]] = 1.0  # ignore the occluded joint's peak


def dense_head_maps(targets: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The head maps a perfect network would output for ``targets`` (one sample, no batch).

    Heatmaps are copies of the target heatmaps (probabilities, ignore values included);
    regression maps hold the target at each centre/joint cell and zero elsewhere.  Used to test decoding independently of any
    training.  Returns a dict of float32 ``(C, Ho, Wo)`` arrays keyed like the network heads.
    """
    ho, wo = targets["hm"].shape[1:]
    j = targets["hm_hp"].shape[0]
    out = {"hm": targets["hm"].copy(), "hm_hp": targets["hm_hp"].copy()}
    for name, ch in (("wh", 2), ("reg", 2), ("tracking", 2), ("hps", 2 * j), ("hp_offset", 2)):
        out[name] = np.zeros((ch, ho, wo), np.float32)
    for k in np.flatnonzero(targets["mask"]):
        y, x = divmod(int(targets["ind"][k]), wo)
        for name in ("wh", "reg", "tracking", "hps"):
            out[name][:, y, x] = targets[name][k]
    # Joint offsets at every regressed joint (occluded ones too, which training leaves free).
    for k, jj in zip(*np.nonzero(targets["hps_mask"][:, 0::2])):
        e = k * j + jj
        y, x = divmod(int(targets["hp_ind"][e]), wo)
        out["hp_offset"][:, y, x] = targets["hp_offset"][e]
    return out
