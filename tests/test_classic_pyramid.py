"""The classical engine's fast cut and upsampling: band cuts, coarse-to-fine cuts, variants, cropped filter."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from sam_model.classic import graph as cg
from sam_model.classic import pyramid
from sam_model.classic.io import signed_distance
from sam_model.classic.upsample import upsample


def _energy(h: int = 48, w: int = 64, seed: int = 0) -> tuple[np.ndarray, np.ndarray, cg.PairwiseWeights]:
    """A noisy image with a bright disc, its colour costs (continuous, so the cut has no ties) and weights."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    disc = np.hypot(yy - h / 2, xx - w / 3) < h / 4
    img = np.where(disc[..., None], 190.0, 70.0) + rng.normal(0, 25, (h, w, 3))
    img = img.clip(0, 255).astype(np.uint8)
    grey = img.mean(axis=2) / 255.0
    cost_fg = (np.abs(grey - 0.75) * 4 + rng.uniform(0, 0.01, (h, w))).astype(np.float32)
    cost_bg = (np.abs(grey - 0.27) * 4 + rng.uniform(0, 0.01, (h, w))).astype(np.float32)
    return cost_fg, cost_bg, cg.pairwise_weights(img)


@pytest.mark.parametrize("with_star", [False, True])
def test_band_cut_equals_the_whole_cut(with_star: bool) -> None:
    cost_fg, cost_bg, pairwise = _energy()
    star = cg.star_targets(cost_fg.shape, np.array([[21.0, 24.0]])) if with_star else None
    whole = cg.solve(cost_fg, cost_bg, pairwise, 1.5, star, 0.5)
    assert 0.05 < whole.mean() < 0.5  # a real cut, neither empty nor everything
    everything = np.ones(whole.shape, bool)
    assert np.array_equal(cg.solve(cost_fg, cost_bg, pairwise, 1.5, star, 0.5, free=everything), whole)
    rng = np.random.default_rng(1)
    for _ in range(3):
        free = rng.random(whole.shape) < 0.6
        # Pixels held at the optimum: the free ones find it again (held ends become unary costs).
        band = cg.solve(cost_fg, cost_bg, pairwise, 1.5, star, 0.5, free=free, fixed=whole)
        assert np.array_equal(band, whole)
    # A free box inside the grid: the cut is made on that box (one pixel wider) alone, star edges included.
    free = np.zeros(whole.shape, bool)
    free[10:30, 5:40] = True
    assert np.array_equal(cg.solve(cost_fg, cost_bg, pairwise, 1.5, star, 0.5, free=free, fixed=whole), whole)
    # Held at a wrong labelling, the held pixels keep it and only the free ones move.
    wrong = ~whole
    free = np.zeros(whole.shape, bool)
    free[:, :20] = True
    moved = cg.solve(cost_fg, cost_bg, pairwise, 1.5, star, 0.5, free=free, fixed=wrong)
    assert np.array_equal(moved[~free], wrong[~free]) and not np.array_equal(moved[free], wrong[free])


def test_bias_matches_shifted_costs() -> None:
    cost_fg, cost_bg, pairwise = _energy(seed=2)
    for bias in (0.5, -0.5):
        assert np.array_equal(
            cg.solve(cost_fg, cost_bg, pairwise, 1.5, None, 0.0, bias=bias),
            cg.solve(cost_fg, cost_bg + np.float32(bias), pairwise, 1.5, None, 0.0),
        )


def _scene(h: int = 120, w: int = 160) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[0:h, 0:w]
    disc = np.hypot(yy - h / 2, xx - w * 0.4) < h * 0.3
    img = np.where(disc[..., None], (200, 60, 50), (80, 110, 90)) + rng.normal(0, 15, (h, w, 3))
    return img.clip(0, 255).astype(np.uint8), disc


def test_coarse_to_fine_cut_matches_the_whole_cut() -> None:
    img, disc = _scene()
    lab = cv2.cvtColor(img, cv2.COLOR_RGB2LAB)
    grids = pyramid.make_grids(img, cg.pairwise_weights(lab))
    assert set(grids.coarse) == {2, 4} and grids.coarse[2].weights[0].shape == (60, 80)
    red = img[..., 0].astype(np.float32)
    cost_fg = np.maximum(0, (150 - red) / 40).astype(np.float32)
    cost_bg = np.maximum(0, (red - 130) / 40).astype(np.float32)
    centres = np.array([[64.0, 60.0]])
    star = cg.star_targets(disc.shape, centres)
    energy = pyramid.Energy(cost_fg, cost_bg, 3.0, centres, star, 2.0)
    whole = pyramid.cut(grids, energy, factor=1)
    for factor in (2, 4):
        fast = pyramid.cut(grids, energy, factor=factor)
        rough = pyramid.cut(grids, energy, factor=factor, refine=False)
        assert _iou(fast, whole) > 0.98 and _iou(rough, whole) > 0.9
    assert _iou(whole, disc) > 0.95
    looser = pyramid.variant(grids, energy, whole, 5.0)
    tighter = pyramid.variant(grids, energy, whole, -5.0)
    assert np.all(looser >= whole) and np.all(tighter <= whole)
    assert looser.sum() > whole.sum() > tighter.sum()


def test_small_grids_have_no_coarse_level() -> None:
    img = np.zeros((30, 40, 3), np.uint8)
    grids = pyramid.make_grids(img, cg.pairwise_weights(img))
    assert 4 not in grids.coarse and grids.shape == (30, 40)


def test_cropped_upsampling_equals_the_whole_filter() -> None:
    img, disc = _scene(360, 640)
    height, width = 1080, 1920
    big = cv2.resize(img, (width, height), interpolation=cv2.INTER_CUBIC)
    guide = cv2.cvtColor(big, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0
    guide_low = cv2.resize(guide, (640, 360), interpolation=cv2.INTER_AREA)
    work = cv2.resize(disc.astype(np.uint8), (320, 180), interpolation=cv2.INTER_NEAREST) > 0
    sd = signed_distance(work)
    mask = upsample(sd, (height, width), guide, guide_low, return_logits=False)
    logits = upsample(sd, (height, width), guide, guide_low, return_logits=True)
    assert mask.shape == (height, width) and mask.dtype == bool and logits.dtype == np.float32
    # The crop filters only near the boundary: away from it the labels are the cut's, as the whole filter's.
    assert np.count_nonzero(mask != (logits > 0)) <= 0.0001 * mask.size
    truth = cv2.resize(disc.astype(np.uint8), (width, height), interpolation=cv2.INTER_NEAREST) > 0
    assert _iou(mask, truth) > 0.97
    empty = upsample(np.full((180, 320), -5.0, np.float32), (height, width), guide, guide_low, False)
    assert not empty.any()


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.count_nonzero(a & b) / max(1, np.count_nonzero(a | b)))
