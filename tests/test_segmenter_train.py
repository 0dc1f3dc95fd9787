"""Local Segmenter training: losses, SAM, data (synthetic and COCO), loop, resume, checkpoints."""

from __future__ import annotations

import json
import math

import cv2
import numpy as np
import pytest
import torch

from inference.errors import InputError
from inference.models.segmenter import (
    LocalSegmenter,
    LocalSegmenterNet,
    SegmenterConfig,
    load_network,
    save_checkpoint,
)
from inference.synth import SynthConfig
from inference.tracks.masks import encode_mask
from inference.train.data import (
    CocoFrames,
    CropSampler,
    JitterSettings,
    SyntheticFrames,
    frame_crops,
)
from inference.train.losses import dice_loss, mask_iou, segmentation_loss
from inference.train.sam import SAM
from inference.train.segmenter import TrainSettings, read_metrics, train_segmenter

# Small but complete network (ResNet-18 encoder, Mixer, decoder) so CPU tests stay fast.
SMALL = SegmenterConfig(crop_size=64, decoder_channels=32, mixer_token_hidden=32,
                        mixer_channel_hidden=64)
SCENE = SynthConfig(people=2, frames=6, width=160, height=120, seed=3)
FAST = TrainSettings(val_crops=4)


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    # Shared test machine: spinning intra-op threads slow small ops down; one thread is also
    # bit-for-bit deterministic, which the resume test relies on.
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


# ---------------------------------------------------------------- losses and SAM

def test_bce_plus_dice_values():
    target = torch.tensor([[[[1.0, 0.0], [1.0, 0.0]]]])
    logits = torch.zeros_like(target)                      # p = 0.5 everywhere
    assert float(dice_loss(logits, target, smooth=0.0)) == pytest.approx(1 - 2 * 1.0 / (2 + 2))
    # BCE = ln 2; Dice with the default smooth 1: 1 - (2 * 1 + 1) / (2 + 2 + 1)
    assert float(segmentation_loss(logits, target)) == pytest.approx(math.log(2) + 0.4,
                                                                     rel=1e-5)
    good = (target * 2 - 1) * 20
    assert float(segmentation_loss(good, target)) < 1e-3
    np.testing.assert_allclose(mask_iou(good, target).numpy(), [1.0])
    np.testing.assert_allclose(mask_iou(-good, target).numpy(), [0.0])


def test_sam_step_matches_hand_computation():
    a = torch.tensor([3.0, 1.0])
    w0 = torch.tensor([1.0, -2.0])

    def grad(w: torch.Tensor) -> torch.Tensor:            # f(w) = 0.5 * sum(a w^2)
        return a * w

    rho, lr = 0.05, 0.1
    g = grad(w0)
    w_adv = w0 + rho * g / g.norm()
    expected = w0 - lr * grad(w_adv)                       # SGD step with the gradient at w + e

    w = torch.nn.Parameter(w0.clone())
    opt = SAM([w], torch.optim.SGD, rho=rho, lr=lr)

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = 0.5 * (a * w ** 2).sum()
        loss.backward()
        return loss

    loss = opt.step(closure)
    assert float(loss.detach()) == pytest.approx(0.5 * (3 * 1 + 4))
    torch.testing.assert_close(w.detach(), expected)
    assert all("e_w" not in s for s in opt.state.values())
    # Manual two-pass use gives the same.
    w2 = torch.nn.Parameter(w0.clone())
    opt2 = SAM([w2], torch.optim.SGD, rho=rho, lr=lr)
    (0.5 * (a * w2 ** 2).sum()).backward()
    opt2.first_step(zero_grad=True)
    torch.testing.assert_close(w2.detach(), w_adv)
    (0.5 * (a * w2 ** 2).sum()).backward()
    opt2.second_step(zero_grad=True)
    torch.testing.assert_close(w2.detach(), expected)
    with pytest.raises(ValueError, match="closure"):
        opt.step()


# ---------------------------------------------------------------- data

