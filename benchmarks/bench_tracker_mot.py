"""Benchmark the person tracker on MOT15 with SORT's public detections, and its throughput.

Runs :func:`inference.tracking.track_mot` on every ``mot15-sort-detections/<seq>/det.txt``
that has ground truth in ``mot15-gt/<seq>/gt.txt``, scores it with py-motmetrics (MOTA, IDF1,
ID switches, ...) and prints a markdown table next to SORT's published figures
(``SORT_README_results.md``).  Then measures throughput: frames/s on every MOT15 sequence
(box-only), and on synthetic scenes with 10 people per frame, box-only and with 640x480 images
(appearance descriptors + camera-motion estimation).  Also checks scene-cut detection and camera
motion on the real clips of the data folder (DAVIS people sequences, the top-down crowd clip).

Data folder: ``$HUMANFX_SHARED_DATA``, else ``<repo>/../shared/data``.

Run from the repository root::

    .venv/bin/python -m benchmarks.bench_tracker_mot [--set high_score=0.8 ...] [--write-docs]
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import logging
import re
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from benchmarks._report import machine_line, shared_data, update_section
from inference.tracking import (
    Detection,
    PersonTracker,
    TrackerConfig,
    read_mot_detections,
    read_mot_tracks,
)
from inference.tracking.appearance import compute_descriptors, distance_matrix
from inference.tracking.camera import CameraMotionEstimator
from inference.tracking.evaluation import mot_metrics, persons_to_boxes

log = logging.getLogger("bench_tracker_mot")


def sort_published(path: Path) -> dict[str, dict[str, float]]:
    """``{sequence: {"MOTA": .., "IDs": .., "FP": .., "FN": ..}}`` from SORT's README table."""
    out: dict[str, dict[str, float]] = {}
    if not path.exists():
        return out
    for line in path.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.split("|")]
        if len(cells) != 7 or not re.fullmatch(r"[A-Za-z0-9-]+", cells[0]):
            continue
        try:
            fp, fn, ids, _fm = (float(v) for v in cells[5].split())
            mota = float(cells[6].split()[0])
        except ValueError:
            continue
        out[cells[0]] = {"MOTA": mota, "IDs": ids, "FP": fp, "FN": fn}
    return out


def run_sequence(det_path: Path, config: TrackerConfig) -> tuple[dict, int, float]:
    """Track one det.txt; returns (finish() result, frames, seconds spent in the tracker)."""
    dets = read_mot_detections(det_path)
    n = max(dets) + 1 if dets else 0
    tracker = PersonTracker(config)
    t0 = time.perf_counter()
    for f in range(n):
        tracker.update(f, dets.get(f, []))
    result = tracker.finish()
    return result, n, time.perf_counter() - t0


def check_scoring(root: Path) -> str:
    """Score motmetrics' own reference output and compare with its published expectation."""
    seq = root / "mot15-gt" / "TUD-Campus"
    if not (seq / "test.txt").exists():
        return "scoring cross-check skipped (no mot15-gt/TUD-Campus/test.txt)"
    m = mot_metrics(read_mot_tracks(seq / "gt.txt"), read_mot_tracks(seq / "test.txt"))
    ok = abs(m["mota"] - 0.5265) < 5e-4 and abs(m["idf1"] - 0.5577) < 5e-4
    return (f"scoring cross-check (motmetrics reference tracker on TUD-Campus): MOTA "
            f"{100 * m['mota']:.2f} IDF1 {100 * m['idf1']:.2f}, expected 52.65 / 55.77: "
            f"{'OK' if ok else 'MISMATCH'}")


