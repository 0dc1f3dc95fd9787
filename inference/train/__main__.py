"""``python -m inference.train segmenter|tracker ...``: train the seed's two networks.

Both commands train on freshly rendered synthetic scenes (``--scenes`` scenes of ``--frames``
frames, seeds ``--data-seed, --data-seed + 1, ...``) or, for the segmenter, on a COCO person
dataset (``--coco ANNOTATIONS.json IMAGES_DIR``).  Runs resume from the checkpoint in
``--out`` (pass ``--fresh`` to start over) and are deterministic for a given ``--seed``.

Examples (the shipped ``SYNTH_V1`` weights; see ``docs/seed-networks.md``)::

    python -m inference.train segmenter --out runs/seg --variant keypoint+mixer \\
        --crop-size 128 --steps 1500
    python -m inference.train tracker --out runs/pose --input-size 256x192 --steps 3000

``--export FILE`` writes the weights-only file that ``humanfx models import`` takes (half
precision with ``--half``).
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from inference.errors import HumanfxError

log = logging.getLogger("inference.train")


def _size(text: str) -> tuple[int, int]:
    try:
        if "x" in text:
            w, h = text.lower().split("x", 1)
            return int(w), int(h)
        return int(text), int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not WIDTHxHEIGHT or one integer") from None


def _synth_list(scenes: int, frames: int, width: int, height: int, people: tuple[int, int],
                seed: int) -> list:
    import numpy as np

    from inference.synth import SynthConfig

    rng = np.random.default_rng(seed)
    return [SynthConfig(people=int(rng.integers(people[0], people[1] + 1)), frames=frames,
                        width=width, height=height, seed=seed + i) for i in range(scenes)]


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", type=Path, required=True, help="run folder (checkpoint, metrics)")
    p.add_argument("--steps", type=int, required=True, help="total optimizer steps")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--seed", type=int, default=0, help="seed of weights, sampling, dropout")
    p.add_argument("--threads", type=int, default=0, help="CPU threads (0: PyTorch's choice)")
    p.add_argument("--fresh", action="store_true", help="ignore an existing checkpoint")
    p.add_argument("--scenes", type=int, default=48, help="synthetic training scenes")
    p.add_argument("--frames", type=int, default=48, help="frames per synthetic scene")
    p.add_argument("--width", type=int, default=320, help="synthetic frame width")
    p.add_argument("--height", type=int, default=240, help="synthetic frame height")
    p.add_argument("--people", type=int, nargs=2, default=(1, 5), metavar=("MIN", "MAX"))
    p.add_argument("--data-seed", type=int, default=1000,
                   help="seed of the first synthetic scene (evaluation uses other seeds)")
    p.add_argument("--export", type=Path, help="also write an importable weights file here")
    p.add_argument("--half", action="store_true", help="export in half precision")
    p.add_argument("--int8", action="store_true",
                   help="export convolution/linear weights in 8 bits (the rest in half)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m inference.train",
                                     description="Train the seed's networks.")
    sub = parser.add_subparsers(dest="what", required=True)
    seg = sub.add_parser("segmenter", help="the Local Segmenter (BCE + Dice, SAM, lr 1e-4)")
    _common(seg)
    seg.add_argument("--variant", default="keypoint+mixer",
                     help="ablation row: box | keypoint | keypoint+mixer")
    seg.add_argument("--crop-size", type=int, default=512, help="network input side (seed 512)")
    seg.add_argument("--val-every", type=int, default=100)
    seg.add_argument("--val-crops", type=int, default=64)
    seg.add_argument("--coco", nargs=2, type=Path, metavar=("ANNOTATIONS", "IMAGES"),
                     help="train on a COCO person dataset instead of synthetic scenes")
    trk = sub.add_parser("tracker", help="the Global Pose Tracker (AdamW, lr 1e-4)")
    _common(trk)
    trk.add_argument("--input-size", type=_size, default=(512, 512), help="WIDTHxHEIGHT")
    trk.add_argument("--backbone", default="resnet18", help="resnet18 or resnet34")
    trk.add_argument("--checkpoint-every", type=int, default=100)
    trk.add_argument("--track-thresh", type=float,
                     help="detection score threshold stored in the exported file (calibrated "
                     "on training scenes; default: PoseTrackerConfig's)")
    return parser


def run_segmenter(args: argparse.Namespace) -> Path:
    from inference.models.segmenter.network import SegmenterConfig
    from inference.train.segmenter import TrainSettings, train_segmenter

    config = SegmenterConfig.for_variant(args.variant, crop_size=args.crop_size)
    data = ((str(args.coco[0]), str(args.coco[1])) if args.coco else
            _synth_list(args.scenes, args.frames, args.width, args.height, tuple(args.people),
                        args.data_seed))
    ckpt = train_segmenter(config, data=data, out_dir=args.out, device=args.device,
                           steps=args.steps, batch_size=args.batch_size, seed=args.seed,
                           val_every=args.val_every, resume=not args.fresh,
                           settings=TrainSettings(val_crops=args.val_crops))
    if args.export:
        from inference.models.segmenter.checkpoint import export_weights
        export_weights(ckpt, args.export, half=args.half, int8=args.int8)
    return ckpt


def run_tracker(args: argparse.Namespace) -> Path:
    from inference.models.pose_tracker.data import SynthSourceConfig
    from inference.models.pose_tracker.network import PoseNetConfig
    from inference.models.pose_tracker.train import PoseTrainConfig, train_pose_tracker

    synth = SynthSourceConfig(scenes=args.scenes, people=tuple(args.people), frames=args.frames,
                              width=args.width, height=args.height,
                              cache_frames=args.scenes * args.frames)
    config = PoseTrainConfig(net=PoseNetConfig(backbone=args.backbone), synth=synth,
                             checkpoint_every=args.checkpoint_every)
    result = train_pose_tracker(config, out_dir=args.out, device=args.device, steps=args.steps,
                                batch_size=args.batch_size, input_size=args.input_size,
                                seed=args.seed, resume=not args.fresh,
                                data_seed=args.data_seed)
    if args.export:
        from inference.models.pose_tracker.checkpoint import export_weights
        inference = ({} if args.track_thresh is None else
                     {"track_thresh": args.track_thresh, "new_thresh": args.track_thresh,
                      "pre_thresh": args.track_thresh})
        export_weights(result.checkpoint, args.export, half=args.half, int8=args.int8,
                       inference=inference)
    return result.checkpoint


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    if args.threads > 0:
        import torch
        torch.set_num_threads(args.threads)
    try:
        path = run_segmenter(args) if args.what == "segmenter" else run_tracker(args)
    except HumanfxError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted; run the same command again to resume", file=sys.stderr)
        return 130
    log.info("checkpoint: %s", path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
