"""Local Segmenter: Mixer (eq. 3), network shapes, crops/heatmap/paste-back, box assignment."""

from __future__ import annotations

import logging
import math

import cv2
import numpy as np
import pytest
import torch
from scipy.special import erf

from inference.errors import InputError
from inference.models.segmenter import (
    ABLATION_VARIANTS,
    LocalSegmenter,
    LocalSegmenterNet,
    MixerLayer,
    SegmenterConfig,
    assign_regions,
    coverage_matrix,
    crop_image,
    crop_window,
    expand_box,
    joint_heatmap,
    paste_back,
)


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    # The test machine's cores are shared by parallel jobs; spinning intra-op threads make small
    # tensors ops several times slower there.  One thread is also fully deterministic.
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


# ---------------------------------------------------------------- Mixer (equation 3)

def _layer_norm(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: float) -> np.ndarray:
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * gamma + beta


def _gelu(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1.0 + erf(x / math.sqrt(2.0)))


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().double().numpy()


def _eq3_reference(layer: MixerLayer, fmap: np.ndarray) -> np.ndarray:
    """Equation 3 written out literally, column by column then row by row (float64)."""
    b, c, h, w = fmap.shape
    w1, b1 = _np(layer.token_mlp.fc1.weight), _np(layer.token_mlp.fc1.bias)
    w2, b2 = _np(layer.token_mlp.fc2.weight), _np(layer.token_mlp.fc2.bias)
    w3, b3 = _np(layer.channel_mlp.fc1.weight), _np(layer.channel_mlp.fc1.bias)
    w4, b4 = _np(layer.channel_mlp.fc2.weight), _np(layer.channel_mlp.fc2.bias)
    out = np.empty_like(fmap)
    for n in range(b):
        f = fmap[n].reshape(c, h * w).T                      # F: (s, c), row j = token j
        ln_f = _layer_norm(f, _np(layer.norm1.weight), _np(layer.norm1.bias), layer.norm1.eps)
        u = np.empty_like(f)
        for i in range(c):                     # U_{*,i} = F_{*,i} + W2 s(W1 LN(F)_{*,i})
            u[:, i] = f[:, i] + w2 @ _gelu(w1 @ ln_f[:, i] + b1) + b2
        ln_u = _layer_norm(u, _np(layer.norm2.weight), _np(layer.norm2.bias), layer.norm2.eps)
        y = np.empty_like(u)
        for j in range(h * w):                 # Y_{j,*} = U_{j,*} + W4 s(W3 LN(U)_{j,*})
            y[j, :] = u[j, :] + w4 @ _gelu(w3 @ ln_u[j, :] + b3) + b4
        out[n] = y.T.reshape(c, h, w)
    return out


def _random_mixer(c: int = 6, grid: tuple[int, int] = (3, 4)) -> MixerLayer:
    torch.manual_seed(0)
    layer = MixerLayer(c, grid, token_hidden=5, channel_hidden=7, dropout=0.1)
    with torch.no_grad():  # non-trivial LayerNorm affine so its placement matters
        for norm in (layer.norm1, layer.norm2):
            norm.weight.uniform_(0.5, 1.5)
            norm.bias.uniform_(-0.5, 0.5)
    return layer.double().eval()


def test_mixer_matches_equation_3_written_out():
    layer = _random_mixer()
    x = torch.randn(2, 6, 3, 4, dtype=torch.float64) * 2 + 0.3
    got = layer(x).detach().numpy()
    want = _eq3_reference(layer, x.numpy())
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)
    # The reference is sensitive: mixing tokens with the channel MLP's axis would not match.
    assert layer.token_mlp.fc1.in_features == 12 and layer.channel_mlp.fc1.in_features == 6


