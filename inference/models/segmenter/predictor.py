"""Run the Local Segmenter on a frame: every person's soft mask at full resolution."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import torch

from inference.errors import InputError
from inference.models.segmenter.checkpoint import load_network
from inference.models.segmenter.crops import paste_back
from inference.models.segmenter.inputs import PersonInput, person_input, skip_reason
from inference.models.segmenter.network import LocalSegmenterNet

log = logging.getLogger(__name__)

#: One person as the predictor takes it: ``(bbox (x, y, w, h), keypoints (17, 3) or None)``.
Person = tuple[tuple[float, float, float, float], np.ndarray | None]


class LocalSegmenter:
    """Soft person masks from a frame plus each person's box and joints.

    Args:
        network: a :class:`LocalSegmenterNet` (put in eval mode and moved to ``device``).
        device: ``"cpu"``, ``"cuda"`` or a ``torch.device``.
        batch_size: persons per forward pass.
    """

    def __init__(self, network: LocalSegmenterNet, *, device: str | torch.device = "cpu",
                 batch_size: int = 8) -> None:
        if batch_size < 1:
            raise InputError(f"LocalSegmenter batch_size = {batch_size} must be >= 1")
        self.device = torch.device(device)
        self.network = network.to(self.device).eval()
        self.config = network.config
        self.batch_size = int(batch_size)

    @classmethod
    def from_checkpoint(cls, path: str | Path, *, device: str | torch.device = "cpu",
                        batch_size: int = 8) -> LocalSegmenter:
        """Load a checkpoint written by :func:`inference.train.segmenter.train_segmenter`."""
        net, _ = load_network(path, device)
        return cls(net, device=device, batch_size=batch_size)

    def _autocast(self):
        if self.device.type == "cuda":
            dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
            return torch.autocast("cuda", dtype=dtype)
        return nullcontext()

    def predict_crops(self, inputs: Sequence[PersonInput]) -> list[np.ndarray]:
        """Network probabilities in crop space: ``(S, S)`` float32 in ``[0, 1]`` per input."""
        out: list[np.ndarray] = []
        with torch.inference_mode():
            for start in range(0, len(inputs), self.batch_size):
                chunk = inputs[start:start + self.batch_size]
                x = torch.from_numpy(np.stack([p.tensor for p in chunk])).to(self.device)
                with self._autocast():
                    logits = self.network(x)
                probs = torch.sigmoid(logits.float())[:, 0].cpu().numpy()
                out.extend(np.asarray(p, dtype=np.float32) for p in probs)
        return out

    def predict(self, image: np.ndarray, persons: Sequence[Person]) -> list[np.ndarray]:
        """Soft masks of the given persons.

        Args:
            image: ``(H, W, 3)`` uint8 RGB full-resolution frame.
            persons: ``[(bbox, keypoints), ...]``; ``bbox`` is ``(x, y, w, h)`` and
                ``keypoints`` ``(17, 3)`` ``(x, y, v)`` in frame coordinates (or ``None``).

        Returns:
            One ``(H, W)`` float32 alpha in ``[0, 1]`` per person, in order.  A person whose box
            is too small (or not finite) gets an all-zero alpha; the reason is logged.
        """
        image = np.asarray(image)
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise InputError(f"LocalSegmenter.predict needs an (H, W, 3) uint8 RGB frame, "
                             f"got {image.shape} {image.dtype}")
        hw = image.shape[:2]
        alphas: list[np.ndarray | None] = [None] * len(persons)
        todo: list[tuple[int, PersonInput]] = []
        for i, (bbox, keypoints) in enumerate(persons):
            why = skip_reason(bbox, self.config)
            if why is not None:
                log.info("segmenter: skipping person %d: %s", i, why)
                alphas[i] = np.zeros(hw, dtype=np.float32)
                continue
            todo.append((i, person_input(image, bbox, keypoints, self.config)))
        probs = self.predict_crops([p for _, p in todo])
        for (i, p), prob in zip(todo, probs):
            alphas[i] = paste_back(prob, p.window, hw)
        return alphas  # type: ignore[return-value]
