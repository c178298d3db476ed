"""Coarse-to-fine minimum cut of the classical engine's energy (:mod:`sam_model.classic.graph`).

A cut over the whole working grid (``h x w``, longest side ``WORK_SIZE``) costs PyMaxflow 0.02-0.3 s on
natural images, all of it with the GIL held. A cut can therefore be made in two steps:

1. the whole energy on a *coarse grid* (2 or 4 times smaller on each side, :data:`COARSE_FACTORS`: costs
   summed over the fine pixels each coarse pixel covers, pairwise and star weights scaled by the factor,
   since a boundary is that many times shorter there);
2. the energy on the working grid restricted to a band of ``BAND`` pixels either side of the coarse boundary,
   the rest held at the coarse labels (:func:`sam_model.classic.graph.solve` with ``free`` / ``fixed``).

The looser and tighter candidates are cuts with a bias, made in a band of ``VARIANT_BAND`` pixels around
the cut (bias cuts are nested: the looser one contains the cut, the tighter one lies inside it).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from sam_model.classic import graph as cg
from sam_model.classic.io import signed_distance

COARSE_FACTORS = (2, 4)
"""Working-grid pixels per coarse-grid pixel along each side, of each coarse grid kept per image."""

MIN_COARSE_SIDE = 24
"""A coarse grid whose longest side would be shorter is not made (the working grid is cut instead)."""

BAND = 4.0
"""Working-grid pixels either side of the coarse boundary that the fine cut may relabel."""

VARIANT_BAND = 8.0
"""Working-grid pixels either side of the cut that the looser and tighter cuts may relabel."""


@dataclass(frozen=True)
class Grids:
    """Pairwise weights of the working grid (``h x w``) and of its coarse grids, by factor."""

    fine: cg.PairwiseWeights
    coarse: dict[int, cg.PairwiseWeights]

    @property
    def shape(self) -> tuple[int, int]:
        """``(h, w)`` of the working grid."""
        first = self.fine.weights[0]
        return int(first.shape[0]), int(first.shape[1])


def make_grids(image: np.ndarray, fine: cg.PairwiseWeights) -> Grids:
    """:class:`Grids` of a working-grid image (``h x w x 3`` uint8 RGB) whose pairwise weights are ``fine``."""
    h, w = image.shape[:2]
    coarse: dict[int, cg.PairwiseWeights] = {}
    for factor in COARSE_FACTORS:
        ch, cw = round(h / factor), round(w / factor)
        if max(ch, cw) >= MIN_COARSE_SIDE and min(ch, cw) >= 2:
            small = cv2.resize(image, (cw, ch), interpolation=cv2.INTER_AREA)
            coarse[factor] = cg.pairwise_weights(cv2.cvtColor(small, cv2.COLOR_RGB2LAB))
    return Grids(fine, coarse)


@dataclass(frozen=True)
class Energy:
    """The energy of one cut on the working grid (``h x w``): see :mod:`sam_model.classic.graph`.

    Attributes:
        cost_fg: ``h x w`` float32 cost of labelling each pixel object (hard constraints: ``graph.HARD``).
        cost_bg: ``h x w`` float32 cost of labelling it background.
        smoothness: factor on the pairwise weights.
        centres: ``K x 2`` ``(x, y)`` positions of the positive clicks (the star centres), ``K >= 0``.
        star: ``h x w`` star targets of ``centres`` (``graph.star_targets``), ``None`` when ``K = 0``.
        star_weight: cost of each violated star edge.
    """

    cost_fg: np.ndarray
    cost_bg: np.ndarray
    smoothness: float
    centres: np.ndarray
    star: np.ndarray | None
    star_weight: float


def cut(grids: Grids, energy: Energy, *, factor: int = 1, refine: bool = True) -> np.ndarray:
    """Minimum cut of ``energy``, coarse to fine (see the module docstring).

    Args:
        grids: the image's :class:`Grids`.
        energy: the energy on the working grid.
        factor: the coarse grid to cut first (one of :data:`COARSE_FACTORS`); 1, or a grid the image does not
            have: the working grid is cut in one step.
        refine: after the coarse cut, cut the working grid in the band around its boundary; ``False``: return
            the coarse cut, upsampled (enough to fit colour models).

    Returns:
        ``h x w`` bool labelling (``True`` = object).
    """
    e = energy
    pairwise = grids.coarse.get(factor)
    if pairwise is None:
        return cg.solve(e.cost_fg, e.cost_bg, grids.fine, e.smoothness, e.star, e.star_weight)
    h, w = grids.shape
    ch, cw = pairwise.weights[0].shape
    area = (h * w) / (ch * cw)
    step = float(np.sqrt(area))  # a coarse boundary is this many times shorter
    scale = np.array([cw / w, ch / h])
    star = cg.star_targets((ch, cw), (e.centres + 0.5) * scale - 0.5) if e.star is not None else None
    coarse = cg.solve(
        cv2.resize(e.cost_fg, (cw, ch), interpolation=cv2.INTER_AREA) * area,
        cv2.resize(e.cost_bg, (cw, ch), interpolation=cv2.INTER_AREA) * area,
        pairwise,
        e.smoothness * step,
        star,
        e.star_weight * step,
    )
    # Signed distance of the coarse cut on the working grid, in working-grid pixels.
    up = cv2.resize(signed_distance(coarse), (w, h), interpolation=cv2.INTER_LINEAR) * (h / ch)
    if not refine:
        return up > 0
    free = np.abs(up) <= BAND
    return cg.solve(
        e.cost_fg, e.cost_bg, grids.fine, e.smoothness, e.star, e.star_weight, free=free, fixed=up > 0
    )


def variant(grids: Grids, energy: Energy, base: np.ndarray, bias: float) -> np.ndarray:
    """The cut of ``energy`` with ``bias`` added to ``cost_bg``, within :data:`VARIANT_BAND` pixels of ``base``.

    ``base``: ``h x w`` bool, the unbiased cut. A positive bias can only grow the object (the looser cut),
    a negative one only shrink it (the tighter cut), so only that side of the band is relabelled.
    """
    e = energy
    near = np.abs(signed_distance(base)) <= VARIANT_BAND
    free = near & (~base if bias > 0 else base)
    return cg.solve(
        e.cost_fg,
        e.cost_bg,
        grids.fine,
        e.smoothness,
        e.star,
        e.star_weight,
        bias=bias,
        free=free,
        fixed=base,
    )
