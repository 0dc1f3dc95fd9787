"""Training loop of the Local Segmenter (seed section 4): BCE + Dice, SAM at lr 1e-4.

``train_segmenter`` is deterministic for a given seed (model init, crop sampling, dropout), and
resumable: ``out_dir/last.pt`` (atomic) holds the weights, the optimizer, the step and every RNG
state, so a run stopped after a checkpoint and resumed reaches the same weights as an
uninterrupted one.  Per-step loss and validation IoU are appended to ``out_dir/metrics.jsonl``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from inference.errors import InputError
from inference.models.segmenter.checkpoint import (
    config_from_checkpoint,
    load_checkpoint,
    load_state,
    save_checkpoint,
)
from inference.models.segmenter.network import LocalSegmenterNet, SegmenterConfig
from inference.synth import SynthConfig
from inference.train.data import (
    CocoFrames,
    ConcatFrames,
    CropSampler,
    FrameSource,
    JitterSettings,
    SyntheticFrames,
)
from inference.train.losses import mask_iou, segmentation_loss
from inference.train.sam import SAM

log = logging.getLogger(__name__)

CHECKPOINT_NAME = "last.pt"
METRICS_NAME = "metrics.jsonl"


@dataclass(frozen=True)
class TrainSettings:
    """Optimisation and data settings of :func:`train_segmenter`.

    Attributes:
        lr: learning rate of the base optimizer (seed: 1e-4).
        weight_decay: AdamW weight decay.  The seed names SAM but not its base optimizer;
            AdamW is the one that makes sense at lr 1e-4 (the seed trains its tracker with it).
        sam_rho: SAM neighbourhood radius (SAM paper default 0.05).
        sam_adaptive: ASAM-style perturbation.
        jitter: how stand-in tracker predictions are drawn (see :class:`JitterSettings`).
        val_fraction: share of a single frame source's frames held out for validation (the last
            frames); ignored when a ``(train, val)`` pair is given.
        val_crops: number of (fixed) validation crops.
    """

    lr: float = 1e-4
    weight_decay: float = 1e-4
    sam_rho: float = 0.05
    sam_adaptive: bool = False
    jitter: JitterSettings = field(default_factory=JitterSettings)
    val_fraction: float = 0.1
    val_crops: int = 16

    def __post_init__(self) -> None:
        def bad(name: str, why: str) -> None:
            raise InputError(f"TrainSettings.{name} = {getattr(self, name)!r} {why}")

        if not self.lr > 0.0:
            bad("lr", "must be > 0")
        if not self.weight_decay >= 0.0:
            bad("weight_decay", "must be >= 0")
        if not self.sam_rho >= 0.0:
            bad("sam_rho", "must be >= 0")
        if not 0.0 <= self.val_fraction < 1.0:
            bad("val_fraction", "must be in [0, 1)")
        if self.val_crops < 1:
            bad("val_crops", "must be >= 1")


def _is_source(obj: Any) -> bool:
    return hasattr(obj, "__len__") and hasattr(obj, "__getitem__") and not isinstance(
        obj, (str, bytes, tuple, list, Path))


def _single_source(data: Any) -> FrameSource:
    if _is_source(data):
        return data
    if isinstance(data, tuple) and len(data) == 2 and all(isinstance(v, (str, Path)) for v in data):
        return CocoFrames(*data)
    if isinstance(data, SynthConfig):
        return SyntheticFrames(data)
    raise InputError(f"cannot train on {type(data).__name__} data",
                     hint="pass a SynthConfig, (annotations.json, image folder) or frame source")


def resolve_data(data: Any, settings: TrainSettings) -> tuple[FrameSource, FrameSource,
                                                              list[int], list[int]]:
    """``data`` -> ``(train source, val source, train indices, val indices)``.

    ``data`` is one of: a frame source (split by ``val_fraction``); a ``(train, val)`` pair of
    single sources (no split); a ``(annotations.json, image_folder)`` pair (COCO); an
    ``inference.synth.SynthConfig`` (all its frames, split like a source); or a *list* of any
    of these single sources (concatenated, then split).
    """
    if isinstance(data, list):
        if not data:
            raise InputError("the training data list is empty")
        data = ConcatFrames([_single_source(d) for d in data])
    if isinstance(data, tuple) and len(data) == 2:
        a, b = data
        if isinstance(a, (str, Path)) and isinstance(b, (str, Path)):
            data = CocoFrames(a, b)
        else:
            a, b = _single_source(a), _single_source(b)
            return a, b, list(range(len(a))), list(range(len(b)))
    else:
        data = _single_source(data)
    n = len(data)
    if n == 0:
        raise InputError("the training data holds no frames")
    n_val = 0 if n < 2 else max(1, round(n * settings.val_fraction))
    train = list(range(n - n_val))
    val = list(range(n - n_val, n)) if n_val else train
    return data, data, train, val


@contextmanager
def _frozen_batchnorm_stats(model: nn.Module) -> Iterator[None]:
    """BatchNorm running statistics are not updated inside (SAM's second pass)."""
    saved = []
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            saved.append((m, m.momentum))
            m.momentum = 0.0
    try:
        yield
    finally:
        for m, momentum in saved:
            m.momentum = momentum


def _rng_state(rng: np.random.Generator, device: torch.device) -> dict[str, Any]:
    state: dict[str, Any] = {"torch": torch.get_rng_state(), "numpy": rng.bit_generator.state}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any], rng: np.random.Generator, device: torch.device) -> None:
    torch.set_rng_state(state["torch"])
    rng.bit_generator.state = state["numpy"]
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state_all(state["cuda"])