def test_token_mixing_spreads_one_token_everywhere_channel_mixing_does_not():
    layer = _random_mixer()
    x = torch.randn(1, 6, 3, 4, dtype=torch.float64)
    x2 = x.clone()
    x2[0, :, 1, 2] += torch.linspace(-2.0, 3.0, 6, dtype=torch.float64)   # change one token
    # (not by a constant: LayerNorm would cancel a shift common to all channels)
    changed = (layer(x2) - layer(x)).abs().amax(1)[0] > 1e-9  # (H', W') which tokens moved
    assert changed.all()                                      # global receptive field
    with torch.no_grad():                                     # without the token MLP ...
        layer.token_mlp.fc2.weight.zero_()
        layer.token_mlp.fc2.bias.zero_()
    changed = (layer(x2) - layer(x)).abs().amax(1)[0] > 1e-9
    assert changed.sum() == 1 and changed[1, 2]               # ... only that token changes


def test_layernorm_is_inside_the_residual_branches():
    layer = _random_mixer()
    with torch.no_grad():
        for mlp in (layer.token_mlp, layer.channel_mlp):
            mlp.fc2.weight.zero_()
            mlp.fc2.bias.zero_()
    x = torch.randn(2, 6, 3, 4, dtype=torch.float64) * 5 + 7
    # Pre-norm: with both branches silenced the layer is the identity (no LN on the trunk).
    assert torch.equal(layer(x), x)


def test_mixer_dropout_only_in_training_and_size_is_checked():
    layer = _random_mixer()
    x = torch.randn(1, 6, 3, 4, dtype=torch.float64)
    assert torch.equal(layer(x), layer(x))
    layer.train()
    assert not torch.equal(layer(x), layer(x))
    with pytest.raises(ValueError, match="built for"):
        layer(torch.randn(1, 6, 4, 4, dtype=torch.float64))


# ---------------------------------------------------------------- network

@pytest.mark.parametrize("variant", list(ABLATION_VARIANTS))
def test_network_variants_shapes(variant):
    torch.manual_seed(0)
    cfg = SegmenterConfig.for_variant(variant, crop_size=64)
    net = LocalSegmenterNet(cfg).eval()
    c = 4 if ABLATION_VARIANTS[variant][0] else 3
    assert net.conv1.in_channels == c
    assert isinstance(net.mixer, MixerLayer) == ABLATION_VARIANTS[variant][1]
    x = torch.rand(2, c, 64, 64)
    with torch.no_grad():
        r2, r3, r4 = net.encode(x)
        y = net(x)
    assert r2.shape == (2, 64, 16, 16) and r3.shape == (2, 128, 8, 8) and r4.shape == (2, 256, 4, 4)
    assert y.shape == (2, 1, 64, 64) and y.dtype == torch.float32 and torch.isfinite(y).all()
    with pytest.raises(ValueError, match="expected input"):
        net(torch.rand(2, 7 - c, 64, 64))


def test_mixer_size_follows_crop_size_and_config_is_checked():
    cfg = SegmenterConfig()                                   # the seed's 512 x 512, c = 128
    net = LocalSegmenterNet(cfg)
    assert net.mixer.tokens == 64 * 64 and net.mixer.channels == 128
    assert net.mixer.token_mlp.fc1.weight.shape == (cfg.mixer_token_hidden, 4096)
    assert net.mixer.token_mlp.drop.p == pytest.approx(0.1)
    assert cfg.sigma == 8.0
    for bad in ({"crop_size": 100}, {"mixer_dropout": 1.0}, {"box_expand": 0.5},
                {"heatmap_sigma": -1.0}, {"use_mixer": 1}):
        with pytest.raises(InputError, match="SegmenterConfig"):
            SegmenterConfig(**bad)
    with pytest.raises(InputError, match="unknown segmenter variant"):
        SegmenterConfig.for_variant("mixer-only")


# ---------------------------------------------------------------- crops and heatmap

