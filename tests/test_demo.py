"""``humanfx demo``: a synthetic clip analyzed by the seed networks shipped in assets/weights,
rendered headless; with the weights missing it falls back to the clip's ground truth."""

from __future__ import annotations

import av
import numpy as np
import pytest

from editor_plugin.demo import run_demo, seed_weights_available
from editor_plugin.session import ClipSession
from inference.models import weights as weights_mod
from inference.synth import SynthConfig

SMALL = SynthConfig(people=2, frames=16, width=320, height=240, seed=5)


@pytest.mark.skipif(seed_weights_available() is not None,
                    reason="the shipped seed weights are not in this checkout")
def test_demo_analyzes_with_the_shipped_seed_networks_and_renders(tmp_path):
    result = run_demo(tmp_path, config=SMALL)
    assert result.source == "seed"
    persons = ClipSession(result.clip).persons("seed")
    assert persons, "the seed networks found nobody in the demo clip"
    assert [p.name for p in result.renders] == ["demo-blur.mp4", "demo-green.mp4"]
    with av.open(str(result.renders[1])) as c:
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    assert len(frames) == SMALL.frames
    # green screen behind the chosen person: a good share of every frame is pure-ish green
    green = [np.mean((f[..., 1] > 200) & (f[..., 0] < 60) & (f[..., 2] < 60)) for f in frames]
    assert min(green) > 0.5


def test_demo_without_weights_imports_the_ground_truth(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(weights_mod, "ASSETS_DIR", tmp_path / "no-weights")
    assert seed_weights_available() is not None
    result = run_demo(tmp_path / "demo", config=SMALL, render_outputs=False)
    assert result.source == "import" and result.renders == ()
    assert "importing the ground truth" in caplog.text
    assert len(ClipSession(result.clip).persons("import")) == 2