def _append_metrics(path: Path, record: dict[str, Any]) -> None:
    with path.open("a", encoding="utf-8") as f:
        f.write(json.dumps(record) + "\n")


def _truncate_metrics(path: Path, step: int) -> None:
    """Drop metric lines written after ``step`` (by a run that stopped before saving)."""
    if not path.exists():
        return
    keep = [ln for ln in path.read_text(encoding="utf-8").splitlines()
            if ln.strip() and json.loads(ln).get("step", 0) <= step]
    path.write_text("".join(ln + "\n" for ln in keep), encoding="utf-8")


def read_metrics(out_dir: str | Path) -> list[dict[str, Any]]:
    """The per-step records of a training run: ``[{"step", "loss"[, "val_iou", "val_loss"]}]``."""
    path = Path(out_dir) / METRICS_NAME
    if not path.exists():
        return []
    return [json.loads(ln) for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]


def _evaluate(model: LocalSegmenterNet, val: tuple[torch.Tensor, torch.Tensor], batch: int,
              autocast: Any) -> tuple[float, float]:
    """Mean mask IoU and loss on the validation crops (eval mode, no gradients)."""
    model.eval()
    ious, losses = [], []
    with torch.inference_mode():
        for s in range(0, len(val[0]), batch):
            x, y = val[0][s:s + batch], val[1][s:s + batch]
            with autocast():
                logits = model(x)
            ious.append(mask_iou(logits, y))
            losses.append(segmentation_loss(logits, y) * len(x))
    model.train()
    return float(torch.cat(ious).mean()), float(torch.stack(losses).sum()) / len(val[0])


