"""PNG image-sequence output: one file per frame in a folder written atomically as a whole.

Frames go into a temporary folder beside the destination, which is renamed to the destination
on success.  Audio, if any, is written as a 16-bit PCM ``audio.wav`` sidecar in the folder.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import shutil
from collections import deque
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from editor_plugin.media.audio import AudioSpec, AudioTrack
from editor_plugin.media.errors import AV_ERRORS, MediaError, reason

log = logging.getLogger(__name__)

DEFAULT_PATTERN = "frame_%06d.png"
AUDIO_SIDECAR = "audio.wav"


def split_sequence_path(path: Path) -> tuple[Path, str]:
    """``(folder, file-name pattern)`` for a PNG sequence destination.

    ``path`` is either a folder (frames are named ``frame_%06d.png``) or a pattern such as
    ``out/frame_%06d.png`` with one ``%d``-style field.
    """
    if "%" in path.name:
        pattern = path.name
        if len(re.findall(r"%0?\d*d", pattern)) != 1 or pattern.count("%") != 1 \
                or not pattern.lower().endswith(".png"):
            raise MediaError("is not a valid PNG sequence pattern", path=path,
                             hint="use a pattern like out/frame_%06d.png or a folder")
        return path.parent, pattern
    if path.suffix and not path.is_dir():
        raise MediaError("a PNG sequence is written to a folder, not a single file", path=path,
                         hint="use a folder or a pattern like out/frame_%06d.png")
    return path, DEFAULT_PATTERN


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    head, tail = re.split(r"%0?\d*d", pattern, maxsplit=1)
    return re.compile(re.escape(head) + r"\d+" + re.escape(tail) + r"\Z")


class PngSequenceOutput:
    """Backend of :class:`~editor_plugin.media.writer.VideoWriter` for ``Codec.PNG``."""

    def __init__(self, path: Path, *, width: int, height: int, audio: AudioSpec | None,
                 start_number: int, threads: int):
        self.folder, self.pattern = split_sequence_path(path)
        self._check_destination()
        self._width, self._height = width, height
        self._start_number = int(start_number)
        self._threads = int(threads)
        self.temp = self.folder.parent / f".{self.folder.name}.{secrets.token_hex(4)}.tmp"
        try:
            self.temp.mkdir()
        except OSError as exc:
            raise MediaError(f"cannot write the image sequence here ({reason(exc)})",
                             path=self.folder, hint="choose a folder you can write to") from None
        self._contexts: dict[str, av.CodecContext] = {}
        self._names: dict[str, deque[str]] = {}
        self._wav: av.container.OutputContainer | None = None
        self.audio: AudioTrack | None = None
        if audio is not None:
            try:
                self._open_audio(audio)
            except BaseException:
                self.abort()
                raise

    def _check_destination(self) -> None:
        parent = self.folder.parent
        if not parent.is_dir():
            raise MediaError("the output folder's parent does not exist or is not a folder",
                             path=self.folder, hint="create it first or choose another folder")
        if not os.access(parent, os.W_OK | os.X_OK):
            raise MediaError("cannot write here (permission denied)", path=self.folder,
                             hint="choose a folder you can write to")
        if self.folder.exists():
            if not self.folder.is_dir():
                raise MediaError("exists and is not a folder", path=self.folder,
                                 hint="choose a folder for the image sequence")
            ours = _pattern_regex(self.pattern)
            foreign = [p.name for p in self.folder.iterdir()
                       if not (ours.match(p.name) or p.name == AUDIO_SIDECAR)]
            if foreign:
                raise MediaError(
                    f"already holds other files (e.g. {foreign[0]}); it would be replaced",
                    path=self.folder, hint="choose an empty or new folder")

    def _open_audio(self, spec: AudioSpec) -> None:
        wav_path = self.temp / AUDIO_SIDECAR
        try:
            self._wav = av.open(str(wav_path), "w", format="wav")
        except AV_ERRORS as exc:
            raise MediaError(f"cannot write the audio sidecar ({reason(exc)})",
                             path=self.folder) from None
        self.audio = AudioTrack(spec, self._wav, "wav", self.folder / AUDIO_SIDECAR)
        try:
            self._wav.start_encoding()
        except AV_ERRORS as exc:
            raise MediaError(f"cannot write the audio sidecar ({reason(exc)})",
                             path=self.folder) from None
        self.audio.start()

    def _context(self, fmt: str) -> av.CodecContext:
        cc = self._contexts.get(fmt)
        if cc is None:
            cc = av.CodecContext.create("png", "w")
            cc.width, cc.height, cc.pix_fmt = self._width, self._height, fmt
            cc.time_base = Fraction(1, 25)
            cc.thread_type = "AUTO"
            cc.thread_count = self._threads
            self._contexts[fmt] = cc
            self._names[fmt] = deque()
        return cc

    def write(self, image: np.ndarray, index: int, pts: int, time: Fraction) -> None:
        """Encode ``image`` ((H, W, 3) RGB or (H, W, 4) RGBA uint8) as frame ``index``."""
        fmt = "rgba" if image.shape[2] == 4 else "rgb24"
        cc = self._context(fmt)
        self._names[fmt].append(self.pattern % (self._start_number + index))
        try:
            frame = av.VideoFrame.from_ndarray(image, format=fmt)
            frame.pts = index
            self._save(fmt, cc.encode(frame))
        except AV_ERRORS as exc:
            raise MediaError(f"could not write frame {index} ({reason(exc)})",
                             path=self.folder) from None
        if self.audio is not None:
            self.audio.pump(time)

    def _save(self, fmt: str, packets: list[av.Packet]) -> None:
        for packet in packets:
            (self.temp / self._names[fmt].popleft()).write_bytes(bytes(packet))

    def finish(self) -> Path:
        """Flush, write the audio sidecar and move the folder into place; returns it."""
        try:
            for fmt, cc in self._contexts.items():
                self._save(fmt, cc.encode(None))
            if self.audio is not None:
                self.audio.finish()
                self._wav.close()
                self._wav = None
        except AV_ERRORS as exc:
            raise MediaError(f"could not finish the image sequence ({reason(exc)})",
                             path=self.folder) from None
        if self.folder.exists():  # replace a previous export of the same sequence
            trash = self.folder.parent / f".{self.folder.name}.{secrets.token_hex(4)}.old"
            os.rename(self.folder, trash)
            os.rename(self.temp, self.folder)
            shutil.rmtree(trash, ignore_errors=True)
        else:
            os.rename(self.temp, self.folder)
        return self.folder

    def abort(self) -> None:
        """Drop everything written so far."""
        if self.audio is not None:
            self.audio.close()
        if self._wav is not None:
            try:
                self._wav.close()
            except AV_ERRORS:
                pass
            self._wav = None
        shutil.rmtree(self.temp, ignore_errors=True)
