"""The seed networks' shipped weights (assets/weights): registered with their hash, small, and
as accurate on a freshly generated synthetic clip as measured (docs/seed-networks.md)."""

from __future__ import annotations

from editor_plugin.analyze import AnalyzeOptions
from editor_plugin.evaluation import evaluate_synthetic
from inference.models.weights import (
    ASSETS_DIR,
    SeedPoseTracker_Weights,
    SeedSegmenter_Weights,
    find_file,
    sha256_file,
)
from inference.synth import SynthConfig

SHIPPED = (SeedPoseTracker_Weights.SYNTH_V1, SeedSegmenter_Weights.SYNTH_V1)

#: A clip from a scene seed no training run used (training: 1000-1063; docs: 9000-9005).
FRESH_CLIP = SynthConfig(people=2, frames=24, width=320, height=240, seed=9100)
#: What the shipped weights reach on FRESH_CLIP (measured with this test's exact path on the
#: CPU, 2026-11-21: temporal mask AP 0.2525, AP50 0.505, MOTA 0.8542, IDF1 0.9247, no ID
#: switch), floored to the percent.  Not a number below what they reach: a retrained file or
#: a pipeline change that does worse fails here.  (Temporal boundary AP is 0.0 on this short
#: two-person clip, so it is not asserted; the 6-clip figures are in docs/seed-networks.md.)
MEASURED = {"mask_ap": 0.25, "mask_ap50": 0.50, "mota": 0.85, "idf1": 0.92}


def test_shipped_weights_are_in_assets_with_their_published_hash():
    total = 0
    for w in SHIPPED:
        path = find_file(w)
        assert path is not None and path.parent == ASSETS_DIR, f"{w.filename} is not shipped"
        assert w.sha256 is not None and len(w.sha256) == 64
        assert sha256_file(path) == w.sha256
        total += path.stat().st_size
    assert total < 30 * 10**6  # the aim: both together under 30 MB (they are 24.3 MB)


def test_shipped_weights_reach_their_measured_accuracy_on_a_fresh_clip(tmp_path):
    score = evaluate_synthetic(FRESH_CLIP, tmp_path, AnalyzeOptions(model="seed", device="cpu",
                                                                    keyframe_every=1,
                                                                    show_download=False))
    got = {k: round(score.metrics[k], 4) for k in MEASURED}
    for key, floor in MEASURED.items():
        assert score.metrics[key] >= floor, f"{key}: {got} < measured {MEASURED}"


def test_shipped_weights_build_the_seed_detector_strictly():
    from inference.analysis.detection import SeedDetector

    det = SeedDetector.from_weights(progress=False)
    assert det.identity["pose_weights"] == "SeedPoseTracker_Weights.SYNTH_V1"
    assert det.identity["segmenter_weights"] == "SeedSegmenter_Weights.SYNTH_V1"
    assert det.segmenter.config.use_heatmap and det.segmenter.config.use_mixer
