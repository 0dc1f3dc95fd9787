"""examples/resolve_background_swap.py: its humanfx side against a real ``humanfx serve --stdio``.

The Resolve glue needs DaVinci Resolve; ``swap_background`` does not.  It runs here on a
synthetic clip with its ground-truth tracks imported (no model weights in tests), and its
ProRes 4444 outputs are checked with PyAV against the server's own ``render_frame`` and the
cached masks.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import av
import cv2
import numpy as np
import pytest

from editor_plugin.client import HumanfxClient, ServerError
from editor_plugin.session import ClipSession
from editor_plugin.synth_io import write_synthetic_clip
from inference.synth import SynthConfig

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "resolve_background_swap.py"
TIMEOUT = 60.0


@pytest.fixture(scope="module")
def example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("resolve_background_swap", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def clip(tmp_path):
    # Seed 1: person 1 is in 11 of the 12 frames, person 2 in all 12.
    return write_synthetic_clip(tmp_path / "media",
                                SynthConfig(people=2, frames=12, width=96, height=64, seed=1))


def decode(path: Path, fmt: str) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        assert c.streams.video[0].codec_context.name == "prores"
        return [f.to_ndarray(format=fmt) for f in c.decode(video=0)]


def server_frame(c: HumanfxClient, clip_path: Path, index: int, person: int, out: Path
                 ) -> np.ndarray:
    """Frame ``index`` with ``person`` in front of blur:25, from the server's render_frame."""
    cid = c.call("open_clip", path=str(clip_path))["clip_id"]
    c.call("set_effects", clip_id=cid, background="blur:25", selected=[person])
    c.call("render_frame", clip_id=cid, frame_index=index, path=str(out))
    c.call("close_clip", clip_id=cid)
    return cv2.cvtColor(cv2.imread(str(out), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def close_to(got: np.ndarray, want: np.ndarray) -> bool:
    """Equal but for ProRes coding (measured: mean 0.04, max 1 code value)."""
    diff = np.abs(got.astype(int) - want.astype(int))
    return bool(diff.mean() < 0.5 and diff.max() <= 3)


def test_swap_background_exports_composite_and_mattes(example, clip, tmp_path):
    clip_path, tracks_path = clip
    with HumanfxClient.spawn_stdio(roots=[tmp_path], env=dict(os.environ), cwd=REPO) as c:
        outputs = example.swap_background(c, clip_path, tmp_path / "out", analyze=False,
                                          tracks=tracks_path)
        assert sorted(outputs) == ["composite", "matte-1", "matte-2"]
        assert outputs["composite"] == tmp_path / "out" / "clip-humanfx.mov"
        assert outputs["matte-2"] == tmp_path / "out" / "clip-mattes" / "person-2.mov"
        assert all(p.is_file() for p in outputs.values())

        # The composite: person 2 (in most frames) in front of the blur, frame for frame.
        composite = decode(outputs["composite"], "rgb24")
        assert len(composite) == 12 and composite[5].shape == (64, 96, 3)
        for index in (0, 5, 11):
            want = server_frame(c, clip_path, index, 2, tmp_path / f"f{index}.png")
            assert close_to(composite[index], want), f"frame {index}"
        other = server_frame(c, clip_path, 5, 1, tmp_path / "other.png")
        assert not close_to(composite[5], other)  # person 1 was not the one chosen

        # Each person's matte: alpha = their cached mask, every frame.
        with ClipSession(clip_path).layers() as cache:
            masks = [{p.track_id: p.mask for p in cache.frame(i)} for i in range(12)]
        for tid in (1, 2):
            mattes = decode(outputs[f"matte-{tid}"], "rgba")
            assert len(mattes) == 12
            for i, rgba in enumerate(mattes):
                want = masks[i].get(tid, np.zeros((64, 96), bool)).astype(int) * 255
                assert np.abs(rgba[..., 3].astype(int) - want).max() <= 1, (tid, i)
            assert not mattes[0][..., 3].all() and mattes[0][..., 3].any()

        # A sub-range (a trimmed timeline item), from the layers already cached, person 1.
        part = example.swap_background(c, clip_path, tmp_path / "part", analyze=False,
                                       person=1, background="blur:25", frames=(2, 10))
        composite = decode(part["composite"], "rgb24")
        assert len(composite) == 8 and len(decode(part["matte-2"], "rgba")) == 8
        assert close_to(composite[0], server_frame(c, clip_path, 2, 1, tmp_path / "p.png"))

        # The server's error comes through, and the clip is closed again afterwards.
        with pytest.raises(ServerError) as info:
            example.swap_background(c, clip_path, tmp_path / "bad", analyze=False, person=7)
        assert "person 7" in str(info.value)
        assert not (tmp_path / "bad" / "clip-humanfx.mov").exists()


def test_main_outside_resolve_says_where_to_run_it(tmp_path):
    done = subprocess.run([sys.executable, str(EXAMPLE)], check=False, capture_output=True,
                          text=True, cwd=tmp_path, env=dict(os.environ), timeout=TIMEOUT)
    assert done.returncode == 2
    assert "Workspace > Scripts" in done.stderr and "docs/server.md" in done.stderr