def test_synthetic_frames_give_crops_with_heatmap_and_target():
    frames = SyntheticFrames(SCENE)
    assert len(frames) == SCENE.frames
    image, persons = frames[0]
    assert image.shape == (120, 160, 3) and persons and persons[0].keypoints.shape == (17, 3)
    rng = np.random.default_rng(0)
    crops = frame_crops(image, persons, SMALL, rng, JitterSettings(miss_rate=1.0, hflip=0.0))
    assert len(crops) == len([p for p in persons if p.mask.any()])
    for x, y in crops:
        assert x.shape == (4, 64, 64) and y.shape == (1, 64, 64)
        assert x.dtype == np.float32 and y.dtype == np.float32
        assert 0 <= x.min() and x.max() <= 1 and x[3].max() > 0.9   # joints in the heatmap
        assert y.max() > 0.5                                        # the person is in the crop
    xb, yb = CropSampler(frames, range(6), SMALL, JitterSettings()).sample(rng, 3)
    assert xb.shape == (3, 4, 64, 64) and yb.shape == (3, 1, 64, 64)


def _write_coco(tmp_path, with_keypoints: bool = True):
    images = tmp_path / "images"
    images.mkdir()
    rng = np.random.default_rng(0)
    doc = {"images": [], "annotations": [],
           "categories": [{"id": 1, "name": "person", "keypoints": [], "skeleton": []}]}
    for i in range(2):
        h, w = 80, 100
        img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        cv2.imwrite(str(images / f"{i:012d}.png"), img)
        doc["images"].append({"id": i + 1, "file_name": f"{i:012d}.png", "height": h, "width": w})
        mask = np.zeros((h, w), np.uint8)
        cv2.rectangle(mask, (20 + i, 10), (39 + i, 69), 1, -1)
        kp = [0.0] * 51
        if with_keypoints:
            kp[0:3] = [30.0, 15.0, 2]
            kp[33:36] = [28.0, 40.0, 1]
        doc["annotations"].append({  # polygon segmentation
            "id": 10 + i, "image_id": i + 1, "category_id": 1, "iscrowd": 0,
            "bbox": [20.0 + i, 10.0, 20.0, 60.0], "area": 1200.0,
            "segmentation": [[20.0 + i, 10.0, 40.0 + i, 10.0, 40.0 + i, 70.0, 20.0 + i, 70.0]],
            "keypoints": kp, "num_keypoints": 2 if with_keypoints else 0})
        other = np.zeros((h, w), np.uint8)
        cv2.circle(other, (75, 40), 10, 1, -1)
        doc["annotations"].append({  # RLE segmentation, no joints
            "id": 20 + i, "image_id": i + 1, "category_id": 1, "iscrowd": 0,
            "bbox": [65.0, 30.0, 21.0, 21.0], "area": 300.0, "segmentation": encode_mask(other),
            "keypoints": [0.0] * 51, "num_keypoints": 0})
    path = tmp_path / "person_keypoints.json"
    path.write_text(json.dumps(doc))
    return path, images


def test_coco_frames_and_training_on_them(tmp_path):
    ann, images = _write_coco(tmp_path)
    frames = CocoFrames(ann, images)
    assert len(frames) == 2
    image, persons = frames[1]
    assert image.shape == (80, 100, 3) and len(persons) == 2
    assert persons[0].mask[10:70, 21:41].all() and persons[0].mask.sum() == 20 * 60
    assert persons[0].keypoints[0].tolist() == [30.0, 15.0, 2.0]
    assert persons[1].mask[40, 75] and persons[1].keypoints[:, 2].max() == 0
    path = train_segmenter(SMALL, data=(ann, images), out_dir=tmp_path / "run", steps=2,
                           batch_size=2, seed=0, val_every=2, progress=False,
                           settings=TrainSettings(val_crops=2))
    assert path.is_file() and len(read_metrics(tmp_path / "run")) == 2


def test_coco_without_person_keypoints_is_an_input_error(tmp_path):
    ann, images = _write_coco(tmp_path, with_keypoints=False)
    with pytest.raises(InputError, match="no person annotations with keypoints") as err:
        CocoFrames(ann, images)
    assert str(ann) in str(err.value)
    bad = tmp_path / "broken.json"
    bad.write_text("{not json")
    with pytest.raises(InputError, match="broken.json"):
        CocoFrames(bad, images)


# ---------------------------------------------------------------- training loop

@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("segmenter-run")
    path = train_segmenter(SMALL, data=SCENE, out_dir=out, steps=24, batch_size=2, seed=0,
                           val_every=12, progress=False, settings=FAST)
    return path, read_metrics(out)