def test_expand_box_and_window():
    assert expand_box((10, 20, 40, 80), 1.5, square=False) == (0.0, 0.0, 60.0, 120.0)
    assert expand_box((10, 20, 40, 80), 1.5, square=True) == (-30.0, 0.0, 120.0, 120.0)
    win = crop_window((10, 20, 40, 80), 64)
    assert (win.x0, win.y0, win.sx, win.sy) == (-30.0, 0.0, 64 / 120, 64 / 120)
    assert win.width == pytest.approx(120.0) and win.height == pytest.approx(120.0)
    uv = win.frame_to_crop(np.array([[30.0, 60.0]]))          # box centre -> crop centre
    np.testing.assert_allclose(uv, [[32.0, 32.0]])
    np.testing.assert_allclose(win.crop_to_frame(uv), [[30.0, 60.0]])
    stretched = crop_window((10, 20, 40, 80), 64, square=False)
    assert stretched.sx == pytest.approx(64 / 60) and stretched.sy == pytest.approx(64 / 120)
    with pytest.raises(ValueError, match="degenerate"):
        crop_window((0, 0, 0, 10), 64, square=False)
    with pytest.raises(ValueError, match="degenerate"):
        crop_window((0, 0, float("nan"), 10), 64)


def _identity_window_box(cx: float, cy: float, size: int) -> tuple[float, float, float, float]:
    side = size / 1.5                                         # 1.5 * side == size -> scale 1
    return (cx - side / 2, cy - side / 2, side, side)


def test_heatmap_peak_width_max_and_empty():
    size, sigma = 64, 3.0
    win = crop_window(_identity_window_box(32.0, 32.0, size), size)   # crop == frame[0:64, 0:64]
    assert (win.x0, win.y0, win.sx) == (0.0, 0.0, 1.0)
    kp = np.zeros((17, 3))
    kp[0] = (10.5, 20.5, 2)                                   # centre of pixel (row 20, col 10)
    heat = joint_heatmap(kp, win, sigma)
    assert heat.shape == (64, 64) and heat.dtype == np.float32
    assert np.unravel_index(heat.argmax(), heat.shape) == (20, 10) and heat[20, 10] == 1.0
    assert heat[20, 13] == pytest.approx(math.exp(-0.5), rel=1e-6)   # one sigma away
    assert heat[23, 13] == pytest.approx(math.exp(-1.0), rel=1e-6)
    kp[9] = (50.5, 40.5, 1)                                   # occluded but labelled: counts
    kp[3] = (30.5, 30.5, 0)                                   # not labelled: ignored
    both = joint_heatmap(kp, win, sigma)
    one_a = joint_heatmap(np.array([[10.5, 20.5, 2]]), win, sigma)
    one_b = joint_heatmap(np.array([[50.5, 40.5, 1]]), win, sigma)
    np.testing.assert_array_equal(both, np.maximum(one_a, one_b))
    assert both[30, 30] < 1e-6 and both[40, 50] == 1.0
    assert not joint_heatmap(np.zeros((17, 3)), win, sigma).any()
    assert not joint_heatmap(None, win, sigma).any()


def test_heatmap_follows_the_window_mapping():
    win = crop_window((100.0, 50.0, 20.0, 40.0), 64)          # square side 60, scale 64/60
    joint = np.array([[115.0, 80.0, 2]])
    u, v = win.frame_to_crop(joint[:, :2])[0]
    heat = joint_heatmap(joint, win, 2.0)
    row, col = np.unravel_index(heat.argmax(), heat.shape)
    assert abs(col + 0.5 - u) <= 0.5 and abs(row + 0.5 - v) <= 0.5


def _shape_mask(h: int, w: int) -> np.ndarray:
    mask = np.zeros((h, w), np.uint8)
    cv2.ellipse(mask, (12, 15), (10, 14), 20, 0, 360, 1, -1)
    cv2.circle(mask, (30, 40), 9, 1, -1)
    cv2.rectangle(mask, (55, 5), (70, 30), 1, -1)
    return mask


def _fully_inside(win, h: int, w: int) -> np.ndarray:
    """Frame pixels that lie entirely inside the window (and the frame)."""
    xa, ya = max(0, math.ceil(win.x0)), max(0, math.ceil(win.y0))
    xb = min(w, math.floor(win.x0 + win.width))
    yb = min(h, math.floor(win.y0 + win.height))
    inside = np.zeros((h, w), bool)
    inside[ya:yb, xa:xb] = True
    return inside


