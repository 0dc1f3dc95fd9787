"""Training the Global Pose Tracker on pairs of consecutive synthetic frames.

:func:`train_pose_tracker` runs AdamW (lr 1e-4, as the seed) for a number of steps, logs every
loss component, and keeps one resumable checkpoint in ``out_dir`` (written atomically every
``checkpoint_every`` steps and at the end).  Runs are deterministic for a given seed: the
weights are initialised from ``seed`` and the batch of step ``n`` is drawn from a generator
seeded with ``(seed, n)``, so a resumed run sees the same batches an uninterrupted one would.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from inference.errors import InputError

from .checkpoint import checkpoint_info, load_state, read_checkpoint, save_checkpoint
from .data import (
    AugmentConfig,
    PairSource,
    SyntheticPairSource,
    SynthSourceConfig,
    collate,
    make_sample,
)
from .letterbox import as_size
from .losses import LossWeights, pose_tracker_loss
from .network import PoseNetConfig, PoseTrackerNet
from .targets import TargetConfig

log = logging.getLogger(__name__)

#: File name of the training checkpoint inside ``out_dir``.
CHECKPOINT_NAME = "pose_tracker.pt"


@dataclass(frozen=True)
class PoseTrainConfig:
    """Everything about a training run except its length, size, seed and device.

    Attributes:
        net: network architecture.
        loss: loss weights.
        targets: target drawing.
        augment: augmentations, including CenterTrack's ``C_{t-1}`` noise.
        synth: synthetic scenes used when no ``source`` is given.
        lr: AdamW learning rate.
        weight_decay: AdamW weight decay.
        grad_clip: maximum gradient norm (0 disables clipping).
        log_every: steps between loss log lines.
        checkpoint_every: steps between checkpoint writes.
    """

    net: PoseNetConfig = field(default_factory=PoseNetConfig)
    loss: LossWeights = field(default_factory=LossWeights)
    targets: TargetConfig = field(default_factory=TargetConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    synth: SynthSourceConfig = field(default_factory=SynthSourceConfig)
    lr: float = 1e-4
    weight_decay: float = 1e-4
    grad_clip: float = 35.0
    log_every: int = 10
    checkpoint_every: int = 200


@dataclass
class TrainResult:
    """Outcome of :func:`train_pose_tracker`.

    Attributes:
        checkpoint: path of the checkpoint written last.
        step: optimizer steps done in total (across resumed runs).
        history: loss components of each step run by this call (``{"step", "total", ...}``).
    """

    checkpoint: Path
    step: int
    history: list[dict[str, float]]


def _to_tensors(batch: dict[str, np.ndarray], device: torch.device) -> dict[str, torch.Tensor]:
    return {k: torch.from_numpy(v).to(device, non_blocking=True) for k, v in batch.items()}


def train_pose_tracker(
    config: PoseTrainConfig,
    *,
    out_dir: str | Path,
    device: str | torch.device = "cpu",
    steps: int,
    batch_size: int,
    input_size: int | tuple[int, int],
    seed: int,
    resume: bool = True,
    source: PairSource | None = None,
    data_seed: int | None = None,
) -> TrainResult:
    """Train (or continue training) the pose tracker.

    Args:
        config: run configuration.
        out_dir: folder of the checkpoint ``pose_tracker.pt`` (created if missing).
        device: torch device; on CUDA the forward pass runs under bfloat16 autocast.
        steps: total optimizer steps wanted; a resumed run does only the missing ones.
        batch_size: frame pairs per step.
        input_size: network input ``(width, height)`` or one int for a square.
        seed: seed of the weights and of every batch.
        resume: continue from ``out_dir``'s checkpoint when there is one (else start afresh
            and overwrite it).
        source: frame pairs to sample; synthetic scenes from ``config.synth`` when ``None``.
        data_seed: seed of the first synthetic scene (default ``seed``); keep the scenes used
            for evaluation out of this range.

    Returns:
        A :class:`TrainResult`.

    Raises:
        InputError: the checkpoint to resume is unreadable or of another architecture.
    """
    if steps < 0 or batch_size < 1:
        raise InputError("training needs steps >= 0 and batch_size >= 1")
    size = as_size(input_size)
    device = torch.device(device)
    out_dir = Path(out_dir)
    ckpt_path = out_dir / CHECKPOINT_NAME
    torch.manual_seed(seed)
    model = PoseTrackerNet(config.net).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    start = 0
    if resume and ckpt_path.exists():
        data = read_checkpoint(ckpt_path, map_location=device)
        info = checkpoint_info(ckpt_path, data)
        if info.net != config.net:
            raise InputError(
                f"checkpoint was trained with another architecture ({info.net.backbone}, "
                f"neck {list(info.net.neck_channels)}, head {info.net.head_channels})",
                path=ckpt_path,
                hint="use another out_dir, pass resume=False, or train with the same settings",
            )
        load_state(model, data["model"], ckpt_path)
        if "optimizer" in data:
            try:
                opt.load_state_dict(data["optimizer"])
            except (ValueError, KeyError, RuntimeError) as exc:
                raise InputError(
                    f"checkpoint optimizer state does not fit ({exc})",
                    path=ckpt_path,
                    hint="pass resume=False",
                ) from exc
        start = info.step
        log.info("resuming pose-tracker training from step %d of %s", start, ckpt_path)
    if source is None:
        source = SyntheticPairSource(
            config.synth, seed=seed if data_seed is None else data_seed, max_frame_gap=config.augment.max_frame_gap
        )

    def save(step: int) -> Path:
        return save_checkpoint(
            ckpt_path,
            {
                "net": config.net.to_dict(),
                "input_size": list(size),
                "step": step,
                "seed": seed,
                "model": model.state_dict(),
                "optimizer": opt.state_dict(),
            },
        )

    history: list[dict[str, float]] = []
    amp = device.type == "cuda"
    model.train()
    t0 = time.perf_counter()
    for step in range(start, steps):
        rng = np.random.default_rng([seed, step])
        samples = [
            make_sample(source.sample(rng), size, rng, aug=config.augment, targets=config.targets)
            for _ in range(batch_size)
        ]
        batch = _to_tensors(collate(samples), device)
        with torch.autocast("cuda", torch.bfloat16, enabled=amp):
            outputs = model(batch["image"], batch["pre_image"], batch["pre_hm"])
        loss, terms = pose_tracker_loss(outputs, batch, config.loss)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"pose-tracker loss is {float(loss)} at step {step}")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if config.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        opt.step()
        history.append({"step": float(step + 1), **terms})
        done = step + 1
        if done % config.log_every == 0 or done == steps:
            rate = (done - start) / max(time.perf_counter() - t0, 1e-9)
            log.info(
                "step %d/%d  %s  (%.2f steps/s)",
                done,
                steps,
                "  ".join(f"{k} {v:.4f}" for k, v in terms.items()),
                rate,
            )
        if done % config.checkpoint_every == 0 and done != steps:
            save(done)
    model.eval()
    if start < steps or not ckpt_path.exists():
        save(max(steps, start))
    return TrainResult(ckpt_path, max(steps, start), history)
