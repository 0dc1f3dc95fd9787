"""Learned models of humanfx: the Local Segmenter and the global pose tracker.

Importing this package imports nothing heavy; each model lives in its own subpackage
(``inference.models.segmenter``, ``inference.models.pose_tracker``) and needs PyTorch.
"""
