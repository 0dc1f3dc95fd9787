"""Write a synthetic clip (video + audio) and its ground-truth tracks file."""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

from editor_plugin.media import AudioSpec, Codec, VideoWriter
from inference.errors import InputError
from inference.synth import SynthConfig, SyntheticScene
from inference.tracks.io import save_tracks

_CODECS = {"h264": (Codec.H264, ".mp4"), "ffv1": (Codec.FFV1, ".mkv")}


def write_synthetic_clip(out_dir: str | Path, config: SynthConfig, *, codec: str = "h264",
                         name: str = "clip",
                         progress: Callable[[int, int], None] | None = None
                         ) -> tuple[Path, Path]:
    """Render ``config`` into ``out_dir/<name>.mp4|.mkv`` and ``out_dir/<name>.tracks.json``.

    Returns ``(clip_path, tracks_path)``.  Both are written atomically.
    """
    if codec not in _CODECS:
        raise InputError(f"synthetic clips are written as {' or '.join(_CODECS)}, not {codec!r}")
    vcodec, suffix = _CODECS[codec]
    if vcodec is Codec.H264 and (config.width % 2 or config.height % 2):
        raise InputError(f"H.264 needs an even frame size, got {config.width}x{config.height}",
                         hint="use an even --size or --codec ffv1")
    if config.frames < 1:
        raise InputError("a synthetic clip needs at least one frame", hint="use --frames 1 or more")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    clip = out_dir / f"{name}{suffix}"
    tracks = out_dir / f"{name}.tracks.json"

    scene = SyntheticScene(config)
    audio = AudioSpec(samples=scene.audio(), sample_rate=config.audio_rate)
    with VideoWriter(clip, codec=vcodec, width=config.width, height=config.height,
                     fps=config.fps, time_base=1 / Fraction(config.fps), audio=audio) as writer:
        for i, image, _persons in scene:
            writer.write(image, time=Fraction(i) / config.fps)
            if progress is not None:
                progress(i + 1, config.frames)
    save_tracks(scene.trackset(clip.name), tracks, format="cocovideo")
    return clip, tracks