def accuracy_table(root: Path, config: TrackerConfig) -> list[str]:
    det_root, gt_root = root / "mot15-sort-detections", root / "mot15-gt"
    published = sort_published(det_root / "SORT_README_results.md")
    rows = [("| sequence | frames | MOTA | IDF1 | ID sw. | FP | FN | recall | precision "
             "| SORT MOTA | SORT ID sw. | SORT FP | SORT FN |"),
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for det in sorted(det_root.glob("*/det.txt")):
        seq = det.parent.name
        gt_path = gt_root / seq / "gt.txt"
        if not gt_path.exists():
            continue
        result, n, _ = run_sequence(det, config)
        m = mot_metrics(read_mot_tracks(gt_path), persons_to_boxes(result))
        s = published.get(seq)
        pub = {k: "n/p" if s is None else format(s[k], fmt)
               for k, fmt in (("MOTA", ".1f"), ("IDs", ".0f"), ("FP", ".0f"), ("FN", ".0f"))}
        rows.append(f"| {seq} | {n} | {100 * m['mota']:.1f} | {100 * m['idf1']:.1f} | "
                    f"{m['num_switches']:.0f} | {m['num_false_positives']:.0f} | "
                    f"{m['num_misses']:.0f} | {100 * m['recall']:.1f} | "
                    f"{100 * m['precision']:.1f} | {pub['MOTA']} | {pub['IDs']} | "
                    f"{pub['FP']} | {pub['FN']} |")
    return rows


def throughput_mot(root: Path, config: TrackerConfig) -> list[str]:
    rows = ["| sequence | frames | boxes/frame | tracker frames/s |", "|---|---:|---:|---:|"]
    total_f, total_t = 0, 0.0
    for det in sorted((root / "mot15-sort-detections").glob("*/det.txt")):
        n_boxes = sum(1 for line in det.read_text().splitlines() if line.strip())
        _, n, secs = run_sequence(det, config)
        total_f, total_t = total_f + n, total_t + secs
        rows.append(f"| {det.parent.name} | {n} | {n_boxes / max(n, 1):.1f} | {n / secs:.0f} |")
    rows.append(f"| all | {total_f} | | {total_f / max(total_t, 1e-9):.0f} |")
    return rows


def synthetic_scene(n_frames: int, people: int, seed: int = 0):
    """Constant-velocity boxes bouncing inside 640x480, with colours; yields (boxes, colours)."""
    rng = np.random.default_rng(seed)
    size = np.column_stack([rng.uniform(30, 50, people), rng.uniform(90, 140, people)])
    pos = np.column_stack([rng.uniform(0, 640 - 50, people), rng.uniform(0, 480 - 140, people)])
    vel = rng.uniform(-3, 3, (people, 2))
    colours = rng.integers(0, 256, (people, 2, 3))
    for _ in range(n_frames):
        pos = pos + vel
        for k in range(2):
            hi = (640, 480)[k] - size[:, k]
            bounce = (pos[:, k] < 0) | (pos[:, k] > hi)
            vel[bounce, k] *= -1
            pos[:, k] = np.clip(pos[:, k], 0, hi)
        yield np.column_stack([pos, size]), colours


def throughput_synthetic(config: TrackerConfig, *, images: bool, n_frames: int,
                         people: int = 10) -> float:
    rng = np.random.default_rng(1)
    bg = cv2.resize(rng.integers(40, 220, (60, 80, 3), dtype=np.uint8), (640, 480),
                    interpolation=cv2.INTER_NEAREST)
    tracker = PersonTracker(config)
    spent = 0.0
    for f, (boxes, colours) in enumerate(synthetic_scene(n_frames, people)):
        img = None
        if images:
            img = bg.copy()
            for (x, y, w, h), (top, bottom) in zip(boxes.astype(int), colours, strict=True):
                img[y:y + h // 2, x:x + w] = top
                img[y + h // 2:y + h, x:x + w] = bottom
        dets = [Detection(b + rng.normal(0, 1, 4), 0.95) for b in boxes]
        t0 = time.perf_counter()
        tracker.update(f, dets, img)
        spent += time.perf_counter() - t0
    t0 = time.perf_counter()
    tracker.finish()
    spent += time.perf_counter() - t0
    return n_frames / spent


def _real_clips(root: Path, max_frames: int = 300) -> dict[str, list[np.ndarray]]:
    """A few real clips as RGB frames: DAVIS people sequences and the top-down crowd clip."""
    clips: dict[str, list[np.ndarray]] = {}
    for seq in sorted((root / "davis2016-people" / "JPEGImages" / "480p").glob("*")):
        frames = [cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB)
                  for p in sorted(seq.glob("*.jpg"))[:max_frames]]
        if frames:
            clips[seq.name] = frames
    video = root / "crowd-topdown" / "vtest.avi"
    if video.exists():
        cap, frames = cv2.VideoCapture(str(video)), []
        while len(frames) < max_frames:
            ok, frame = cap.read()
            if not ok:
                break
            frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
        cap.release()
        if frames:
            clips[video.stem] = frames
    return clips


def real_footage_camera(root: Path, config: TrackerConfig) -> list[str]:
    """Scene cuts and camera motion on real footage.

    Within each clip every frame change is a continuation (a detected cut is a false
    positive); every junction between the end of one clip and the start of another is a cut.
    """
    clips = _real_clips(root)
    if not clips:
        return ["(no real footage found)"]
    rows = [("| clip | frames | size | max in-shot distance | false cuts "
             "| median camera shift px | camera-motion ms/frame |"),
            "|---|---:|---|---:|---:|---:|---:|"]
    for name, frames in clips.items():
        est = CameraMotionEstimator(config)
        dist, shift, false_cuts, spent = [], [], 0, 0.0
        for img in frames:
            t0 = time.perf_counter()
            m = est.update(img)
            spent += time.perf_counter() - t0
            dist.append(m.cut_distance)
            shift.append(float(np.hypot(*m.affine[:, 2])))
            false_cuts += m.scene_cut
        h, w = frames[0].shape[:2]
        rows.append(f"| {name} | {len(frames)} | {w}x{h} | {max(dist):.3f} | {false_cuts} | "
                    f"{np.median(shift):.2f} | {1e3 * spent / len(frames):.1f} |")
    hits, pairs, lowest = 0, 0, 1.0
    for a, b in itertools.permutations(clips, 2):
        est = CameraMotionEstimator(config)
        est.update(clips[a][-1])
        m = est.update(clips[b][0])
        hits, pairs, lowest = hits + m.scene_cut, pairs + 1, min(lowest, m.cut_distance)
    rows.append("")
    rows.append(f"Cuts between clips (last frame of one, first of another): {hits}/{pairs} "
                f"detected; lowest distance {lowest:.3f} "
                f"(threshold {config.scene_cut_threshold}).")
    return rows


def real_footage_appearance(root: Path, config: TrackerConfig) -> list[str]:
    """Appearance distances on DAVIS (one annotated person per clip): the same person across
    a clip (first frame vs every frame) against different people (clip vs clip)."""
    base = root / "davis2016-people"
    people: dict[str, dict[str, list]] = {}
    for seq in sorted((base / "JPEGImages" / "480p").glob("*")):
        got: dict[str, list] = {"mask": [], "box": []}
        for p in sorted(seq.glob("*.jpg")):
            ann = base / "Annotations" / "480p" / seq.name / f"{p.stem}.png"
            if not ann.exists():
                continue
            img = cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB)
            mask = cv2.imread(str(ann), cv2.IMREAD_GRAYSCALE) > 0
            ys, xs = np.nonzero(mask)
            if len(xs) == 0:
                continue
            box = np.array([[xs.min(), ys.min(), xs.max() - xs.min() + 1,
                             ys.max() - ys.min() + 1]], float)
            kw = {"stripes": config.appearance_stripes,
                  "box_shrink": config.appearance_box_shrink,
                  "min_pixels": config.appearance_min_pixels}
            got["mask"].append(compute_descriptors(img, box, [mask], **kw)[0])
            got["box"].append(compute_descriptors(img, box, **kw)[0])
        if got["mask"]:
            people[seq.name] = got
    if len(people) < 2:
        return ["(DAVIS people sequences not found)"]
    rows = ["| pooling | same person: median / p90 / max | different people: min / median |",
            "|---|---|---|"]
    for kind in ("mask", "box"):
        same = np.concatenate([distance_matrix(d[kind][:1], d[kind])[0]
                               for d in people.values()])
        diff = np.concatenate([distance_matrix(people[a][kind], people[b][kind]).ravel()
                               for a, b in itertools.combinations(people, 2)])
        same, diff = same[~np.isnan(same)], diff[~np.isnan(diff)]
        rows.append(f"| {kind} | {np.median(same):.3f} / {np.percentile(same, 90):.3f} / "
                    f"{same.max():.3f} | {diff.min():.3f} / {np.median(diff):.3f} |")
    rows.append("")
    rows.append(f"(re-identification threshold {config.reid_distance_threshold}, appearance "
                f"gate for lost tracks {config.appearance_gate}; clips: {', '.join(people)})")
    return rows


def parse_overrides(items: list[str]) -> dict[str, object]:
    types = {f.name: f.type for f in dataclasses.fields(TrackerConfig)}
    out: dict[str, object] = {}
    for item in items:
        key, _, raw = item.partition("=")
        if key not in types:
            raise SystemExit(f"unknown TrackerConfig field {key!r}")
        t = str(types[key])
        out[key] = (raw.lower() in ("1", "true", "yes")) if t == "bool" else \
            int(raw) if t == "int" else float(raw)
    return out


def report(config: TrackerConfig, synthetic_frames: int) -> str:
    """The whole benchmark as markdown."""
    root = shared_data()
    parts = [f"Machine: {machine_line()}.", ""]
    overrides = {f.name: getattr(config, f.name) for f in dataclasses.fields(config)
                 if getattr(config, f.name) != f.default}
    parts += [f"Tracker settings: {'defaults' if not overrides else overrides}.", ""]
    if (root / "mot15-sort-detections").is_dir():
        parts += [check_scoring(root), "",
                  ("MOT15 (train) with SORT's Faster R-CNN detections, box-only, scored with "
                   "py-motmetrics (IoU >= 0.5); SORT columns: published (SORT README, "
                   "MOTChallenge devkit); n/p = not published."), ""]
        parts += accuracy_table(root, config) + [""]
        parts += [("Throughput on MOT15 detections (box-only; tracker time only, file "
                   "parsing excluded):"), ""] + throughput_mot(root, config) + [""]
        parts += ["Scene cuts and camera motion on real footage (images only, no detections):",
                  ""] + real_footage_camera(root, config) + [""]
        parts += ["Appearance descriptor distances on real footage (DAVIS masks):", ""]
        parts += real_footage_appearance(root, config) + [""]
    else:
        parts += [f"No MOT15 data under {root} (set HUMANFX_SHARED_DATA): accuracy skipped.", ""]
    n = synthetic_frames
    box_fps = throughput_synthetic(config, images=False, n_frames=n)
    img_fps = throughput_synthetic(config, images=True, n_frames=max(n // 5, 20))
    parts += ["Synthetic throughput, 10 people per frame:", "",
              "| input | tracker frames/s |", "|---|---:|",
              f"| boxes only | {box_fps:.0f} |",
              (f"| boxes + 640x480 RGB (appearance + camera motion + scene cuts) | "
               f"{img_fps:.0f} |")]
    return "\n".join(parts) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                    help="override a TrackerConfig field (repeatable)")
    ap.add_argument("--synthetic-frames", type=int, default=1000)
    ap.add_argument("--write-docs", action="store_true",
                    help="also rewrite the tracker section of docs/benchmarks.md")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    config = TrackerConfig(**parse_overrides(args.set))
    text = report(config, args.synthetic_frames)
    sys.stdout.write(text)
    if args.write_docs:
        update_section("tracker-mot", "## Person tracker (MOT15)\n\n"
                       "`python -m benchmarks.bench_tracker_mot`\n\n" + text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
