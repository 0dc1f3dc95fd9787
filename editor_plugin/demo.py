"""``humanfx demo``: the whole path offline — synthesize, layer, render a background swap."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from editor_plugin.render import RenderSpec, render
from editor_plugin.session import ClipSession
from editor_plugin.synth_io import write_synthetic_clip
from effects.backgrounds import BlurBackground, SolidColor
from inference.synth import SynthConfig

log = logging.getLogger(__name__)

DEMO_CONFIG = SynthConfig(people=4, frames=96, width=640, height=360, seed=7)


def run_demo(out_dir: Path, *, progress_factory: Callable[[str], Callable] | None = None) -> Path:
    """Write ``clip.mp4`` + ground truth, import it, and render two background swaps.

    Returns ``out_dir``.
    """

    def bar(desc: str):
        return progress_factory(desc) if progress_factory else None

    p = bar("synth")
    clip, tracks = write_synthetic_clip(out_dir, DEMO_CONFIG, progress=p)
    _close(p)
    session = ClipSession(clip)
    session.import_tracks(tracks)
    persons = session.persons()
    first = persons[0].id if persons else 1
    log.info("demo clip %s: %d persons", clip, len(persons))
    for name, background in (("blur", BlurBackground(radius=21.0)),
                             ("green", SolidColor((0, 255, 0)))):
        p = bar(f"render {name}")
        render(session, RenderSpec(persons=(first,), background=background),
               out_dir / f"demo-{name}.mp4", progress=p)
        _close(p)
    return out_dir


def _close(p) -> None:
    if p is not None and hasattr(p, "close"):
        p.close()