@pytest.mark.parametrize("centre", [(40.0, 30.0), (10.0, 12.0), (70.0, 55.0)])
def test_crop_paste_round_trip_exact_at_unit_scale(centre):
    h, w = 60, 80
    mask = _shape_mask(h, w).astype(np.float32)
    rgb = np.random.default_rng(1).integers(0, 256, (h, w, 3), dtype=np.uint8)
    win = crop_window(_identity_window_box(*centre, 64), 64)
    crop = crop_image(mask, win)
    assert crop.shape == (64, 64) and crop.dtype == np.float32
    back = paste_back(crop, win, (h, w))
    assert back.shape == (h, w) and back.dtype == np.float32
    inside = _fully_inside(win, h, w)
    np.testing.assert_array_equal(back[inside], mask[inside])
    assert not back[~inside].any()
    # The RGB crop is the frame, translated, zero-padded where the window leaves the frame.
    rgb_crop = crop_image(rgb, win)
    x0, y0 = int(win.x0), int(win.y0)
    ref = np.zeros((64, 64, 3), np.uint8)
    ys, xs = slice(max(0, y0), min(h, y0 + 64)), slice(max(0, x0), min(w, x0 + 64))
    ref[ys.start - y0:ys.stop - y0, xs.start - x0:xs.stop - x0] = rgb[ys, xs]
    np.testing.assert_array_equal(rgb_crop, ref)


@pytest.mark.parametrize("centre,side", [((8.0, 9.0), 32), ((40.25, 30.5), 16),
                                         ((25.1, 20.7), 20), ((3.3, 57.9), 16)])
def test_crop_paste_round_trip_upsampled_partly_outside(centre, side):
    h, w = 60, 80
    mask = _shape_mask(h, w)
    box = (centre[0] - side / 3, centre[1] - side / 3, side / 1.5, side / 1.5)
    win = crop_window(box, 64)
    back = paste_back(crop_image(mask.astype(np.float32), win), win, (h, w))
    assert 0.0 <= back.min() and back.max() <= 1.0
    inside = _fully_inside(win, h, w)
    np.testing.assert_array_equal((back >= 0.5)[inside], (mask > 0)[inside])
    assert not back[~_fully_inside(crop_window(box, 64, expand=1.5 * 1.2), h, w)].any()


def test_window_entirely_outside_frame_is_zeros_not_a_crash():
    win = crop_window((500.0, 500.0, 20.0, 20.0), 32)
    assert not crop_image(np.full((40, 50, 3), 255, np.uint8), win).any()
    assert not paste_back(np.ones((32, 32), np.float32), win, (40, 50)).any()


# ---------------------------------------------------------------- box assignment (eqs. 5-6)

def test_coverage_matrix_is_share_of_gt_area():
    gt = np.array([[0, 0, 10, 10], [0, 0, 0, 5]], float)
    pred = np.array([[5, 0, 10, 10], [0, 0, 20, 20], [50, 50, 5, 5]], float)
    o = coverage_matrix(gt, pred)
    np.testing.assert_allclose(o, [[0.5, 1.0, 0.0], [0.0, 0.0, 0.0]])


def test_assignment_threshold_keeps_prediction_at_or_above_tau():
    gt = np.array([[0, 0, 10, 10], [100, 0, 10, 10], [200, 0, 10, 10]], float)
    pred = np.array([[5, 0, 10, 10],        # covers 0.5 of gt0 -> predicted box
                     [106, 0, 10, 10],      # covers 0.4 of gt1 -> ground-truth box
                     [201, 1, 10, 10]], float)  # covers 0.81 of gt2 -> predicted box
    gt_kp = [np.full((17, 3), k, float) for k in (1, 2, 3)]
    pr_kp = [np.full((17, 3), k, float) for k in (11, 12, 13)]
    r = assign_regions(gt, pred, gt_kp, pr_kp, tau=0.5)
    assert [a.use_prediction for a in r] == [True, False, True]
    assert [a.pred_index for a in r] == [0, 1, 2]
    assert r[0].bbox == (5.0, 0.0, 10.0, 10.0) and r[0].keypoints[0, 0] == 11
    assert r[1].bbox == (100.0, 0.0, 10.0, 10.0) and r[1].keypoints[0, 0] == 2
    assert r[1].overlap == pytest.approx(0.4) and r[2].overlap == pytest.approx(0.81)
    assert [a.use_prediction for a in assign_regions(gt, pred, tau=0.3)] == [True, True, True]


