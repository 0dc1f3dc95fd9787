"""Constant-velocity Kalman filter on person boxes, batched over tracks.

State (8,) float64: ``(cx, cy, w, h, vcx, vcy, vw, vh)`` -- box centre, width and height in
pixels of the current frame and their per-frame velocities.  Measurement (4,): ``(cx, cy, w, h)``.
Noise scales with the box size (as in DeepSORT/ByteTrack/BoT-SORT), so one set of weights fits
people near and far.
"""

from __future__ import annotations

import numpy as np

_NDIM = 4
_MOTION = np.eye(2 * _NDIM)
_MOTION[:_NDIM, _NDIM:] = np.eye(_NDIM)
_OBSERVE = np.eye(_NDIM, 2 * _NDIM)


def xywh_to_cxcywh(boxes: np.ndarray) -> np.ndarray:
    """``(..., 4)`` top-left ``x, y, w, h`` -> ``(..., 4)`` centre ``cx, cy, w, h`` (float64)."""
    b = np.asarray(boxes, dtype=np.float64)
    out = b.copy()
    out[..., 0] = b[..., 0] + 0.5 * b[..., 2]
    out[..., 1] = b[..., 1] + 0.5 * b[..., 3]
    return out


def cxcywh_to_xywh(boxes: np.ndarray) -> np.ndarray:
    """``(..., 4)`` centre ``cx, cy, w, h`` -> ``(..., 4)`` top-left ``x, y, w, h`` (float64)."""
    b = np.asarray(boxes, dtype=np.float64)
    out = b.copy()
    out[..., 0] = b[..., 0] - 0.5 * b[..., 2]
    out[..., 1] = b[..., 1] - 0.5 * b[..., 3]
    return out


def warp_boxes(boxes: np.ndarray, affine: np.ndarray) -> np.ndarray:
    """Map ``(N, 4)`` xywh boxes through a ``(2, 3)`` similarity/partial affine.

    The centre is mapped exactly; width and height are scaled by the affine's isotropic scale
    ``sqrt(|det A[:, :2]|)`` (a partial affine has no shear).
    """
    b = xywh_to_cxcywh(np.asarray(boxes, dtype=np.float64).reshape(-1, 4))
    a = np.asarray(affine, dtype=np.float64)
    scale = float(np.sqrt(abs(np.linalg.det(a[:, :2]))))
    b[:, :2] = b[:, :2] @ a[:, :2].T + a[:, 2]
    b[:, 2:] *= scale
    return cxcywh_to_xywh(b)


class BoxKalmanFilter:
    """Batched constant-velocity Kalman filter; arrays are passed in and returned, no state.

    Args:
        position_noise: std of position/size noise as a fraction of the box size.
        velocity_noise: std of velocity process noise as a fraction of the box size.
    """

    def __init__(self, position_noise: float = 1.0 / 20.0, velocity_noise: float = 1.0 / 160.0):
        self.position_noise = float(position_noise)
        self.velocity_noise = float(velocity_noise)

    def initiate(self, measurement: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """New track from a ``(4,)`` cxcywh measurement -> ``mean (8,)``, ``cov (8, 8)``."""
        m = np.asarray(measurement, dtype=np.float64)
        mean = np.concatenate([m, np.zeros(_NDIM)])
        w, h = m[2], m[3]
        p, v = self.position_noise, self.velocity_noise
        std = np.array([2 * p * w, 2 * p * h, 2 * p * w, 2 * p * h,
                        10 * v * w, 10 * v * h, 10 * v * w, 10 * v * h])
        return mean, np.diag(std**2)

    def predict(self, mean: np.ndarray, cov: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One frame ahead for ``(N, 8)`` means and ``(N, 8, 8)`` covariances."""
        mean = np.asarray(mean, dtype=np.float64).reshape(-1, 2 * _NDIM)
        cov = np.asarray(cov, dtype=np.float64).reshape(-1, 2 * _NDIM, 2 * _NDIM)
        w = np.maximum(mean[:, 2], 1e-3)
        h = np.maximum(mean[:, 3], 1e-3)
        p, v = self.position_noise, self.velocity_noise
        std = np.stack([p * w, p * h, p * w, p * h, v * w, v * h, v * w, v * h], axis=1)
        q = np.zeros_like(cov)
        idx = np.arange(2 * _NDIM)
        q[:, idx, idx] = std**2
        mean = mean @ _MOTION.T
        cov = _MOTION @ cov @ _MOTION.T + q
        return mean, cov

    def _measurement_cov(self, mean: np.ndarray) -> np.ndarray:
        p = self.position_noise
        w, h = mean[2], mean[3]
        return np.diag(np.array([p * w, p * h, p * w, p * h]) ** 2)

    def update(self, mean: np.ndarray, cov: np.ndarray,
               measurement: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Correct one track's ``(8,)`` mean / ``(8, 8)`` cov with a ``(4,)`` cxcywh box."""
        z = np.asarray(measurement, dtype=np.float64)
        proj_mean = _OBSERVE @ mean
        proj_cov = _OBSERVE @ cov @ _OBSERVE.T + self._measurement_cov(mean)
        gain = np.linalg.solve(proj_cov, _OBSERVE @ cov).T  # (8, 4); proj_cov is symmetric
        new_mean = mean + gain @ (z - proj_mean)
        new_cov = cov - gain @ proj_cov @ gain.T
        return new_mean, 0.5 * (new_cov + new_cov.T)

    @staticmethod
    def warp(mean: np.ndarray, cov: np.ndarray,
             affine: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Apply a camera motion (``(2, 3)`` partial affine, previous -> current frame pixels).

        ``mean (N, 8)`` / ``cov (N, 8, 8)``: centres are mapped through the affine, sizes and
        size velocities scaled by its scale, centre velocities rotated and scaled.
        """
        mean = np.asarray(mean, dtype=np.float64).reshape(-1, 2 * _NDIM)
        cov = np.asarray(cov, dtype=np.float64).reshape(-1, 2 * _NDIM, 2 * _NDIM)
        a = np.asarray(affine, dtype=np.float64)
        rot = a[:, :2]
        scale = float(np.sqrt(abs(np.linalg.det(rot))))
        big = np.zeros((2 * _NDIM, 2 * _NDIM))
        big[0:2, 0:2] = rot
        big[2:4, 2:4] = scale * np.eye(2)
        big[4:6, 4:6] = rot
        big[6:8, 6:8] = scale * np.eye(2)
        new_mean = mean @ big.T
        new_mean[:, :2] += a[:, 2]
        new_cov = big @ cov @ big.T
        return new_mean, new_cov
