"""Per-person mattes and an ID matte, for use as track mattes in an NLE or compositor.

Layout of an export into ``OUT`` (a folder, created if missing)::

    OUT/person-<id>.mov                      ProRes 4444 (--codec prores4444, the default)
    OUT/person-<id>.mkv                      FFV1 (--codec ffv1)
    OUT/person-<id>/person-<id>.000000.png   PNG sequence (--codec png), numbered from
                                             ``start_number``
    OUT/id-matte.mov | .mkv | id-matte/      the ID matte (``id_matte=True``), same codec
    OUT/id-matte.json                        its legend: {"<value>": {"track_id", "name"}}

Pixel values (``m`` = the matte, 0 background .. 255 person):

* ProRes 4444: R = G = B = ``m`` and A = ``m`` (straight, not premultiplied), so an NLE can use
  the file as a luma matte or an alpha matte.  Y'CbCr is BT.709, tagged BT.709
  (primaries/transfer/matrix) at the standard video range that ProRes mandates: decoders
  expand it back to full-range 0..255 RGB (within 1 code value); the alpha channel is
  full range.
* FFV1: RGB (R = G = B = ``m``), lossless, full range; FFV1 takes no alpha in humanfx.
* PNG 8-bit: RGB grey, lossless.  PNG 16-bit: single-channel 16-bit grey, ``m * 257`` (a hard
  matte is exactly 0 / 65535), written with OpenCV.

Every output has one frame per frame of the chosen range, with the source's frame rate and time
base and its exact frame times (shifted so the first exported frame is at 0, as in
:func:`editor_plugin.render.render`); a person absent from a frame gets an all-0 frame.

ID matte: one channel; each selected person gets a distinct value spread evenly over the range
(``round(k * max / n)`` for the k-th of ``n`` persons in track-id order, ``max`` 255 or 65535),
so the values stay apart after lossy coding; 0 is background.  Where masks overlap, the nearer
person wins: people are painted far to near, nearer meaning lower feet in the frame (larger
``bbox`` bottom, the ground-plane rule the synthetic scenes also use; ties by track id).  The ID
matte is always hard (``refine`` applies to the per-person mattes only).

All outputs are staged in a hidden folder inside ``OUT`` and moved into place only when all of
them are complete: a failure, a cancel or Ctrl-C leaves ``OUT`` as it was.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, Self

import cv2
import numpy as np

from editor_plugin.exports import (
    check_replaceable,
    ensure_output_folder,
    publish,
    staging_folder,
)
from editor_plugin.media import Codec, MediaError, VideoReader, VideoWriter
from editor_plugin.pipeline import BackgroundSink, prefetch
from editor_plugin.render import FrameRange
from editor_plugin.session import ClipSession
from effects.matte import REFINE_MODES, build_alpha
from inference.cache import PersonLayer
from inference.errors import CancelledError, InputError

log = logging.getLogger(__name__)

ProgressFn = Callable[[int, int], None]

#: Codecs a matte can be written with, and the file suffix ("" = a PNG-sequence folder).
MATTE_CODECS: dict[Codec, str] = {Codec.PRORES4444: ".mov", Codec.FFV1: ".mkv", Codec.PNG: ""}
ID_MATTE_NAME = "id-matte"
LEGEND_NAME = "id-matte.json"
#: File-name pattern of a sequence frame, relative to its folder (``name`` = the output name).
SEQUENCE_PATTERN = "{name}.%06d.png"
_DEPTH = 3  # frames in flight per pipeline stage


@dataclass(frozen=True)
class MatteSpec:
    """What to export.

    Attributes:
        persons: track ids, or ``None`` for everyone in the layers.
        codec: ``Codec.PRORES4444`` (default), ``Codec.PNG`` or ``Codec.FFV1``.
        bit_depth: 8, or 16 (PNG only).
        start_number: number of the first file of PNG sequences; ``None`` = the index of the
            first exported frame (so file numbers are source frame indices).  Ignored (with a
            warning) by movie files.
        id_matte: also write the ID matte and its legend.
        frames: the frame range.
        refine: ``"none"`` (the masks exactly) or ``"feather"`` (see
            :func:`effects.matte.build_alpha`).
        layers: which layer cache (source name) to read; ``None`` = the newest.
    """

    persons: tuple[int, ...] | None = None
    codec: Codec = Codec.PRORES4444
    bit_depth: int = 8
    start_number: int | None = None
    id_matte: bool = False
    frames: FrameRange = field(default_factory=FrameRange)
    refine: str = "none"
    layers: str | None = None

    def __post_init__(self) -> None:
        try:
            codec = Codec(self.codec)
        except ValueError:
            codec = None
        if codec not in MATTE_CODECS:
            name = codec.value if codec is not None else self.codec
            raise InputError(f"mattes cannot be written as {name}",
                             hint="use prores4444, png or ffv1")
        object.__setattr__(self, "codec", codec)
        if self.bit_depth not in (8, 16):
            raise InputError(f"bit depth {self.bit_depth} is not supported", hint="use 8 or 16")
        if self.bit_depth == 16 and codec is not Codec.PNG:
            raise InputError(f"16-bit mattes are written as PNG sequences, not {codec.value}",
                             hint="use --codec png with --bit-depth 16, or 8-bit")
        if self.start_number is not None and self.start_number < 0:
            raise InputError(f"start number {self.start_number} is negative",
                             hint="use 0 or more, e.g. 1001")
        if self.refine not in REFINE_MODES:
            raise InputError(f"unknown matte refinement {self.refine!r}",
                             hint=f"use one of: {', '.join(REFINE_MODES)}")
        if self.persons is not None and not self.persons:
            raise InputError("no person selected", hint="pass --person ID, ID,ID or all")
        if self.persons is not None and len(set(self.persons)) != len(self.persons):
            raise InputError("a person is selected twice", hint="name each person once")


@dataclass(frozen=True)
class MatteExport:
    """What :func:`export_mattes` wrote: final paths (files, or folders for sequences)."""

    folder: Path
    persons: dict[int, Path]
    id_matte: Path | None
    legend: Path | None
    frames: int


# -- pixels ------------------------------------------------------------------------------------
def person_matte(mask: np.ndarray | None, shape: tuple[int, int], refine: str = "none"
                 ) -> np.ndarray:
    """One person's ``(H, W)`` uint8 matte (0 / 255, soft edges with ``refine="feather"``);
    all 0 when ``mask`` is ``None`` (the person is not in the frame)."""
    return build_alpha([] if mask is None else [mask], refine=refine, shape=shape)


def at_bit_depth(matte: np.ndarray, bit_depth: int) -> np.ndarray:
    """An 8-bit matte as uint8 (8) or uint16 ``* 257`` (16: 255 -> 65535 exactly)."""
    return matte if bit_depth == 8 else matte.astype(np.uint16) * np.uint16(257)


def writer_pixels(matte: np.ndarray, codec: Codec) -> np.ndarray:
    """What the writer takes for an ``(H, W)`` uint8 matte: ``(H, W, 4)`` RGBA with R = G = B =
    A = matte for ProRes 4444, ``(H, W, 3)`` grey RGB for FFV1 and 8-bit PNG."""
    channels = 4 if codec is Codec.PRORES4444 else 3
    return cv2.merge([matte] * channels)


def depth_order(layers: Sequence[PersonLayer]) -> list[PersonLayer]:
    """``layers`` from far to near: by ``bbox`` bottom (``y + h``, larger = nearer the camera
    under the ground-plane assumption), then by track id."""
    return sorted(layers, key=lambda p: (p.bbox[1] + p.bbox[3], p.track_id))


def id_values(track_ids: Sequence[int], max_value: int) -> dict[int, int]:
    """Distinct ID-matte values ``round(k * max_value / n)``, k = 1..n in track-id order."""
    ids = sorted(track_ids)
    n = len(ids)
    if n > max_value:
        raise InputError(f"an ID matte holds at most {max_value} persons, {n} were selected",
                         hint="use --codec png --bit-depth 16, or select fewer persons")
    return {tid: round(Fraction(k * max_value, n)) for k, tid in enumerate(ids, 1)}


def paint_id_matte(layers: Sequence[PersonLayer], values: dict[int, int],
                   shape: tuple[int, int], dtype: type = np.uint8) -> np.ndarray:
    """The ``(H, W)`` ID matte of one frame: ``values[track_id]`` where that person's mask is,
    nearer persons over farther ones (:func:`depth_order`), 0 elsewhere.  Layers of persons
    not in ``values``, or without a decoded mask, are left out."""
    out = np.zeros(shape, dtype)
    for p in depth_order([p for p in layers if p.track_id in values and p.mask is not None]):
        out[p.mask.astype(bool, copy=False)] = values[p.track_id]
    return out


# -- outputs -----------------------------------------------------------------------------------
class _Png16Sequence:
    """16-bit single-channel PNG files written with OpenCV into ``folder`` (a staged folder,
    so the sequence appears atomically when the stage is published)."""

    def __init__(self, folder: Path, pattern: str, start_number: int):
        self.folder, self.pattern, self.start = folder, pattern, int(start_number)
        self.count = 0
        folder.mkdir()

    def write(self, item: tuple[np.ndarray, Fraction]) -> None:
        image = item[0]
        path = self.folder / (self.pattern % (self.start + self.count))
        try:
            ok = cv2.imwrite(str(path), image)
        except cv2.error as exc:
            raise MediaError(f"could not write {path.name} ({exc.err})", path=self.folder) \
                from None
        if not ok:
            raise MediaError(f"could not write {path.name}", path=self.folder,
                             hint="check the free disk space")
        self.count += 1

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        pass  # the staging folder is removed on failure


class _Output:
    """One matte output: where it is staged, where it goes, and how a frame is written."""

    def __init__(self, name: str, spec: MatteSpec, stage: Path, out: Path, *, width: int,
                 height: int, fps: Fraction, time_base: Fraction, start_number: int):
        self.name = name
        suffix = MATTE_CODECS[spec.codec]
        self.dest = out / f"{name}{suffix}"
        self.staged = stage / f"{name}{suffix}"
        pattern = SEQUENCE_PATTERN.format(name=name)
        self.writer: VideoWriter | _Png16Sequence
        if spec.bit_depth == 16:
            self.writer = _Png16Sequence(self.staged, pattern, start_number)
            self._write = self.writer.write
        else:
            target = self.staged / pattern if spec.codec is Codec.PNG else self.staged
            self.writer = VideoWriter(target, codec=spec.codec, width=width, height=height,
                                      fps=fps, time_base=time_base, start_number=start_number)
            writer = self.writer
            self._write = lambda item: writer.write(item[0], time=item[1])

    def consume(self, item: tuple[np.ndarray, Fraction]) -> None:
        self._write(item)


def _sequence_regex(name: str) -> re.Pattern[str]:
    return re.compile(re.escape(name) + r"\.\d+\.png\Z")


def _select(spec: MatteSpec, known: list[int]) -> list[int]:
    return sorted(known) if spec.persons is None else list(spec.persons)


def export_mattes(session: ClipSession, spec: MatteSpec, out: str | Path, *,
                  progress: ProgressFn | None = None,
                  cancel: threading.Event | None = None) -> MatteExport:
    """Write the mattes of ``spec`` into the folder ``out`` (see the module docstring).

    ``progress(done, total)`` is called after each frame; ``cancel.set()`` stops the export
    (raising :class:`CancelledError`).  Nothing appears in ``out`` unless every output is
    complete.  Raises InputError for unknown persons, a bad range or an unusable ``out``.
    """
    out = Path(out)
    info = session.info
    if spec.persons is not None:
        session.check_persons(list(spec.persons), spec.layers)
    start, stop = spec.frames.resolve(info.frame_count)
    first_number = start if spec.start_number is None else spec.start_number
    if spec.start_number is not None and spec.codec is not Codec.PNG:
        log.warning("%s: --start-number applies to PNG sequences only; %s files start at the "
                    "clip's time", out, spec.codec.value)
    with VideoReader(session.path) as reader:
        times = reader.timestamps
    ensure_output_folder(out)
    shape = (info.height, info.width)
    id_dtype = np.uint16 if spec.bit_depth == 16 else np.uint8

    with session.layers(spec.layers) as cache:
        summaries = {t.id: t for t in cache.tracks()}
        persons = _select(spec, list(summaries))
        if not persons:
            raise InputError("nobody was found in this clip, so there is no matte to export",
                             path=session.path)
        names = [f"person-{tid}" for tid in persons] + ([ID_MATTE_NAME] if spec.id_matte else [])
        sequence = spec.codec is Codec.PNG
        for name in names:
            check_replaceable(out / f"{name}{MATTE_CODECS[spec.codec]}", is_dir=sequence,
                              own=_sequence_regex(name))
        if spec.id_matte:
            check_replaceable(out / LEGEND_NAME, is_dir=False)
            values = id_values(persons, 65535 if spec.bit_depth == 16 else 255)
        selected = set(persons)

        with staging_folder(out, "humanfx-mattes") as stage:
            outputs: dict[str, _Output] = {}
            with ExitStack() as stack:
                sinks: dict[str, BackgroundSink] = {}
                for name in names:
                    o = _Output(name, spec, stage, out, width=info.width, height=info.height,
                                fps=info.fps, time_base=info.time_base,
                                start_number=first_number)
                    stack.enter_context(o.writer)
                    outputs[name] = o
                for name, o in outputs.items():  # entered after the writers: drained first
                    sinks[name] = stack.enter_context(
                        BackgroundSink(o.consume, depth=_DEPTH, name=f"encode-{name}"))
                frames = prefetch(((i, cache.frame(i)) for i in range(start, stop)),
                                  depth=_DEPTH, name="layers")
                stack.callback(frames.close)
                t0 = times[start]
                for done, (index, layers) in enumerate(frames, 1):
                    if cancel is not None and cancel.is_set():
                        raise CancelledError("matte export cancelled; nothing was written",
                                             path=out)
                    t = times[index] - t0
                    masks = {p.track_id: p.mask for p in layers if p.track_id in selected}
                    for tid in persons:
                        m = at_bit_depth(person_matte(masks.get(tid), shape, spec.refine),
                                         spec.bit_depth)
                        sinks[f"person-{tid}"].put(
                            (m if spec.bit_depth == 16 else writer_pixels(m, spec.codec), t))
                    if spec.id_matte:
                        m = paint_id_matte(layers, values, shape, id_dtype)
                        sinks[ID_MATTE_NAME].put(
                            (m if spec.bit_depth == 16 else writer_pixels(m, spec.codec), t))
                    if progress is not None:
                        progress(done, stop - start)
            moves = [(o.staged, o.dest) for o in outputs.values()]
            legend_path = None
            if spec.id_matte:
                legend = {str(values[tid]): {"track_id": tid, "name": summaries[tid].name}
                          for tid in persons}
                staged_legend = stage / LEGEND_NAME
                staged_legend.write_text(json.dumps(legend, indent=2) + "\n", encoding="utf-8")
                legend_path = out / LEGEND_NAME
                moves.append((staged_legend, legend_path))
            publish(moves)
    log.info("wrote %d matte(s) of %d frames into %s", len(outputs), stop - start, out)
    return MatteExport(
        folder=out,
        persons={tid: outputs[f"person-{tid}"].dest for tid in persons},
        id_matte=outputs[ID_MATTE_NAME].dest if spec.id_matte else None,
        legend=legend_path,
        frames=stop - start,
    )


def legend_of(path: str | Path) -> dict[int, dict[str, Any]]:
    """Read an ID-matte legend: ``{value: {"track_id", "name"}}`` with int keys."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    return {int(k): v for k, v in data.items()}
