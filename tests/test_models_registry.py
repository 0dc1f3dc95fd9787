"""The model zoo: registry, weights entries, download / verify / import, safe loading.

No test touches the real network: downloads go to a local HTTP server started here or to a
closed localhost port; the torch hub cache is a temporary folder.
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import json
import socket
import threading
from pathlib import Path

import pytest
import torch
import torchvision

from editor_plugin.cli import main
from inference.errors import HumanfxError
from inference.models import weights as wmod
from inference.models.registry import get_model, get_model_weights, list_models
from inference.models.weights import (
    KeypointRCNN_ResNet50_FPN_Weights,
    MaskRCNN_ResNet50_FPN_V2_Weights,
    SeedPoseTracker_Weights,
    SeedSegmenter_Weights,
    Weights,
    WeightsEnum,
)

#: The repository's real assets folder (hub_dir points ASSETS_DIR elsewhere for each test).
SHIPPED_ASSETS = wmod.ASSETS_DIR


@pytest.fixture(autouse=True)
def hub_dir(tmp_path, monkeypatch):
    """A private torch hub cache and an empty assets folder for every test."""
    hub = tmp_path / "hub"
    monkeypatch.setattr(torch.hub, "_hub_dir", str(hub))
    monkeypatch.setattr(wmod, "ASSETS_DIR", tmp_path / "assets" / "weights")
    return hub / "checkpoints"


def _tiny_state(seed: int = 0) -> dict:
    torch.manual_seed(seed)
    return torch.nn.Linear(4, 3).state_dict()


def _save(path: Path, obj) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(obj, path)
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def test_enum(tmp_path, monkeypatch):
    """A registered weights enum whose files are tiny state dicts made here."""
    served = tmp_path / "served"
    good = served / "tiny-good.pth"
    digest = _save(good, _tiny_state(0))

    class Tiny_Weights(WeightsEnum):
        V1 = Weights(url=None, filename=f"tiny-{digest[:8]}.pth", sha256=digest)
        OFFLINE = Weights(url=f"http://127.0.0.1:{_closed_port()}/tiny.pth",
                          filename="tiny-offline.pth", sha256=digest)

    monkeypatch.setattr(wmod, "_ENUMS", [*wmod._ENUMS, Tiny_Weights])
    return Tiny_Weights, good, digest


def test_registry_lists_models_and_resolves_weights():
    assert list_models() == ["keypointrcnn_resnet50_fpn", "maskrcnn_resnet50_fpn_v2",
                             "seed_pose_tracker", "seed_segmenter"]
    kp = get_model_weights("keypointrcnn_resnet50_fpn")
    assert kp is KeypointRCNN_ResNet50_FPN_Weights
    assert kp.verify("DEFAULT") is kp.COCO_V1
    assert kp.verify("KeypointRCNN_ResNet50_FPN_Weights.COCO_V1") is kp.COCO_V1
    with pytest.raises(HumanfxError, match="COCO_V2"):
        kp.verify("COCO_V2")
    with pytest.raises(HumanfxError, match="unknown model"):
        get_model("resnet9000")
    assert SeedSegmenter_Weights.DEFAULT is SeedSegmenter_Weights.SYNTH_V1
    assert SeedPoseTracker_Weights.COCO_V1.url is None
    assert "not yet trained" in SeedPoseTracker_Weights.COCO_V1.note


@pytest.mark.parametrize("ours, theirs", [
    (KeypointRCNN_ResNet50_FPN_Weights.COCO_V1,
     torchvision.models.detection.KeypointRCNN_ResNet50_FPN_Weights.COCO_V1),
    (MaskRCNN_ResNet50_FPN_V2_Weights.COCO_V1,
     torchvision.models.detection.MaskRCNN_ResNet50_FPN_V2_Weights.COCO_V1),
])
def test_rcnn_entries_are_what_torchvision_publishes(ours, theirs):
    assert ours.url == theirs.url
    assert ours.url.endswith(ours.filename)
    # torchvision publishes only the first 8 hex digits of the SHA-256, in the file name
    assert ours.hash_is_prefix and ours.filename.endswith(f"-{ours.sha256}.pth")
    assert ours.meta["num_params"] == theirs.meta["num_params"]
    assert ours.meta["metrics"] == theirs.meta["_metrics"]
    if "keypoint_names" in theirs.meta:
        assert list(ours.meta["keypoint_names"]) == list(theirs.meta["keypoint_names"])
        assert list(ours.meta["categories"]) == list(theirs.meta["categories"])
    else:
        assert theirs.meta["categories"][ours.meta["person_label"]] == "person"


def test_corrupted_file_fails_its_hash_check_naming_it(tmp_path, test_enum):
    enum_cls, good, digest = test_enum
    assert wmod.verify_file(good, enum_cls.V1) == digest
    bad = tmp_path / "bad.pth"
    data = bytearray(good.read_bytes())
    data[len(data) // 2] ^= 0xFF
    bad.write_bytes(bytes(data))
    with pytest.raises(HumanfxError) as err:
        wmod.verify_file(bad, enum_cls.V1)
    assert str(bad) in str(err.value) and "corrupt" in str(err.value)


def test_truncated_file_is_refused_naming_it(tmp_path, test_enum):
    _, good, _ = test_enum
    cut = tmp_path / "cut.pth"
    cut.write_bytes(good.read_bytes()[: len(good.read_bytes()) // 2])
    with pytest.raises(HumanfxError) as err:
        wmod.safe_load(cut)
    assert str(cut) in str(err.value) and "truncated" in str(err.value)


class _Payload:
    """Unpickling this would create the marker file."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_weights_only_load_refuses_a_pickle_with_code(tmp_path):
    marker = tmp_path / "code-ran"
    evil = tmp_path / "evil.pth"
    torch.save({"weight": torch.zeros(2), "payload": _Payload(marker)}, evil)
    with pytest.raises(HumanfxError) as err:
        wmod.safe_load(evil)
    assert str(evil) in str(err.value) and "more than tensors" in str(err.value)
    assert not marker.exists()


