"""Render speed: background swap (blur, one person) vs decode+encode alone, and cache reads.

    python -m benchmarks.bench_render [--frames 60] [--sizes 1280x720,1920x1080]

Writes the ``render`` section of docs/benchmarks.md.  Target (issue: Foundation): compositing
adds at most 25% to decode+encode time on a CPU machine.
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import time
from pathlib import Path

from benchmarks._report import ROOT, machine_line, update_section
from editor_plugin.media import Codec, VideoReader, VideoWriter
from editor_plugin.pipeline import BackgroundSink, prefetch
from editor_plugin.render import RenderSpec, render
from editor_plugin.session import ClipSession
from editor_plugin.synth_io import write_synthetic_clip
from effects.backgrounds import BlurBackground, SolidColor
from inference.synth import SynthConfig


def decode_encode(clip: Path, out: Path) -> float:
    """Seconds to decode ``clip`` and re-encode it as H.264, with the same threading as render."""
    t0 = time.perf_counter()
    with VideoReader(clip) as reader:
        info = reader.info
        writer = VideoWriter(out, codec=Codec.H264, width=info.width, height=info.height,
                             fps=info.fps, time_base=info.time_base)
        with writer, BackgroundSink(lambda it: writer.write(it[0], time=it[1]),
                                    depth=3) as sink:
            for f in prefetch(reader.iter_frames(), depth=3):
                sink.put((f.image, f.time))
    return time.perf_counter() - t0


def timed_render(session: ClipSession, background, out: Path) -> float:
    t0 = time.perf_counter()
    render(session, RenderSpec(persons=(1,), background=background, audio=False), out)
    return time.perf_counter() - t0


def cache_read_ms(session: ClipSession, samples: int = 50) -> tuple[float, float]:
    """Mean ms to read all persons of a random frame, with masks decoded; and persons/frame."""
    rng = random.Random(0)
    with session.layers() as cache:
        n = session.info.frame_count
        frames = [rng.randrange(n) for _ in range(samples)]
        cache.frame(frames[0])  # warm the page cache
        t0 = time.perf_counter()
        count = sum(len(cache.frame(i)) for i in frames)
        return (time.perf_counter() - t0) * 1000 / samples, count / samples


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--frames", type=int, default=60)
    ap.add_argument("--sizes", default="1280x720,1920x1080")
    ap.add_argument("--people", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=3, help="best of N interleaved runs")
    args = ap.parse_args()

    work = ROOT / ".bench" / "render"
    work.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("HUMANFX_CACHE_DIR", str(work / "cache"))
    rows = []
    for size in args.sizes.split(","):
        w, h = (int(v) for v in size.split("x"))
        clip_dir = work / f"{w}x{h}-{args.frames}"
        clip = clip_dir / "clip.mp4"
        if not clip.exists():
            write_synthetic_clip(clip_dir, SynthConfig(people=args.people, frames=args.frames,
                                                       width=w, height=h, seed=11))
        session = ClipSession(clip)
        session.import_tracks(clip_dir / "clip.tracks.json")
        with tempfile.TemporaryDirectory(dir=work) as tmp:
            tmp = Path(tmp)
            decode_encode(clip, tmp / "warm.mp4")  # warm caches and codec start-up
            # interleaved repeats, best of each: robust to other load on the machine
            base = blur = color = float("inf")
            for _ in range(args.repeats):
                base = min(base, decode_encode(clip, tmp / "base.mp4"))
                blur = min(blur, timed_render(session, BlurBackground(radius=25.0),
                                              tmp / "blur.mp4"))
                color = min(color, timed_render(session, SolidColor((0, 255, 0)),
                                                tmp / "color.mp4"))
        read_ms, per_frame = cache_read_ms(session)
        n = args.frames
        rows.append(
            f"| {w}×{h} | {n / base:.1f} | {n / blur:.1f} | {blur / base:.2f} "
            f"| {n / color:.1f} | {color / base:.2f} | {read_ms:.2f} ({per_frame:.1f} persons) |"
        )
        print(rows[-1], flush=True)

    md = [
        "## Render: background swap vs decode+encode (CPU)",
        "",
        f"Machine: {machine_line()}.",
        (f"Synthetic clip, {args.frames} frames, {args.people} people, H.264 in and out, one person "
        "selected; `render` includes decode, cache read, matte, GL composite (llvmpipe) and encode. "
        "Ratio = render time / decode+encode time (target ≤ 1.25); best of "
        f"{args.repeats} interleaved runs each."),
        "",
        ("| size | decode+encode fps | blur:25 fps | blur ratio | color fps | color ratio "
        "| cache read ms/frame |"),
        "|---|---|---|---|---|---|---|",
        *rows,
        "",
        ("x264's speed depends on the picture: a composite over a flat colour or a blurred "
        "background encodes faster than the noisy original, which is why the colour ratio can "
        "drop below 1. On two cores the compositor's llvmpipe threads compete with x264 for the "
        "same cores, so every millisecond of GL work shows up in the ratio; a GPU (or more cores) "
        "takes it off the critical path."),
        "",
        "Reproduce: `python -m benchmarks.bench_render`.",
    ]
    update_section("render", "\n".join(md))


if __name__ == "__main__":
    main()
