"""Foundation on real footage: DAVIS 2016 people sequences -> clip -> import masks -> render.

    python -m benchmarks.eval_davis_composite

For each sequence in ``<shared data>/davis2016-people`` the JPEG frames are encoded into an
H.264 clip (24 fps, as DAVIS), the ground-truth masks are written as a mask-only COCO-video
tracks file and imported, and the clip is rendered with ``--background color:#00FF00
--refine none --codec ffv1``.  Every output frame is compared with a NumPy composite of the
decoded source frame and the mask.  Writes the ``davis`` section of docs/benchmarks.md.
"""

from __future__ import annotations

import os
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from benchmarks._report import machine_line, shared_data, update_section
from editor_plugin.media import Codec, VideoReader, VideoWriter
from editor_plugin.render import RenderSpec, render
from editor_plugin.session import ClipSession
from effects.backgrounds import BlurBackground, SolidColor
from inference.tracks import PersonRecord, Track, TrackSet, VideoInfo
from inference.tracks.io import save_tracks
from inference.tracks.masks import encode_mask, mask_bbox

FPS = Fraction(24)


def build_clip(seq_dir: Path, ann_dir: Path, out_dir: Path) -> tuple[Path, Path, list[np.ndarray]]:
    frames = sorted(seq_dir.glob("*.jpg"))
    masks = [cv2.imread(str(ann_dir / (f.stem + ".png")), cv2.IMREAD_GRAYSCALE) > 127
             for f in frames]
    first = cv2.imread(str(frames[0]))
    h, w = first.shape[:2]
    clip = out_dir / f"{seq_dir.name}.mp4"
    with VideoWriter(clip, codec=Codec.H264, width=w, height=h, fps=FPS, time_base=1 / FPS,
                     quality=16) as writer:
        for i, f in enumerate(frames):
            writer.write(cv2.cvtColor(cv2.imread(str(f)), cv2.COLOR_BGR2RGB), time=i / FPS)
    anns = []
    for i, m in enumerate(masks):
        box = mask_bbox(m)
        if box is None:
            continue
        anns.append(PersonRecord(video_id=1, frame_index=i, track_id=1, bbox=box,
                                 segmentation=encode_mask(m), score=1.0, id=len(anns) + 1))
    ts = TrackSet(videos=[VideoInfo(1, clip.name, w, h, len(frames), FPS)],
                  tracks=[Track(1, 1, seq_dir.name)], annotations=anns)
    tracks = out_dir / f"{seq_dir.name}.tracks.json"
    save_tracks(ts, tracks)
    return clip, tracks, masks


def main() -> None:
    root = shared_data() / "davis2016-people"
    if not root.exists():
        raise SystemExit(f"{root} not found: set HUMANFX_SHARED_DATA to the shared data folder")
    rows = []
    with tempfile.TemporaryDirectory(prefix="davis-") as tmp:
        tmp = Path(tmp)
        os.environ["HUMANFX_CACHE_DIR"] = str(tmp / "cache")
        for seq in sorted((root / "JPEGImages" / "480p").iterdir()):
            clip, tracks, masks = build_clip(seq, root / "Annotations" / "480p" / seq.name, tmp)
            session = ClipSession(clip)
            session.import_tracks(tracks)
            out = tmp / f"{seq.name}-green.mkv"
            t0 = time.perf_counter()
            render(session, RenderSpec(persons=(1,), background=SolidColor((0, 255, 0)),
                                       codec=Codec.FFV1, refine="none", audio=False), out)
            t_green = time.perf_counter() - t0
            t0 = time.perf_counter()
            render(session, RenderSpec(persons=(1,), background=BlurBackground(25.0),
                                       audio=False), tmp / f"{seq.name}-blur.mp4")
            t_blur = time.perf_counter() - t0
            worst, n = 0, 0
            green = np.array([0, 255, 0], np.int16)
            with VideoReader(clip) as src, VideoReader(out) as dst:
                for fs, fd in zip(src.iter_frames(), dst.iter_frames(), strict=True):
                    ref = np.broadcast_to(green, fs.image.shape).copy()
                    keep = masks[fs.index]
                    ref[keep] = fs.image[keep]
                    worst = max(worst, int(np.abs(fd.image.astype(np.int16) - ref).max()))
                    n += 1
            w, h = session.info.width, session.info.height
            rows.append(f"| {seq.name} | {w}×{h} | {n} | {worst} | {n / t_green:.1f} "
                        f"| {n / t_blur:.1f} |")
            print(rows[-1], flush=True)
    md = [
        "## Real footage: DAVIS 2016 people, composite exactness",
        "",
        f"Machine: {machine_line()}.",
        ("Frames → H.264 clip → ground-truth masks imported → `render --background color:#00FF00 "
        "--refine none --codec ffv1`; every output frame compared with a NumPy composite of the "
        "decoded source frame and the mask (max abs error per channel, target ≤ 1). fps include "
        "decode, cache read, composite and encode."),
        "",
        "| sequence | size | frames | max abs error | green (FFV1) fps | blur:25 (H.264) fps |",
        "|---|---|---|---|---|---|",
        *rows,
        "",
        "Reproduce: `python -m benchmarks.eval_davis_composite`.",
    ]
    update_section("davis", "\n".join(md))


if __name__ == "__main__":
    main()
