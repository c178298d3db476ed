"""The fast outline tracer behind every export: exact on any mask (OpenCV, checked, shapely fallback)."""

from __future__ import annotations

import numpy as np
import pytest

from annotator.core.formats.tracing import _traced, bridged, decode_crop, mask_rings, rasterise
from annotator.core.masks import Mask


def _union(parts, h: int, w: int) -> np.ndarray:
    """Each part filled, its own holes removed, then the union (a part may lie in another's hole)."""
    out = np.zeros((h, w), bool)
    for exterior, holes in parts:
        out |= rasterise([exterior], h, w) & ~rasterise(holes, h, w)
    return out


@pytest.mark.parametrize("seed", range(4))
def test_rings_rasterise_to_the_mask(seed: int) -> None:
    rng = np.random.default_rng(seed)
    for _ in range(150):
        h, w = (int(v) for v in rng.integers(1, 20, 2))
        mask = rng.random((h, w)) < rng.uniform(0.1, 0.9)
        parts = mask_rings(mask)
        assert np.array_equal(_union(parts, h, w), mask)
        rings = [bridged(exterior, holes) for exterior, holes in parts]
        assert np.array_equal(rasterise(rings, h, w), mask)  # holes kept by the zero-width cuts
    island = np.zeros((9, 9), bool)
    island[1:8, 1:8] = True
    island[2:7, 2:7] = False
    island[4, 4] = True  # a part inside another part's hole
    assert len(_traced(island)) == 2 and np.array_equal(_union(mask_rings(island), 9, 9), island)


def test_the_opencv_trace_is_exact_on_ordinary_shapes_and_pixels_touching_at_corners_fall_back() -> None:
    ring = np.zeros((30, 30), bool)
    ring[5:25, 5:25] = True
    ring[10:20, 10:20] = False
    ring[0, 0] = True  # one pixel, a second part
    parts = _traced(ring)
    assert len(parts) == 2 and sorted(len(p[1]) for p in parts) == [0, 1]
    assert np.array_equal(_union(parts, 30, 30), ring)
    checker = np.indices((6, 6)).sum(axis=0) % 2 == 0  # parts touching only at corners
    assert np.array_equal(_union(mask_rings(checker), 6, 6), checker)


def test_decode_crop_is_the_mask_at_its_box() -> None:
    mask = np.zeros((40, 50), bool)
    mask[7:19, 11:30] = True
    mask[9, 12] = False
    crop = decode_crop(Mask.from_array(mask))
    assert crop.dtype == bool and np.array_equal(crop, mask[7:19, 11:30])
    rng = np.random.default_rng(5)
    for _ in range(100):  # random masks, some touching the borders, some full
        h, w = (int(v) for v in rng.integers(1, 30, 2))
        mask = rng.random((h, w)) < rng.uniform(0.05, 1.0)
        if not mask.any():
            continue
        ys, xs = np.nonzero(mask)
        box = mask[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
        assert np.array_equal(decode_crop(Mask.from_array(mask)), box)
