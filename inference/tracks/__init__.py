"""Per-person tracks: the data model and the file formats that carry it."""

from inference.tracks.model import (
    COCO_KEYPOINTS,
    COCO_SKELETON,
    NUM_KEYPOINTS,
    PERSON_CATEGORY_ID,
    V_NONE,
    V_OCCLUDED,
    V_VISIBLE,
    PersonRecord,
    Track,
    TrackSet,
    VideoInfo,
    keypoint_index,
)

__all__ = [
    "COCO_KEYPOINTS", "COCO_SKELETON", "NUM_KEYPOINTS", "PERSON_CATEGORY_ID",
    "V_NONE", "V_OCCLUDED", "V_VISIBLE",
    "PersonRecord", "Track", "TrackSet", "VideoInfo", "keypoint_index",
]  # fmt: skip
