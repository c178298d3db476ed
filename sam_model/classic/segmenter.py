"""The classical (no-learning) engine, used when no SAM checkpoint is configured.

:class:`ClassicSegmenter` implements :class:`sam_model.protocol.Segmenter` with an interactive graph cut:

* ``set_image`` resizes the image to a working grid (longest side :data:`WORK_SIZE`), computes colour
  histogram bins and contrast-sensitive 8-neighbour weights (CIE Lab), and keeps a grey full-resolution guide
  for the edge-aware upsampling;
* ``predict`` builds colour models from the previous mask (decoded from ``mask_input``), the clicks and the
  box (or, for a first click, the image border as background), then minimises a graph-cut energy with the
  clicks as hard constraints, a soft star-convexity prior around the positive clicks, a spatial prior that
  pushes pixels nearer to a negative click than to any positive one towards background, and a consistency
  prior that keeps the previous mask except near the newest click. The cut is made coarse to fine
  (:mod:`sam_model.classic.pyramid`: a coarse grid, then a band around its boundary on the working grid),
  and the masks are upsampled with a fast guided filter (:mod:`sam_model.classic.upsample`).

Three candidates are returned with ``multimask_output``: the cut itself (best, first), a looser and a tighter
cut (a global bias towards object / background, within a band around the cut). Their scores are heuristic: the
first is the stability of the cut (IoU of the tighter and looser cuts), the others are lower.

PyMaxflow keeps the GIL while it cuts (up to tens of milliseconds per cut): an app that must stay responsive
runs the engine in a child process (:class:`sam_model.classic.process.ProcessSegmenter`).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from sam_model.classic import graph as cg
from sam_model.classic import pyramid
from sam_model.classic.io import (
    check_box,
    check_points,
    from_low_res,
    signed_distance,
    to_low_res,
)
from sam_model.classic.upsample import upsample
from sam_model.errors import EmbeddingError, NoImageError, PromptError
from sam_model.inputs import check_image, check_mask_input
from sam_model.low_res import LowResFrame
from sam_model.protocol import ImageEmbedding, Prediction

WORK_SIZE = 320
"""Longest side of the working grid, in pixels."""

GUIDE_MAX_PIXELS = 6_000_000
"""Above this many pixels the upsampling is bilinear only (the guided filter would cost too much)."""

ROUGH_FACTOR = 4
"""The first of a first click's two cuts (it only refits the colour models) is made on the grid this many
times coarser than the working grid (:mod:`sam_model.classic.pyramid`)."""

GUIDE_FACTOR = 2
"""The guided filter's coefficients are computed on a grid this many times finer than the working grid (at
most the image's) and resized to the image (the fast guided filter): full-resolution work is one multiply-add."""


@dataclass(frozen=True)
class _State:
    """Per-image state: the embedding, histogram bins and pairwise weights (working and coarse grids), the
    ``H x W`` float32 grey guide in [0, 1] for the upsampling and the same resized to the guided filter's grid
    (both ``None``: no edge-aware upsampling)."""

    embedding: ImageEmbedding
    bins: np.ndarray
    grids: pyramid.Grids
    guide: np.ndarray | None
    guide_low: np.ndarray | None


