"""The shipped (synthetic-trained) seed networks on real footage: DAVIS 2016 people sequences.

    python -m benchmarks.eval_seed_davis [--write-docs]

Each sequence of ``shared/data/davis2016-people`` (JPEG frames + one binary person mask per
frame) is written losslessly to a video, analyzed with ``--model seed`` (every frame), and each
frame's best-matching track mask is scored against the DAVIS mask (IoU).  This measures how far
``SYNTH_V1`` carries to real people: it was trained on synthetic figures only, so the figures
say what to expect before COCO-trained weights (docs/seed-networks.md) are used.
``--write-docs`` rewrites the ``seed-davis`` section of docs/seed-networks.md.
"""

from __future__ import annotations

import argparse
import tempfile
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from benchmarks._report import ROOT, machine_line, shared_data, update_section
from editor_plugin.analyze import AnalyzeOptions, analyze_clip
from editor_plugin.media import Codec, VideoWriter
from editor_plugin.session import ClipSession

DOC = ROOT / "docs" / "seed-networks.md"


def score_sequence(folder: Path, ann_folder: Path, work: Path) -> dict[str, float]:
    images = sorted(folder.glob("*.jpg"))
    masks = sorted(ann_folder.glob("*.png"))
    h, w = cv2.imread(str(images[0])).shape[:2]
    clip = work / f"{folder.name}.mkv"
    with VideoWriter(clip, codec=Codec.FFV1, width=w, height=h, fps=Fraction(24)) as writer:
        for p in images:
            writer.write(cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB))
    session = ClipSession(clip, cache_root=work / "cache")
    result = analyze_clip(session, AnalyzeOptions(model="seed", device="cpu", keyframe_every=1,
                                                  show_download=False))
    ious = []
    with session.layers("seed") as cache:
        for i, ann in enumerate(masks):
            gt = cv2.imread(str(ann), cv2.IMREAD_GRAYSCALE) > 127
            best = 0.0
            for person in cache.frame(i):
                if person.mask is not None:
                    m = person.mask > 0
                    union = int((m | gt).sum())
                    best = max(best, float((m & gt).sum()) / union if union else 0.0)
            ious.append(best)
    return {"frames": len(images), "size": f"{w}x{h}", "tracks": result.persons,
            "iou": float(np.mean(ious)), "hit": float(np.mean(np.array(ious) > 0.5)),
            "fps": len(images) / result.seconds}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--write-docs", action="store_true")
    args = ap.parse_args(argv)
    root = shared_data() / "davis2016-people"
    rows = []
    with tempfile.TemporaryDirectory(prefix="humanfx-davis-") as tmp:
        for seq in sorted(p for p in (root / "JPEGImages" / "480p").iterdir() if p.is_dir()):
            r = score_sequence(seq, root / "Annotations" / "480p" / seq.name, Path(tmp))
            rows.append(f"| {seq.name} | {r['size']}, {r['frames']} | {r['tracks']} | "
                        f"{r['iou']:.3f} | {100 * r['hit']:.0f}% | {r['fps']:.1f} |")
            print(rows[-1], flush=True)
    text = "\n".join([
        f"{machine_line()}.", "",
        ("| sequence | size, frames | tracks kept | mean IoU, best track vs DAVIS mask | "
        "frames with IoU > 0.5 | analyze frames/s (CPU) |"),
        "|---|---|---:|---:|---:|---:|", *rows])
    if args.write_docs:
        update_section("seed-davis", text, doc=DOC)


if __name__ == "__main__":
    main()
