"""Synthetic clips with exact ground truth: procedural articulated people (17 COCO joints) that
walk, gesture, leave, come back and cross in front of each other on a moving textured background,
with footstep audio.

Produces NumPy frames, per-person ground truth (mask, box, keypoints, depth, stable track ids) and
PCM audio; writing video files is :mod:`editor_plugin`'s job.  Deterministic per seed.

    >>> scene = SyntheticScene(SynthConfig(people=2, frames=12, width=160, height=120, seed=1))
    >>> frame, persons = scene.render(0)
    >>> frame.shape, frame.dtype
    ((120, 160, 3), dtype('uint8'))
"""

from inference.synth.scene import SynthConfig, SyntheticScene, SynthPerson

__all__ = ["SynthConfig", "SynthPerson", "SyntheticScene"]