class ClassicSegmenter:
    """Interactive graph-cut segmenter (see the module docstring). Not thread-safe.

    Args:
        work_size: longest side of the working grid in pixels.
        smoothness: weight of the contrast-sensitive pairwise term.
        star_weight: cost of each violated star-convexity edge.
        consistency: cost per pixel of changing the previous mask far from the newest click.
        click_radius: radius of the hard-constraint disc around each click, working-grid pixels.
        seed_share: share of each colour model's sample mass given to the neighbourhoods of its clicks.
        voronoi: background cost of pixels nearer to a negative click than to the positive ones.
        coarse: the coarse grid (2 or 4 times coarser) a cut starts on; 1: the whole working grid at once
            (slower, up to 0.3 s of GIL-holding max-flow on a hard image).
    """

    VERSION = 2

    def __init__(
        self,
        *,
        work_size: int = WORK_SIZE,
        smoothness: float = 15.0,
        star_weight: float = 20.0,
        consistency: float = 4.0,
        click_radius: float = 3.0,
        seed_share: float = 0.3,
        voronoi: float = 5.0,
        coarse: int = 2,
    ) -> None:
        if work_size < 16:
            raise ValueError(f"work_size must be at least 16, got {work_size}")
        if coarse not in (1, *pyramid.COARSE_FACTORS):
            raise ValueError(f"coarse must be 1 or one of {pyramid.COARSE_FACTORS}, got {coarse}")
        self.work_size = int(work_size)
        self.smoothness = float(smoothness)
        self.star_weight = float(star_weight)
        self.consistency = float(consistency)
        self.click_radius = float(click_radius)
        self.seed_share = float(seed_share)
        self.voronoi = float(voronoi)
        self.coarse = int(coarse)
        self._state: _State | None = None

    # ----------------------------------------------------------------------------------------- protocol state
    @property
    def low_res_frame(self) -> LowResFrame:
        """The classical engine's logits use SAM's frame (longest side, padded bottom/right)."""
        return LowResFrame.LONGEST_SIDE

    @property
    def model_id(self) -> str:
        return f"classic-{self.VERSION}-w{self.work_size}"

    @property
    def is_image_set(self) -> bool:
        return self._state is not None

    def set_image(self, image: np.ndarray) -> None:
        """Compute the per-image state. ``image``: ``H x W x 3`` uint8 RGB (any size)."""
        image = check_image(image)
        height, width = image.shape[:2]
        scale = min(1.0, self.work_size / max(height, width))
        h, w = max(1, round(height * scale)), max(1, round(width * scale))
        small = (
            cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA) if (h, w) != (height, width) else image
        )
        lab = cv2.cvtColor(small, cv2.COLOR_RGB2LAB)
        pairwise = cg.pairwise_weights(lab)
        arrays = {"image": np.ascontiguousarray(small), "pairwise": np.stack(pairwise.weights)}
        if (h, w) != (height, width) and height * width <= GUIDE_MAX_PIXELS:
            arrays["guide"] = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
        self._install(ImageEmbedding(self.model_id, (height, width), (h, w), arrays))

    def reset_image(self) -> None:
        self._state = None

    def get_embedding(self) -> ImageEmbedding:
        if self._state is None:
            raise NoImageError("no image set: call set_image first")
        return self._state.embedding

    def set_embedding(self, embedding: ImageEmbedding) -> None:
        if not isinstance(embedding, ImageEmbedding):
            raise EmbeddingError(f"expected an ImageEmbedding, got {type(embedding).__name__}")
        if embedding.model_id != self.model_id:
            raise EmbeddingError(
                f"embedding made by {embedding.model_id!r}, this engine is {self.model_id!r}"
            )
        h, w = embedding.input_size
        image = embedding.arrays.get("image")
        pairwise = embedding.arrays.get("pairwise")
        if image is None or image.shape != (h, w, 3) or image.dtype != np.uint8:
            raise EmbeddingError(f"embedding 'image' must be {h}x{w}x3 uint8")
        if pairwise is None or pairwise.shape != (len(cg.NEIGHBOUR_OFFSETS), h, w):
            raise EmbeddingError(f"embedding 'pairwise' must be {len(cg.NEIGHBOUR_OFFSETS)}x{h}x{w}")
        guide = embedding.arrays.get("guide")
        if guide is not None and guide.shape != tuple(embedding.original_size):
            raise EmbeddingError(f"embedding 'guide' must be {embedding.original_size}, got {guide.shape}")
        self._install(embedding)

    def _install(self, embedding: ImageEmbedding) -> None:
        image = embedding.arrays["image"]
        pairwise = cg.PairwiseWeights(tuple(np.asarray(p, np.float32) for p in embedding.arrays["pairwise"]))
        guide, guide_low = embedding.arrays.get("guide"), None
        if guide is not None:
            guide = guide.astype(np.float32) / 255.0
            height, width = guide.shape
            h, w = image.shape[:2]
            low = (min(height, GUIDE_FACTOR * h), min(width, GUIDE_FACTOR * w))
            guide_low = (
                guide
                if low == (height, width)
                else cv2.resize(guide, low[::-1], interpolation=cv2.INTER_AREA)
            )
        self._state = _State(
            embedding=embedding,
            bins=cg.colour_bins(image),
            grids=pyramid.make_grids(image, pairwise),
            guide=guide,
            guide_low=guide_low,
        )

    # ------------------------------------------------------------------------------------------------ predict
    def predict(
        self,
        point_coords: np.ndarray | None = None,
        point_labels: np.ndarray | None = None,
        box: np.ndarray | None = None,
        mask_input: np.ndarray | None = None,
        multimask_output: bool = True,
        return_logits: bool = False,
    ) -> Prediction:
        """Segment the object the prompts designate (see :class:`sam_model.protocol.Segmenter`).

        Returns ``(masks C x H x W bool (float32 logits > 0 inside with return_logits), scores C float32,
        low_res_logits C x 256 x 256 float32)``, ``C = 3`` with ``multimask_output`` else 1, best first.
        """
        state = self._state
        if state is None:
            raise NoImageError("no image set: call set_image first")
        size = state.embedding.original_size
        coords, labels = check_points(point_coords, point_labels, size)
        box_arr = check_box(box, size)
        logits_in = None if mask_input is None else check_mask_input(mask_input)[0]
        if coords.shape[0] == 0 and box_arr is None and logits_in is None:
            raise PromptError("predict needs at least one point, a box or a mask_input")

        h, w = state.embedding.input_size
        sx, sy = w / size[1], h / size[0]
        pts = np.stack([(coords[:, 0] + 0.5) * sx - 0.5, (coords[:, 1] + 0.5) * sy - 0.5], axis=1)
        pts = np.clip(pts, 0, [w - 1, h - 1])
        box_w = None if box_arr is None else box_arr * np.array([sx, sy, sx, sy])
        prev = None if logits_in is None else from_low_res(logits_in, size, (h, w))

        if prev is not None and coords.shape[0] == 0 and box_arr is None:
            cuts = [prev, prev, prev]  # a mask alone: decode it
        else:
            cuts = self._segment(state, pts, labels, box_w, prev)
        stability = _iou(cuts[1], cuts[2])
        scores = [
            stability,
            0.95 * stability * _iou(cuts[1], cuts[0]),
            0.95 * stability * _iou(cuts[2], cuts[0]),
        ]
        count = 3 if multimask_output else 1
        masks, lows = [], []
        for cut in cuts[:count]:
            sd = signed_distance(cut)
            lows.append(to_low_res(sd, size))
            masks.append(upsample(sd, size, state.guide, state.guide_low, return_logits))
        return (
            np.stack(masks),
            np.asarray(scores[:count], np.float32),
            np.stack(lows).astype(np.float32),
        )

    def _segment(
        self,
        state: _State,
        pts: np.ndarray,
        labels: np.ndarray,
        box: np.ndarray | None,
        prev: np.ndarray | None,
    ) -> list[np.ndarray]:
        """Graph-cut labellings ``[cut, looser, tighter]`` (``h x w`` bool) on the working grid.

        Args:
            state: the current image's state.
            pts: ``N x 2`` click positions ``(x, y)`` on the working grid, oldest first.
            labels: ``N`` labels (1 positive, 0 negative).
            box: ``(x0, y0, x1, y1)`` on the working grid, or ``None``.
            prev: previous mask on the working grid, or ``None``.
        """
        h, w = state.bins.shape
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        seeds_fg = np.zeros((h, w), bool)
        seeds_bg = np.zeros((h, w), bool)
        for (x, y), lab in zip(pts, labels, strict=True):
            disc = (xx - x) ** 2 + (yy - y) ** 2 <= self.click_radius**2
            disc[round(y), round(x)] = True
            if lab == 1:
                seeds_fg |= disc
                seeds_bg &= ~disc
            else:
                seeds_bg |= disc
                seeds_fg &= ~disc
        outside = np.zeros((h, w), bool)
        if box is not None:
            x0, y0, x1, y1 = box
            outside = (xx < x0 - 0.5) | (xx > x1 - 0.5) | (yy < y0 - 0.5) | (yy > y1 - 0.5)

        # Colour-model samples: previous mask, else box, else the clicks against the image border; the
        # clicks add Gaussian blobs (radius: how deep the click lies in the previous mask), ``seed_share``
        # of the mass.
        sd_prev = signed_distance(prev) if prev is not None else None
        blobs = []
        for x, y in pts:
            depth = 0.05 * max(h, w) if sd_prev is None else abs(float(sd_prev[round(y), round(x)]))
            radius = float(np.clip(0.5 * depth, 2 * self.click_radius, 0.08 * max(h, w)))
            blobs.append(np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * radius**2)))
        pos_blob = np.max([b for b, lab in zip(blobs, labels, strict=True) if lab == 1] or [0 * xx], axis=0)
        neg_blob = np.max([b for b, lab in zip(blobs, labels, strict=True) if lab == 0] or [0 * xx], axis=0)
        if prev is not None:
            fg_w, bg_w = prev.astype(np.float32), (~prev).astype(np.float32)
        elif box is not None:
            fg_w, bg_w = (~outside).astype(np.float32), outside.astype(np.float32)
            if not bg_w.any():
                bg_w = _border(h, w).astype(np.float32)
        else:
            fg_w, bg_w = np.zeros((h, w), np.float32), _border(h, w).astype(np.float32)
        fg_w, bg_w = fg_w * (1 - neg_blob), bg_w * (1 - pos_blob)
        fg_w = _add_share(fg_w, pos_blob, self.seed_share)
        bg_w = _add_share(bg_w, neg_blob, self.seed_share)

        # Consistency with the previous mask, relaxed around the newest click.
        keep = np.zeros((h, w), np.float32)
        if prev is not None and sd_prev is not None and pts.shape[0] > 0:
            x, y = pts[-1]
            reach = max(4.0 * self.click_radius, 1.5 * abs(float(sd_prev[round(y), round(x)])))
            d2 = (xx - x) ** 2 + (yy - y) ** 2
            keep = self.consistency * (1.0 - np.exp(-d2 / (2.0 * reach**2)))

        # Spatial prior: a pixel nearer to a negative click than to every positive click leans to background.
        neg = pts[labels == 0]
        near_neg = np.zeros((h, w), np.float32)
        if neg.shape[0] and self.voronoi > 0:
            d_neg = np.min([np.hypot(xx - x, yy - y) for x, y in neg], axis=0)
            d_pos = np.min([np.hypot(xx - x, yy - y) for x, y in pts[labels == 1]] or [d_neg + 1e9], axis=0)
            near_neg = self.voronoi * np.maximum(d_pos - d_neg, 0) / (d_pos + d_neg + 1e-6)

        pos = pts[labels == 1]
        star = cg.star_targets((h, w), pos) if pos.shape[0] else None
        iterations = 1 if prev is not None else 2
        cuts: list[np.ndarray] = []
        for it in range(iterations):
            last = it == iterations - 1
            log_fg = cg.colour_log_likelihood(state.bins, fg_w)
            log_bg = cg.colour_log_likelihood(state.bins, bg_w)
            diff = log_bg - log_fg  # > 0: background explains the colour better
            cost_fg = np.maximum(diff, 0) + near_neg + (keep * ~prev if prev is not None else 0)
            cost_bg = np.maximum(-diff, 0) + (keep * prev if prev is not None else 0)
            cost_fg = np.where(seeds_bg | (outside & ~seeds_fg), cg.HARD, cost_fg)
            cost_bg = np.where(seeds_fg, cg.HARD, cost_bg)
            energy = pyramid.Energy(
                cost_fg.astype(np.float32),
                cost_bg.astype(np.float32),
                self.smoothness,
                pos,
                star,
                self.star_weight,
            )
            if not last:  # colour models need only a rough cut
                rough = pyramid.cut(state.grids, energy, factor=ROUGH_FACTOR, refine=False)
                fg_w = _add_share(rough * (1 - neg_blob), pos_blob, self.seed_share)
                bg_w = _add_share(~rough * (1 - pos_blob), neg_blob, self.seed_share)
                continue
            cut = pyramid.cut(state.grids, energy, factor=self.coarse)
            cuts = [cut] + [pyramid.variant(state.grids, energy, cut, bias) for bias in (1.0, -1.0)]
        return cuts


def _add_share(base: np.ndarray, extra: np.ndarray, share: float) -> np.ndarray:
    """``base + extra`` scaled so that ``extra`` makes ``share`` of the total sample mass (base may be 0)."""
    extra_mass, base_mass = float(extra.sum()), float(base.sum())
    if extra_mass <= 0:
        return base.astype(np.float32)
    if base_mass <= 0:
        return extra.astype(np.float32)
    return (base + extra * (share / (1 - share) * base_mass / extra_mass)).astype(np.float32)


def _border(h: int, w: int) -> np.ndarray:
    """``h x w`` bool band along the image border, about 3% of the longest side wide."""
    band = max(1, round(0.03 * max(h, w)))
    out = np.zeros((h, w), bool)
    out[:band], out[-band:], out[:, :band], out[:, -band:] = True, True, True, True
    return out


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    union = int(np.count_nonzero(a | b))
    return 1.0 if union == 0 else int(np.count_nonzero(a & b)) / union