def test_assignment_is_hungarian_not_greedy():
    gt = np.array([[0, 0, 10, 10], [20, 0, 10, 10]], float)
    pred = np.array([[1, 0, 27, 10],        # covers gt0 0.9, gt1 0.8
                     [1.5, 0, 10, 10]], float)  # covers gt0 0.85, gt1 0
    o = coverage_matrix(gt, pred)
    np.testing.assert_allclose(o, [[0.9, 0.85], [0.8, 0.0]])
    assert o.argmax(0).tolist() == [0, 0]                      # greedy: both want gt0
    r = assign_regions(gt, pred)
    assert [a.pred_index for a in r] == [1, 0]                 # optimal one-to-one pairing
    assert all(a.use_prediction for a in r)
    assert r[0].bbox == (1.5, 0.0, 10.0, 10.0) and r[1].bbox == (1.0, 0.0, 27.0, 10.0)


def test_unmatched_ground_truth_uses_its_own_box_and_extra_predictions_are_dropped():
    gt = np.array([[0, 0, 10, 10], [100, 100, 10, 10]], float)
    pred = np.array([[0, 0, 10, 10], [300, 300, 9, 9], [301, 300, 9, 9]], float)
    r = assign_regions(gt, pred)
    assert len(r) == 2
    assert r[0].use_prediction and r[0].pred_index == 0
    assert not r[1].use_prediction and r[1].pred_index is None and r[1].overlap == 0.0
    assert r[1].bbox == (100.0, 100.0, 10.0, 10.0) and r[1].keypoints is None
    none = assign_regions(gt, np.zeros((0, 4)))
    assert [a.bbox for a in none] == [(0.0, 0.0, 10.0, 10.0), (100.0, 100.0, 10.0, 10.0)]


# ---------------------------------------------------------------- predictor

def test_predictor_pastes_every_person_back_and_skips_tiny_ones(caplog):
    torch.manual_seed(0)
    cfg = SegmenterConfig(crop_size=64)
    net = LocalSegmenterNet(cfg)
    h, w = 72, 96
    image = np.random.default_rng(0).integers(0, 256, (h, w, 3), dtype=np.uint8)
    kp = np.zeros((17, 3))
    kp[0] = (30, 20, 2)
    persons = [((20.0, 10.0, 20.0, 40.0), kp), ((85.0, 50.0, 30.0, 40.0), None),
               ((5.0, 5.0, 2.0, 3.0), kp)]
    with caplog.at_level(logging.INFO, logger="inference.models.segmenter.predictor"):
        alphas = LocalSegmenter(net, batch_size=2).predict(image, persons)
    assert "skipping person 2" in caplog.text and "min_box_size" in caplog.text
    assert len(alphas) == 3
    for a in alphas:
        assert a.shape == (h, w) and a.dtype == np.float32 and 0 <= a.min() and a.max() <= 1
    assert not alphas[2].any()
    for a, (box, _) in zip(alphas[:2], persons[:2]):
        win = crop_window(box, 64)
        outside = ~_fully_inside(crop_window(box, 64, expand=1.5 * 1.1), h, w)
        assert a[_fully_inside(win, h, w)].min() > 0.0 and not a[outside].any()
    one_by_one = LocalSegmenter(net, batch_size=1).predict(image, persons)
    for a, b in zip(alphas, one_by_one):
        np.testing.assert_allclose(a, b, atol=1e-5)
    with pytest.raises(InputError, match="uint8 RGB"):
        LocalSegmenter(net).predict(image.astype(np.float32), persons)