def test_training_loss_falls_and_checkpoint_predicts(trained):
    path, metrics = trained
    assert [m["step"] for m in metrics] == list(range(1, 25))
    losses = [m["loss"] for m in metrics]
    assert all(math.isfinite(v) for v in losses)
    first, last = np.mean(losses[:5]), np.mean(losses[-5:])
    assert last < 0.85 * first, (first, last)
    vals = [m for m in metrics if "val_iou" in m]
    assert [m["step"] for m in vals] == [12, 24] and all(0 <= m["val_iou"] <= 1 for m in vals)
    seg = LocalSegmenter.from_checkpoint(path)
    assert seg.config == SMALL
    image, persons = SyntheticFrames(SCENE)[5]
    alphas = seg.predict(image, [(p.bbox, p.keypoints) for p in persons])
    assert len(alphas) == len(persons)
    assert all(a.shape == (120, 160) and a.dtype == np.float32 for a in alphas)


def test_resume_reaches_the_same_state(tmp_path):
    kw = {"data": SCENE, "steps": 4, "batch_size": 2, "seed": 5, "val_every": 2,
          "progress": False, "settings": FAST}
    straight = train_segmenter(SMALL, out_dir=tmp_path / "a", **kw)
    kw_half = dict(kw, steps=2)
    train_segmenter(SMALL, out_dir=tmp_path / "b", **kw_half)
    resumed = train_segmenter(SMALL, out_dir=tmp_path / "b", **kw)
    a = torch.load(straight, weights_only=True)
    b = torch.load(resumed, weights_only=True)
    assert a["step"] == b["step"] == 4
    for k, v in a["model"].items():
        assert torch.equal(v, b["model"][k]), k
    for k, v in a["optimizer"]["state"].items():
        for name, t in v.items():
            other = b["optimizer"]["state"][k][name]
            assert torch.equal(torch.as_tensor(t), torch.as_tensor(other))
    assert [m["loss"] for m in read_metrics(tmp_path / "a")] == \
        [m["loss"] for m in read_metrics(tmp_path / "b")]
    # A different architecture in the same folder is refused, not silently mixed.
    with pytest.raises(InputError, match="other segmenter settings"):
        train_segmenter(SegmenterConfig.for_variant("keypoint", crop_size=64),
                        out_dir=tmp_path / "b", **dict(kw, steps=6))


# ---------------------------------------------------------------- checkpoint errors

def test_wrong_architecture_checkpoint_is_an_input_error(tmp_path):
    torch.manual_seed(0)
    no_mixer = SegmenterConfig.for_variant("keypoint", crop_size=64)
    path = save_checkpoint(tmp_path / "mixed-up.pt", {
        "config": SMALL.to_dict(), "model": LocalSegmenterNet(no_mixer).state_dict()})
    with pytest.raises(InputError, match="do not match the Local Segmenter") as err:
        LocalSegmenter.from_checkpoint(path)
    assert "mixed-up.pt" in str(err.value)
    other_size = save_checkpoint(tmp_path / "size.pt", {
        "config": SegmenterConfig(crop_size=96, decoder_channels=32, mixer_token_hidden=32,
                                  mixer_channel_hidden=64).to_dict(),
        "model": LocalSegmenterNet(SMALL).state_dict()})
    with pytest.raises(InputError, match="size.pt"):
        load_network(other_size)
    foreign = tmp_path / "plain.pt"
    torch.save(LocalSegmenterNet(SMALL).state_dict(), foreign)
    with pytest.raises(InputError, match="not a humanfx Local Segmenter checkpoint"):
        load_network(foreign)
    with pytest.raises(InputError, match="not found"):
        load_network(tmp_path / "missing.pt")


def test_truncated_checkpoint_is_an_input_error(tmp_path, trained):
    data = trained[0].read_bytes()
    cut = tmp_path / "cut.pt"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="truncated") as err:
        LocalSegmenter.from_checkpoint(cut)
    assert str(cut) in str(err.value)
    # Resuming training from a truncated checkpoint fails the same way.
    run = tmp_path / "run"
    run.mkdir()
    (run / "last.pt").write_bytes(data[:1000])
    with pytest.raises(InputError, match="last.pt"):
        train_segmenter(SMALL, data=SCENE, out_dir=run, steps=2, batch_size=2, progress=False,
                        settings=FAST)
