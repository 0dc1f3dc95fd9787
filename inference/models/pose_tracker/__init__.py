"""The Global Pose Tracker: CenterTrack with CenterNet's multi-person pose heads (needs PyTorch).

* :mod:`.network` – :class:`PoseTrackerNet` (current frame + previous frame + previous centre
  heatmap in; centre, size, offset, tracking and joint heads out, stride 4).
* :mod:`.targets` / :mod:`.losses` – CenterNet targets, focal and L1 losses.
* :mod:`.decode` – peaks to people, back to frame pixels through :mod:`.letterbox`.
* :mod:`.tracker` – :class:`GlobalPoseTracker`, online tracking with stable ids.
* :mod:`.train` – :func:`train_pose_tracker` on synthetic frame pairs; :mod:`.checkpoint`.
"""

from .checkpoint import CheckpointInfo, load_pose_tracker
from .decode import Detection, decode, to_frame
from .letterbox import Letterbox
from .losses import LossWeights, pose_tracker_loss
from .network import PoseNetConfig, PoseTrackerNet
from .tracker import GlobalPoseTracker, PoseDetection, PoseTrackerConfig
from .train import PoseTrainConfig, TrainResult, train_pose_tracker

__all__ = [
    "CheckpointInfo",
    "Detection",
    "GlobalPoseTracker",
    "Letterbox",
    "LossWeights",
    "PoseDetection",
    "PoseNetConfig",
    "PoseTrackerConfig",
    "PoseTrackerNet",
    "PoseTrainConfig",
    "TrainResult",
    "decode",
    "load_pose_tracker",
    "pose_tracker_loss",
    "to_frame",
    "train_pose_tracker",
]
