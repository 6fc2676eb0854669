"""The shared test helpers (Testing/helpers.py) build what they say."""

from __future__ import annotations

import numpy as np

from helpers import make_image


def test_make_image_geometry():
    img = make_image(np.zeros((2, 3, 4)), spacing=(0.5, 1, 2), origin=(1, 2, 3))
    assert img.GetSize() == (4, 3, 2)
    assert img.TransformIndexToPhysicalPoint((1, 1, 1)) == (1.5, 3.0, 5.0)
