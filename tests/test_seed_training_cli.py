"""``python -m inference.train``: both networks train from the command line, resume, and export
weights files that load (half precision included)."""

from __future__ import annotations

import pytest
import torch

from inference.errors import InputError
from inference.models.pose_tracker import PoseNetConfig, PoseTrackerNet
from inference.models.pose_tracker.checkpoint import (
    export_weights as export_pose,
)
from inference.models.pose_tracker.checkpoint import (
    load_pose_tracker,
    read_checkpoint,
)
from inference.models.pose_tracker.checkpoint import (
    save_checkpoint as save_pose,
)
from inference.models.segmenter import LocalSegmenterNet, SegmenterConfig, load_network
from inference.models.segmenter.checkpoint import export_weights as export_segmenter
from inference.models.segmenter.checkpoint import load_checkpoint
from inference.models.segmenter.checkpoint import save_checkpoint as save_segmenter
from inference.train.__main__ import main


def test_segmenter_export_keeps_predictions_and_drops_training_state(tmp_path):
    torch.manual_seed(0)
    config = SegmenterConfig(crop_size=64)
    net = LocalSegmenterNet(config).eval()
    opt = torch.optim.AdamW(net.parameters())
    save_segmenter(tmp_path / "last.pt", {"config": config.to_dict(), "model": net.state_dict(),
                                          "optimizer": opt.state_dict(), "step": 7})
    full = export_segmenter(tmp_path / "last.pt", tmp_path / "full.pt")
    half = export_segmenter(tmp_path / "last.pt", tmp_path / "half.pt", half=True)
    data = load_checkpoint(half)
    assert "optimizer" not in data and data["exported"] == {"step": 7, "half": True, "int8": False}
    assert data["model"]["conv1.weight"].dtype == torch.float16
    assert half.stat().st_size < 0.6 * full.stat().st_size
    x = torch.rand(2, 4, 64, 64)
    with torch.inference_mode():
        ref = net(x)
        got_full = load_network(full)[0](x)
        got_half = load_network(half)[0](x)
    assert torch.equal(ref, got_full)
    assert next(load_network(half)[0].parameters()).dtype == torch.float32
    # Half-precision weights: the logits move by a small fraction of their spread.
    assert float((got_half - ref).abs().max()) < 0.02 * float(ref.std()) + 1e-3


def test_pose_tracker_export_half_loads_as_float32(tmp_path):
    torch.manual_seed(0)
    net = PoseTrackerNet(PoseNetConfig()).eval()
    save_pose(tmp_path / "t.pt", {"net": PoseNetConfig().to_dict(), "input_size": [64, 64],
                                  "step": 3, "seed": 0, "model": net.state_dict(),
                                  "optimizer": torch.optim.AdamW(net.parameters()).state_dict()})
    out = export_pose(tmp_path / "t.pt", tmp_path / "w.pt", half=True)
    data = read_checkpoint(out)
    assert "optimizer" not in data and data["step"] == 3
    model, info = load_pose_tracker(out)
    assert info.input_size == (64, 64)
    assert next(model.parameters()).dtype == torch.float32


def test_int8_export_bounds_the_error_and_loads_as_float32(tmp_path):
    from inference.models.compact import MIN_INT8_ELEMENTS, compact_state, expand_state

    torch.manual_seed(0)
    net = PoseTrackerNet(PoseNetConfig()).eval()
    state = net.state_dict()
    stored, scales = compact_state(state, int8=True)
    back = expand_state(stored, scales)
    for name, t in state.items():
        if name in scales:
            assert stored[name].dtype == torch.int8 and t.numel() >= MIN_INT8_ELEMENTS
            step = scales[name].view(-1, *([1] * (t.dim() - 1)))
            assert bool(((back[name] - t).abs() <= step / 2 + 1e-7).all()), name
        elif t.is_floating_point():
            assert stored[name].dtype == torch.float16
    assert set(scales) == {k for k, t in state.items() if t.numel() >= MIN_INT8_ELEMENTS} != set()
    save_pose(tmp_path / "t.pt", {"net": PoseNetConfig().to_dict(), "input_size": [64, 64],
                                  "step": 3, "seed": 0, "model": state})
    half = export_pose(tmp_path / "t.pt", tmp_path / "h.pt", half=True)
    small = export_pose(tmp_path / "t.pt", tmp_path / "q.pt", int8=True)
    assert small.stat().st_size < 0.75 * half.stat().st_size
    model, _ = load_pose_tracker(small)
    x = torch.rand(1, 3, 64, 64)
    with torch.inference_mode():
        ref, got = net(x, x, x[:, :1]), model(x, x, x[:, :1])
    for k in ref:
        assert float((got[k] - ref[k]).abs().max()) < 0.1 * float(ref[k].std()) + 1e-3, k
    # damaged scales name the file
    data = torch.load(small, weights_only=True)
    data["int8_scales"][next(iter(scales))] = torch.ones(1)
    torch.save(data, tmp_path / "bad.pt")
    with pytest.raises(InputError, match="bad.pt|8-bit"):
        load_pose_tracker(tmp_path / "bad.pt")


def test_train_cli_segmenter_trains_resumes_and_exports(tmp_path):
    args = ["segmenter", "--out", str(tmp_path / "run"), "--crop-size", "64", "--scenes", "2",
            "--frames", "3", "--people", "1", "2", "--batch-size", "2", "--val-every", "2",
            "--val-crops", "2", "--threads", "1"]
    assert main([*args, "--steps", "2"]) == 0
    assert load_checkpoint(tmp_path / "run" / "last.pt")["step"] == 2
    assert main([*args, "--steps", "3", "--export", str(tmp_path / "seg.pt"), "--half"]) == 0
    data = load_checkpoint(tmp_path / "seg.pt")
    assert data["exported"] == {"step": 3, "half": True, "int8": False}
    assert SegmenterConfig.from_dict(data["config"]).crop_size == 64


def test_train_cli_tracker_trains_and_exports(tmp_path):
    args = ["tracker", "--out", str(tmp_path / "run"), "--input-size", "64x64", "--scenes",
            "2", "--frames", "3", "--batch-size", "1", "--steps", "1", "--threads", "1",
            "--export", str(tmp_path / "pose.pt")]
    assert main(args) == 0
    _, info = load_pose_tracker(tmp_path / "pose.pt")
    assert info.input_size == (64, 64) and info.step == 1


def test_train_cli_reports_bad_input_without_traceback(tmp_path, capsys):
    bad = tmp_path / "run"
    bad.mkdir()
    (bad / "last.pt").write_bytes(b"not a checkpoint")
    rc = main(["segmenter", "--out", str(bad), "--crop-size", "64", "--steps", "1",
               "--scenes", "1", "--frames", "2"])
    assert rc == 1
    err = capsys.readouterr().err
    assert "last.pt" in err and "Traceback" not in err
