"""Plugin server latency: ``render_frame`` over the JSON-RPC protocol on a cached 1080p clip.

    python -m benchmarks.bench_server [--frames 48] [--random 40] [--write-docs]

Starts ``humanfx serve --stdio`` as a child process (with its own ``HUMANFX_CACHE_DIR`` under
``.bench/server/``), opens a synthetic 1920×1080 clip, imports its tracks, sets a blur
background with one person selected, then times ``render_frame`` round trips for sequential
and random frames, to a shared memory block and to a PNG file, first decoding from the clip,
then from its optimized media (``optimize_media``).  The first call of each series
is a warm-up and is left out.  Target (issue: NLE integration): ≤ 60 ms per preview frame on
CPU for a cached clip.  ``--write-docs`` rewrites the ``server`` section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import time
from multiprocessing import shared_memory
from pathlib import Path

import av
import cv2
import numpy as np

from benchmarks._report import ROOT, machine_line, update_section
from editor_plugin.client import HumanfxClient
from editor_plugin.media import VideoReader
from editor_plugin.synth_io import write_synthetic_clip
from inference.synth import SynthConfig

WORK = ROOT / ".bench" / "server"
W, H, PEOPLE, SEED = 1920, 1080, 3, 3


def stats_ms(samples: list[float]) -> tuple[float, float, float]:
    """(median, p90, max) of ``samples`` (seconds) in milliseconds."""
    ms = sorted(s * 1000 for s in samples)
    p90 = float(np.percentile(ms, 90))
    return statistics.median(ms), p90, ms[-1]


def make_clip(frames: int) -> tuple[Path, Path]:
    """The benchmark clip and its tracks file, written once under ``.bench/server/``."""
    clip_dir = WORK / f"{W}x{H}-{frames}-p{PEOPLE}-s{SEED}"
    clip, tracks = clip_dir / "clip.mp4", clip_dir / "clip.tracks.json"
    if not (clip.exists() and tracks.exists()):
        write_synthetic_clip(clip_dir, SynthConfig(people=PEOPLE, frames=frames, width=W,
                                                   height=H, seed=SEED))
    return clip, tracks


def timed_calls(client: HumanfxClient, clip_id: str, order: list[int], **target: str
                ) -> list[float]:
    """Round-trip seconds of ``render_frame`` for each index of ``order``, first call dropped."""
    out = []
    for i in order:
        t0 = time.perf_counter()
        client.call("render_frame", timeout=120, clip_id=clip_id, frame_index=i, **target)
        out.append(time.perf_counter() - t0)
    return out[1:]


def decode_ms(clip: Path, order: list[int]) -> float:
    """Median ms of ``VideoReader.read`` in this process for ``order`` (first read dropped)."""
    times = []
    with VideoReader(clip) as reader:
        for i in order:
            t0 = time.perf_counter()
            reader.read(i)
            times.append(time.perf_counter() - t0)
    return statistics.median(times[1:]) * 1000


def keyframes(clip: Path) -> int:
    """Number of keyframe packets in the clip's video stream."""
    with av.open(str(clip)) as container:
        return sum(1 for pkt in container.demux(video=0) if pkt.size and pkt.is_keyframe)