def test_offline_download_says_how_to_get_the_file(test_enum, hub_dir):
    enum_cls, _, _ = test_enum
    w = enum_cls.OFFLINE
    with pytest.raises(HumanfxError) as err:
        wmod.download(w, progress=False)
    msg = str(err.value)
    assert "tiny-offline.pth" in msg and str(hub_dir) in msg
    assert "humanfx models download Tiny_Weights.OFFLINE" in msg
    assert "humanfx models import" in msg
    assert not hub_dir.exists() or not any(hub_dir.iterdir())  # no partial file left


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def http_root(tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(_Quiet, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_download_verifies_then_renames_and_rejects_a_wrong_file(http_root, hub_dir):
    root, base = http_root
    digest = _save(root / "tiny.pth", _tiny_state(1))
    _save(root / "other.pth", _tiny_state(2))
    good = Weights(url=f"{base}/tiny.pth", filename="tiny.pth", sha256=digest[:8])
    path = wmod.download(good, progress=False)
    assert path == hub_dir / "tiny.pth"
    assert hashlib.sha256(path.read_bytes()).hexdigest() == digest
    assert torch.equal(wmod.load_weights(good)["weight"], _tiny_state(1)["weight"])
    wrong = Weights(url=f"{base}/other.pth", filename="other.pth", sha256=digest[:8])
    with pytest.raises(HumanfxError, match="do not match"):
        wmod.download(wrong, progress=False)
    assert sorted(p.name for p in hub_dir.iterdir()) == ["tiny.pth"]  # no partial file


def test_models_import_accepts_a_matching_file_and_rejects_others(tmp_path, test_enum, hub_dir,
                                                                 capsys):
    enum_cls, good, _ = test_enum
    assert main(["models", "import", str(good)]) == 0
    dest = hub_dir / enum_cls.V1.filename
    assert dest.read_bytes() == good.read_bytes()
    assert "Tiny_Weights.V1" in capsys.readouterr().out

    other = tmp_path / "other.pth"
    _save(other, _tiny_state(5))
    assert main(["models", "import", str(other)]) == 1
    err = capsys.readouterr().err
    assert str(other) in err and "matches no known weights" in err
    assert main(["models", "import", str(other), "--name", "Tiny_Weights.V1"]) == 1
    assert "does not match" in capsys.readouterr().err
    assert dest.read_bytes() == good.read_bytes()

    assert main(["models", "verify", "Tiny_Weights.V1"]) == 0
    assert "ok" in capsys.readouterr().out
    data = bytearray(dest.read_bytes())
    data[-10] ^= 0x01
    dest.write_bytes(bytes(data))
    assert main(["models", "verify"]) == 1
    out = capsys.readouterr()
    assert "FAILED" in out.out and str(dest) in out.out


def test_seed_slots_import_by_name_and_explain_missing_files(tmp_path, hub_dir, capsys):
    # hub_dir empties ASSETS_DIR: a trimmed install without the shipped files
    with pytest.raises(HumanfxError) as err:
        get_model("seed_segmenter", weights="DEFAULT")
    msg = str(err.value)
    assert "not shipped yet" in msg and str(wmod.ASSETS_DIR / "seed_segmenter_synth_v1.pt") in msg
    assert "humanfx models import PATH --name SeedSegmenter_Weights.SYNTH_V1" in msg
    with pytest.raises(HumanfxError, match="not yet trained"):
        get_model("seed_pose_tracker", weights="COCO_V1")

    plain = tmp_path / "plain.pt"
    _save(plain, _tiny_state())
    assert main(["models", "import", str(plain), "--name", "SeedSegmenter_Weights.COCO_V1"]) == 1
    assert "humanfx.local_segmenter" in capsys.readouterr().err
    ckpt = tmp_path / "seg.pt"
    _save(ckpt, {"format": "humanfx.local_segmenter", "version": 1, "config": {}, "model": {}})
    # SYNTH_V1 has a published hash: another file is refused for it
    assert main(["models", "import", str(ckpt), "--name", "SeedSegmenter_Weights.SYNTH_V1"]) == 1
    assert "seg.pt" in capsys.readouterr().err
    # the COCO slot has no published file: a checkpoint of the right kind is taken
    assert main(["models", "import", str(ckpt), "--name", "SeedSegmenter_Weights.COCO_V1"]) == 0
    assert (hub_dir / "seed_segmenter_coco_v1.pt").is_file()
    capsys.readouterr()
    assert main(["models", "list", "--json"]) == 0
    rows = {r["weights"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["SeedSegmenter_Weights.COCO_V1"]["status"] == "present"
    assert rows["SeedPoseTracker_Weights.SYNTH_V1"]["status"] == "not shipped yet"
    assert rows["KeypointRCNN_ResNet50_FPN_Weights.COCO_V1"]["status"] == "not downloaded"
    assert rows["KeypointRCNN_ResNet50_FPN_Weights.COCO_V1"]["default"]


def test_shipped_seed_weights_are_listed_present(capsys, monkeypatch):
    monkeypatch.setattr(wmod, "ASSETS_DIR", SHIPPED_ASSETS)
    assert main(["models", "list", "--json"]) == 0
    rows = {r["weights"]: r for r in json.loads(capsys.readouterr().out)}
    for name in ("SeedSegmenter_Weights.SYNTH_V1", "SeedPoseTracker_Weights.SYNTH_V1"):
        assert rows[name]["status"] == "present" and rows[name]["default"]


def test_cli_download_offline_is_a_clear_error(test_enum, capsys):
    assert main(["-q", "models", "download", "Tiny_Weights.OFFLINE"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("humanfx: error: ") and len(err.strip().splitlines()) == 1
    assert "cannot download tiny-offline.pth" in err and "models import" in err


def test_local_weights_that_do_not_fit_the_network_name_the_file(tmp_path):
    path = tmp_path / "linear.pth"
    _save(path, _tiny_state())
    with pytest.raises(HumanfxError) as err:
        get_model("seed_segmenter", weights=Weights.local(path))
    assert str(path) in str(err.value)
