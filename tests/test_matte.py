"""build_alpha's feather blurs only around the persons: identical to blurring the whole frame."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from effects.matte import build_alpha


@pytest.mark.parametrize("feather", [0.7, 1.5, 4.0])
@pytest.mark.parametrize("where", ["inside", "touching_edges", "two_apart"])
def test_feather_equals_full_frame_blur(feather, where):
    h, w = 90, 130
    m1, m2 = np.zeros((h, w), np.uint8), np.zeros((h, w), np.uint8)
    if where == "inside":
        cv2.circle(m1, (60, 45), 17, 1, -1)
    elif where == "touching_edges":
        m1[:30, :25] = 1
        m2[70:, 100:] = 1
    else:
        cv2.circle(m1, (20, 20), 9, 1, -1)
        cv2.ellipse(m2, (100, 70), (15, 9), 30, 0, 360, 1, -1)
    hard = ((m1 | m2) * 255).astype(np.uint8)
    expected = cv2.GaussianBlur(hard, (0, 0), sigmaX=feather, borderType=cv2.BORDER_REPLICATE)
    got = build_alpha([m1, m2.astype(bool)], refine="feather", feather_px=feather)
    np.testing.assert_array_equal(got, expected)


def test_hard_matte_and_empty():
    m = np.zeros((8, 9), bool)
    m[2:5, 3:7] = True
    assert set(np.unique(build_alpha([m], refine="none"))) == {0, 255}
    assert not build_alpha([np.zeros((8, 9), bool)], refine="feather").any()
    assert build_alpha([], shape=(4, 5)).shape == (4, 5)
