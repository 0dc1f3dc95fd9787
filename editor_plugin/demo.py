"""``humanfx demo``: the whole path offline — synthesize, analyze, render a background swap.

The demo clip is analyzed by the seed's own networks (the Global Pose Tracker and the Local
Segmenter whose ``SYNTH_V1`` weights ship in ``assets/weights/``), exactly as
``humanfx analyze --model seed`` would, so no download and no GPU are needed.  Where those
files are missing (a trimmed install) the clip's ground truth is imported instead and the
reason is logged.  The app (``ui.launcher``) then opens the clip; headless, two renders are
written.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from editor_plugin.analyze import AnalyzeOptions, analyze_clip
from editor_plugin.render import RenderSpec, render
from editor_plugin.session import ClipSession
from editor_plugin.synth_io import write_synthetic_clip
from effects.backgrounds import BlurBackground, SolidColor
from inference.errors import HumanfxError
from inference.synth import SynthConfig

log = logging.getLogger(__name__)

#: The demo clip: 4:3 like the synthetic scenes the shipped weights were trained on.
DEMO_CONFIG = SynthConfig(people=3, frames=72, width=480, height=360, seed=7)


@dataclass(frozen=True)
class DemoResult:
    """What :func:`run_demo` made: the clip, its ground truth, where its person layers came
    from (``"seed"``: analyzed by the seed networks; ``"import"``: ground truth), and the
    renders (empty when ``render_outputs`` was off)."""

    out_dir: Path
    clip: Path
    tracks: Path
    source: str
    renders: tuple[Path, ...]


def seed_weights_available() -> str | None:
    """``None`` when both shipped seed weights are present and intact, else why not."""
    from inference.models.weights import SeedPoseTracker_Weights, SeedSegmenter_Weights, find_file

    for w in (SeedPoseTracker_Weights.DEFAULT, SeedSegmenter_Weights.DEFAULT):
        if find_file(w) is None:
            return f"{w.filename} is not in assets/weights/"
    return None


def run_demo(out_dir: Path, *, progress_factory: Callable[[str], Callable] | None = None,
             render_outputs: bool = True, config: SynthConfig = DEMO_CONFIG) -> DemoResult:
    """Write the synthetic clip + ground truth, analyze it with the seed networks and (unless
    ``render_outputs`` is off) render two background swaps of the first person."""

    def bar(desc: str):
        return progress_factory(desc) if progress_factory else None

    out_dir = Path(out_dir)
    p = bar("synth")
    clip, tracks = write_synthetic_clip(out_dir, config, progress=p)
    _close(p)
    session = ClipSession(clip)
    why_not = seed_weights_available()
    source = "import"
    if why_not is None:
        p = bar("analyze (seed networks)")
        try:
            result = analyze_clip(session, AnalyzeOptions(model="seed", device="cpu",
                                                          keyframe_every=1),
                                  progress=p)
            source = result.source
        except HumanfxError as exc:
            why_not = str(exc)
        finally:
            _close(p)
    if why_not is None and not session.persons(source):
        why_not = "they found nobody in the clip"
        source = "import"
    if why_not is not None:
        log.warning("demo: the seed networks cannot run (%s); importing the ground truth", why_not)
        session.import_tracks(tracks)
    persons = session.persons(source)
    first = persons[0].id if persons else 1
    log.info("demo clip %s: %d persons (%s)", clip, len(persons), source)
    renders: list[Path] = []
    if render_outputs:
        for name, background in (("blur", BlurBackground(radius=21.0)),
                                 ("green", SolidColor((0, 255, 0)))):
            p = bar(f"render {name}")
            out = out_dir / f"demo-{name}.mp4"
            render(session, RenderSpec(persons=(first,), background=background, layers=source),
                   out, progress=p)
            _close(p)
            renders.append(out)
    return DemoResult(out_dir, clip, tracks, source, tuple(renders))


def _close(p) -> None:
    if p is not None and hasattr(p, "close"):
        p.close()
