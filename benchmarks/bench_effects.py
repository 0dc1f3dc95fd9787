"""Effect-stack speed: blur background + sticker + glow vs H.264 encode alone, 1080p.

    python -m benchmarks.bench_effects [--frames 24] [--repeats 3] [--write-docs]

Synthetic 1920x1080 frames with two persons (elliptical masks, COCO keypoints).  Timed per
configuration (best of ``--repeats`` interleaved runs):

* *encode*: H.264 encode (x264 via PyAV, CRF 18) of the original frames, nothing else;
* *stack*: :class:`effects.stack.StackRenderer` with ``blur:25`` behind the persons, a
  :class:`~effects.person.Glow` on each and a :class:`~effects.joints.Sticker` on each nose
  (render + readback), no encode;
* *stack + encode*: both, one after the other per frame (the render pipeline's work).

Ratio = (stack + encode) / encode.  GL runs on whatever EGL gives (llvmpipe on a CPU machine,
the GPU's driver where there is one).  ``--write-docs`` rewrites the ``effects`` section of
docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from benchmarks._report import machine_line, update_section
from editor_plugin.media import Codec, VideoWriter
from effects.backgrounds import BlurBackground
from effects.gl import create_context, renderer_name
from effects.joints import Sticker
from effects.person import Glow
from effects.stack import EffectStack, StackRenderer
from inference.cache.layers import PersonLayer
from inference.tracks.model import COCO_KEYPOINTS

W, H = 1920, 1080
FPS = Fraction(30)


def make_frames(n: int) -> list[np.ndarray]:
    """``n`` (H, W, 3) uint8 RGB frames: moving gradient, discs and noise (encoder-realistic)."""
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:H, 0:W]
    frames = []
    for i in range(n):
        img = np.stack([(x + 4 * i) % 256, y * 255 // (H - 1), (x + y + 2 * i) % 256], -1)
        img = img.astype(np.uint8)
        for k in range(10):
            cv2.circle(img, (int(200 + 170 * k + 3 * i) % W, int(100 + 90 * k) % H), 60,
                       tuple(int(v) for v in rng.integers(0, 256, 3)), -1)
        frames.append(cv2.add(img, rng.integers(0, 12, (H, W, 3), dtype=np.uint8)))
    return frames


def make_persons(i: int) -> list[PersonLayer]:
    """Two persons at frame ``i``: elliptical masks, nose and ankles set."""
    out = []
    for tid, cx in ((1, 640 + 2 * i), (2, 1300 - 2 * i)):
        mask = np.zeros((H, W), np.uint8)
        cv2.ellipse(mask, (cx, 600), (150, 380), 0, 0, 360, 1, -1)
        kp = np.zeros((len(COCO_KEYPOINTS), 3))
        kp[COCO_KEYPOINTS.index("nose")] = (cx, 300, 2)
        kp[COCO_KEYPOINTS.index("left_ankle")] = (cx - 40, 960, 2)
        kp[COCO_KEYPOINTS.index("right_ankle")] = (cx + 40, 960, 2)
        x, y, w, h = cv2.boundingRect(mask)
        out.append(PersonLayer(tid, (float(x), float(y), float(w), float(h)), kp, 1.0, mask, None))
    return out


def sticker_png(path: Path) -> Path:
    img = np.zeros((128, 128, 4), np.uint8)
    cv2.circle(img, (64, 64), 60, (0, 200, 255, 255), -1)
    cv2.circle(img, (44, 50), 10, (0, 0, 0, 255), -1)
    cv2.circle(img, (84, 50), 10, (0, 0, 0, 255), -1)
    assert cv2.imwrite(str(path), img)
    return path


def run(frames, persons, renderer, stack, out: Path | None, *, render: bool) -> float:
    """Seconds to render (if ``render``) and encode (if ``out``) every frame."""
    t0 = time.perf_counter()
    writer = (VideoWriter(out, codec=Codec.H264, width=W, height=H, fps=FPS)
              if out is not None else None)
    try:
        for i, frame in enumerate(frames):
            img = frame
            if render:
                img = renderer.render(frame, persons[i], stack, frame_index=i,
                                      time=Fraction(i) / FPS, background=BlurBackground(25.0))
            if writer is not None:
                writer.write(img, time=Fraction(i) / FPS)
    finally:
        if writer is not None:
            writer.close()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--frames", type=int, default=24)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--write-docs", action="store_true")
    args = ap.parse_args()

    frames = make_frames(args.frames)
    persons = [make_persons(i) for i in range(args.frames)]
    ctx = create_context()
    gl = renderer_name(ctx)
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp, StackRenderer(ctx, W, H) as renderer:
        tmp = Path(tmp)
        sticker = Sticker(image=sticker_png(tmp / "s.png"), joints=("nose",), size=160.0,
                          layer="front")
        glow = Glow(radius=40, color=(255, 200, 80), intensity=0.8)
        stack = EffectStack(everyone=[glow, sticker])
        run(frames[:3], persons, renderer, stack, tmp / "warm.mp4", render=True)  # warm-up
        enc = fx = both = float("inf")
        for _ in range(args.repeats):
            enc = min(enc, run(frames, persons, renderer, stack, tmp / "e.mp4", render=False))
            fx = min(fx, run(frames, persons, renderer, stack, None, render=True))
            both = min(both, run(frames, persons, renderer, stack, tmp / "b.mp4", render=True))
    ctx.release()
    load_after = os.getloadavg()
    n = args.frames
    row = (f"| {W}×{H} | {gl} | {n / enc:.1f} | {n / fx:.1f} | {n / both:.1f} "
           f"| {both / enc:.2f} |")
    header = ("| size | GL renderer | encode fps | stack fps | stack + encode fps "
              "| ratio |\n|---|---|---|---|---|---|")
    load = f"{load_before[0]:.2f} before, {load_after[0]:.2f} after"
    print(header)
    print(row)
    print(f"load average (1 min): {load}")
    if args.write_docs:
        md = [
            "## Effects: blur background + sticker + glow vs H.264 encode (1080p)",
            "",
            f"Machine: {machine_line()}.",
            (f"{n} synthetic 1920×1080 frames, two persons; stack = `blur:25` background, a "
             "glow (radius 40) on each person, a sticker on each nose; render includes the "
             "matte build, GL passes and readback. Ratio = (stack + encode) / encode alone "
             f"(H.264 CRF 18); best of {args.repeats} interleaved runs. Load average (1 min) "
             f"during the run: {load}."),
            "",
            header,
            row,
            "",
            "Reproduce: `python -m benchmarks.bench_effects --write-docs`.",
        ]
        update_section("effects", "\n".join(md))


if __name__ == "__main__":
    main()