def png_encode_ms(png: Path) -> float:
    """Median ms of encoding a rendered 1080p frame as PNG with OpenCV (what the server does)."""
    image = cv2.imread(str(png))
    times = []
    for _ in range(6):
        t0 = time.perf_counter()
        cv2.imencode(".png", image)
        times.append(time.perf_counter() - t0)
    return statistics.median(times[1:]) * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--frames", type=int, default=48, help="frames in the synthetic clip")
    ap.add_argument("--random", type=int, default=40, help="random frames per series")
    ap.add_argument("--write-docs", action="store_true",
                    help="rewrite the 'server' section of docs/benchmarks.md")
    args = ap.parse_args()

    WORK.mkdir(parents=True, exist_ok=True)
    clip, tracks = make_clip(args.frames)
    cache = WORK / "cache"
    shutil.rmtree(cache, ignore_errors=True)  # a fresh, isolated layer cache per run
    out_dir = WORK / "out"
    out_dir.mkdir(exist_ok=True)
    env = dict(os.environ, HUMANFX_CACHE_DIR=str(cache))
    rng = random.Random(0)
    seq = list(range(args.frames))
    rnd = [rng.randrange(args.frames) for _ in range(args.random + 1)]
    load0 = os.getloadavg()

    t0 = time.perf_counter()
    client = HumanfxClient.spawn_stdio(roots=[WORK], env=env, cwd=ROOT)
    shm = None
    try:
        client.call("server_info", timeout=120)
        startup = time.perf_counter() - t0
        t1 = time.perf_counter()
        clip_id = client.call("open_clip", path=str(clip))["clip_id"]
        t_open = time.perf_counter() - t1
        t1 = time.perf_counter()
        client.call("import_tracks", timeout=300, clip_id=clip_id, path=str(tracks))
        t_import = time.perf_counter() - t1
        person = client.call("list_persons", clip_id=clip_id)["persons"][0]["id"]
        client.call("set_effects", clip_id=clip_id, background="blur:25", selected=[person])
        t1 = time.perf_counter()
        first = out_dir / "first.png"
        client.call("render_frame", timeout=120, clip_id=clip_id, frame_index=0, path=str(first))
        t_first = time.perf_counter() - t1  # GL context + compositor creation + decoder start

        shm = shared_memory.SharedMemory(create=True, size=W * H * 3)
        png = str(out_dir / "frame.png")
        series = {
            ("sequential", "shared memory"): timed_calls(client, clip_id, seq,
                                                         shared_memory=shm.name),
            ("random", "shared memory"): timed_calls(client, clip_id, rnd,
                                                     shared_memory=shm.name),
            ("sequential", "PNG file"): timed_calls(client, clip_id, seq, path=png),
            ("random", "PNG file"): timed_calls(client, clip_id, rnd, path=png),
        }
        t1 = time.perf_counter()
        job = client.call("optimize_media", clip_id=clip_id)["job_id"]
        optimized = client.wait_job(job, timeout=600)
        t_opt = time.perf_counter() - t1
        for order, frames in (("sequential", seq), ("random", rnd)):
            series[(order, "shared memory", "optimized")] = timed_calls(
                client, clip_id, frames, shared_memory=shm.name)
        series[("random", "PNG file", "optimized")] = timed_calls(client, clip_id, rnd, path=png)
        client.call("shutdown")
    finally:
        client.close()
        if shm is not None:
            shm.close()
            shm.unlink()
    load1 = os.getloadavg()

    dec_seq, dec_rnd = decode_ms(clip, seq), decode_ms(clip, rnd)
    png_ms = png_encode_ms(first)
    keys = keyframes(clip)

    rows = []
    for key, samples in series.items():
        order, target = key[:2]
        source = "optimized media" if len(key) == 3 else "clip (H.264)"
        med, p90, mx = stats_ms(samples)
        rows.append(f"| {order} | {source} | {target} | {len(samples)} | {med:.1f} | "
                    f"{p90:.1f} | {mx:.1f} | {'yes' if med <= 60 else 'no'} |")
    seq_shm = stats_ms(series[("sequential", "shared memory")])[0]
    rnd_shm = stats_ms(series[("random", "shared memory")])[0]
    opt_rnd = stats_ms(series[("random", "shared memory", "optimized")])[0]
    gop = f"{args.frames // max(keys, 1)} frames"
    notes = [
        (f"* Server start-up (spawn to first `server_info` answer): {startup * 1000:.0f} ms; "
        f"`open_clip` {t_open * 1000:.0f} ms; `import_tracks` {t_import * 1000:.0f} ms; first "
        f"`render_frame` (creates the GL context and compositor, starts the decoder) "
        f"{t_first * 1000:.0f} ms."),
        (f"* Decoding alone (`VideoReader.read` in-process, median): sequential "
        f"{dec_seq:.1f} ms/frame, random {dec_rnd:.1f} ms/frame.  The clip has "
        f"{keys} keyframe(s) in {args.frames} frames (GOP {gop}, "
        "the writer's 2 s at 24 fps), so a random frame decodes on average half a GOP of "
        "frames from the keyframe before it."),
    ]
    extra = rnd_shm - seq_shm
    if dec_rnd - dec_seq >= 0.5 * extra > 0:
        notes.append(f"* Random access is dominated by decoding (GOP seeks): over the protocol a "
                     f"random frame costs {extra:.0f} ms more than a sequential one, and decoding "
                     f"alone costs {dec_rnd - dec_seq:.0f} ms more for a random frame than for the "
                     "next one.")
    else:
        notes.append(f"* Over the protocol a random frame costs {extra:.0f} ms more than a "
                     f"sequential one; decoding accounts for {dec_rnd - dec_seq:.0f} ms of it.")
    notes.append(f"* Optimized media (`optimize_media`, a lossless all-intra MagicYUV copy of "
                 f"the clip, bit-identical frames): built in {t_opt:.1f} s, "
                 f"{optimized['bytes'] / 1e6:.0f} MB ({optimized['bytes'] / 1e6 / args.frames:.2f} "
                 f"MB per frame).  With it a random frame costs {opt_rnd:.1f} ms median over the "
                 f"protocol, against {rnd_shm:.1f} ms from the clip.")
    notes.append(f"* PNG output adds the encoding (OpenCV `imencode`, 1080p: {png_ms:.0f} ms "
                 "here) and the file write; shared memory is a 6 MB copy.")
    notes.append(f"* Load average (1 min) {load0[0]:.2f} before, {load1[0]:.2f} after the "
                 "protocol measurements.")

    md = [
        "## Plugin server: `render_frame` latency over JSON-RPC (CPU)",
        "",
        f"Machine: {machine_line()}.",
        (f"`humanfx serve --stdio` in a child process; synthetic {W}×{H} H.264 clip, "
        f"{args.frames} frames, {PEOPLE} people, tracks imported (cached layers); "
        "`blur:25` background, one person selected, feather refine.  Each time is one "
        "request's round trip from the Python client (decode, layer read, matte, GL composite "
        "on llvmpipe, write to the target, JSON answer); the first call of each series is a "
        "warm-up and is left out.  Target: ≤ 60 ms per frame."),
        "",
        "| frames | decoded from | target | calls | median ms | p90 ms | max ms | ≤ 60 ms |",
        "|---|---|---|---|---|---|---|---|",
        *rows,
        "",
        *notes,
        "",
        "Reproduce: `python -m benchmarks.bench_server --write-docs`.",
    ]
    text = "\n".join(md)
    print(text, flush=True)
    if args.write_docs:
        update_section("server", text)


if __name__ == "__main__":
    main()