def train_segmenter(config: SegmenterConfig, *, data: Any, out_dir: str | Path,
                    device: str = "cpu", steps: int, batch_size: int = 8,
                    crop_size: int | None = None, seed: int = 0, val_every: int = 100,
                    resume: bool = True, settings: TrainSettings | None = None,
                    progress: bool = True) -> Path:
    """Train (or continue training) a Local Segmenter; returns the path of ``last.pt``.

    Args:
        config: architecture settings; ``crop_size`` (when given) replaces ``config.crop_size``.
        data: see :func:`resolve_data` (frame source, pair, COCO pair or ``SynthConfig``).
        out_dir: folder for ``last.pt`` and ``metrics.jsonl``.
        device: ``"cpu"`` or ``"cuda"`` (bf16 autocast on CUDA).
        steps: total number of SAM steps (a resumed run continues up to it).
        batch_size: crops per step.
        seed: seeds model init, data sampling and dropout.
        val_every: validate, log and checkpoint every this many steps (and at the end).
        resume: continue from ``out_dir/last.pt`` when it exists (its config must match).
        settings: optimisation and data settings.
        progress: show a tqdm bar.
    """
    settings = settings or TrainSettings()
    if crop_size is not None:
        config = replace(config, crop_size=int(crop_size))
    if steps < 1 or batch_size < 1 or val_every < 1:
        raise InputError(f"train_segmenter needs steps, batch_size and val_every >= 1 "
                         f"(got {steps}, {batch_size}, {val_every})")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise InputError("device 'cuda' asked for, but PyTorch sees no CUDA GPU",
                         hint="use device='cpu'")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ckpt_path, metrics_path = out / CHECKPOINT_NAME, out / METRICS_NAME

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = LocalSegmenterNet(config).to(dev)
    opt = SAM(model.parameters(), torch.optim.AdamW, rho=settings.sam_rho,
              adaptive=settings.sam_adaptive, lr=settings.lr, weight_decay=settings.weight_decay)
    step = 0
    if resume and ckpt_path.exists():
        ckpt = load_checkpoint(ckpt_path, map_location=dev)
        if config_from_checkpoint(ckpt, ckpt_path) != config:
            raise InputError("the checkpoint was trained with other segmenter settings",
                             path=ckpt_path, hint="use another out_dir or resume=False")
        if not isinstance(ckpt.get("step"), int) or "optimizer" not in ckpt or "rng" not in ckpt:
            raise InputError("not a training checkpoint (no step/optimizer/RNG state)",
                             path=ckpt_path, hint="use another out_dir or resume=False")
        load_state(model, ckpt["model"], ckpt_path)
        try:
            opt.load_state_dict(ckpt["optimizer"])
            _set_rng_state(ckpt["rng"], rng, dev)
        except (ValueError, KeyError, TypeError, RuntimeError) as exc:
            raise InputError(f"cannot restore the training state ({exc})", path=ckpt_path,
                             hint="use another out_dir or resume=False") from exc
        step = ckpt["step"]
        log.info("segmenter: resuming %s at step %d", ckpt_path, step)
        _truncate_metrics(metrics_path, step)
    elif metrics_path.exists():
        metrics_path.unlink()
    if step >= steps:
        log.info("segmenter: %s already at step %d >= %d", ckpt_path, step, steps)
        return ckpt_path

    train_src, val_src, train_idx, val_idx = resolve_data(data, settings)
    sampler = CropSampler(train_src, train_idx, config, settings.jitter)
    vx, vy = CropSampler(val_src, val_idx, config, settings.jitter).fixed_set(
        settings.val_crops, seed + 7919)
    val = (torch.from_numpy(vx).to(dev), torch.from_numpy(vy).to(dev))

    def autocast() -> Any:
        return torch.autocast("cuda", dtype=torch.bfloat16) if dev.type == "cuda" \
            else nullcontext()

    def loss_at(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        with autocast():
            logits = model(x)
        return segmentation_loss(logits, y)

    def save() -> None:
        save_checkpoint(ckpt_path, {
            "config": config.to_dict(), "model": model.state_dict(),
            "optimizer": opt.state_dict(), "step": step, "rng": _rng_state(rng, dev),
            "train": {"seed": seed, "batch_size": batch_size, "settings": asdict(settings)}})

    model.train()
    bar = tqdm(total=steps, initial=step, disable=not progress, desc="segmenter", unit="step")
    try:
        while step < steps:
            xb, yb = sampler.sample(rng, batch_size)
            x, y = torch.from_numpy(xb).to(dev), torch.from_numpy(yb).to(dev)
            opt.zero_grad(set_to_none=True)
            loss = loss_at(x, y)
            loss.backward()
            opt.first_step(zero_grad=True)
            with _frozen_batchnorm_stats(model):
                loss_at(x, y).backward()
            opt.second_step(zero_grad=True)
            step += 1
            record: dict[str, Any] = {"step": step, "loss": float(loss.detach())}
            if not np.isfinite(record["loss"]):
                raise InputError(f"segmenter training diverged at step {step} (loss "
                                 f"{record['loss']})", path=ckpt_path,
                                 hint="lower the learning rate")
            if step % val_every == 0 or step == steps:
                record["val_iou"], record["val_loss"] = _evaluate(model, val, batch_size,
                                                                  autocast)
                bar.set_postfix(loss=f"{record['loss']:.3f}", val_iou=f"{record['val_iou']:.3f}")
                log.info("segmenter step %d/%d: loss %.4f, val loss %.4f, val mask IoU %.3f",
                         step, steps, record["loss"], record["val_loss"], record["val_iou"])
                _append_metrics(metrics_path, record)
                save()
            else:
                bar.set_postfix(loss=f"{record['loss']:.3f}")
                _append_metrics(metrics_path, record)
            bar.update(1)
    finally:
        bar.close()
    return ckpt_path
