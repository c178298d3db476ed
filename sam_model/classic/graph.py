"""Graph-cut machinery of the classical engine (:mod:`sam_model.classic.segmenter`): colour models, priors, min-cut.

Everything here works on the engine's *working grid*, the image resized so its longest side is at most
:data:`sam_model.classic.segmenter.WORK_SIZE` pixels. Arrays are ``h x w`` unless stated otherwise; labels are
``True`` = object (source side of the cut), ``False`` = background.

The energy minimised by :func:`solve` is the usual binary MRF

``E(L) = sum_p U_p(L_p) + sum_{p~q} w_pq [L_p != L_q] + beta * sum_p [L_p = 1, L_{s(p)} = 0]``

where ``U`` holds colour log-likelihoods, hard seeds and the consistency prior, ``w_pq`` are contrast-
sensitive 8-neighbour weights computed once per image, and ``s(p)`` is the neighbour of ``p`` one step towards
its nearest positive click (a soft star-convexity prior: the object is expected to be visible from its
clicks).
"""

from __future__ import annotations

from dataclasses import dataclass

import maxflow
import numpy as np

HIST_BINS = 16
"""Bins per RGB channel of the colour histograms (``16^3`` bins in all)."""

HARD = 1e9
"""Capacity used for hard constraints (user clicks, outside a box)."""

# The 8-neighbourhood as 4 directed offsets (dy, dx); each edge is added symmetrically.
NEIGHBOUR_OFFSETS: tuple[tuple[int, int], ...] = ((0, 1), (1, 0), (1, 1), (1, -1))


@dataclass(frozen=True)
class PairwiseWeights:
    """Contrast-sensitive smoothness weights, one ``h x w`` float32 array per offset of
    :data:`NEIGHBOUR_OFFSETS` (weight of the edge from ``p`` to ``p + offset``; 0 off the grid)."""

    weights: tuple[np.ndarray, ...]


def colour_bins(image: np.ndarray) -> np.ndarray:
    """Histogram bin of each pixel. ``image``: ``h x w x 3`` uint8 RGB -> ``h x w`` int32 in ``[0, 4096)``."""
    q = (image >> 4).astype(np.int32)
    return (q[..., 0] * HIST_BINS + q[..., 1]) * HIST_BINS + q[..., 2]


def pairwise_weights(image: np.ndarray) -> PairwiseWeights:
    """Weights ``exp(-beta ||c_p - c_q||^2) / dist(p, q)`` (GrabCut's), ``beta = 1 / (2 mean ||dc||^2)``.

    ``image``: ``h x w x 3`` uint8 (any colour space; the engine passes CIE Lab).
    """
    img = image.astype(np.float32)
    h, w = img.shape[:2]
    diffs: list[np.ndarray] = []
    for dy, dx in NEIGHBOUR_OFFSETS:
        d = np.zeros((h, w), np.float32)
        ys, ye = 0, h - dy
        xs, xe = max(0, -dx), w - max(0, dx)
        a = img[ys:ye, xs:xe]
        b = img[ys + dy : ye + dy, xs + dx : xe + dx]
        d[ys:ye, xs:xe] = np.sum((a - b) ** 2, axis=2)
        diffs.append(d)
    mean_sq = float(np.mean(np.concatenate([d.ravel() for d in diffs]))) + 1e-6
    beta = 1.0 / (2.0 * mean_sq)
    out: list[np.ndarray] = []
    for (dy, dx), d in zip(NEIGHBOUR_OFFSETS, diffs, strict=True):
        wgt = np.exp(-beta * d) / float(np.hypot(dy, dx))
        valid = np.zeros((h, w), bool)
        valid[0 : h - dy, max(0, -dx) : w - max(0, dx)] = True
        out.append(np.where(valid, wgt, 0.0).astype(np.float32))
    return PairwiseWeights(tuple(out))


def _smooth_hist(hist: np.ndarray) -> np.ndarray:
    """Blur a ``16 x 16 x 16`` histogram with a separable ``[1, 2, 1] / 4`` kernel on each axis."""
    out = hist
    for axis in range(3):
        padded = np.pad(out, [(1, 1) if a == axis else (0, 0) for a in range(3)], mode="edge")
        lo = np.take(padded, range(0, HIST_BINS), axis=axis)
        mid = np.take(padded, range(1, HIST_BINS + 1), axis=axis)
        hi = np.take(padded, range(2, HIST_BINS + 2), axis=axis)
        out = 0.25 * lo + 0.5 * mid + 0.25 * hi
    return out


def colour_log_likelihood(bins: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Per-pixel ``log P(colour | model)`` of a smoothed colour histogram.

    Args:
        bins: ``h x w`` int bin indices from :func:`colour_bins`.
        weights: ``h x w`` float sample weights (0 = not a sample of this model).

    Returns:
        ``h x w`` float32 log-probabilities (natural log).
    """
    counts = np.bincount(bins.ravel(), weights=weights.ravel(), minlength=HIST_BINS**3)
    total = float(counts.sum())
    hist = counts.reshape(HIST_BINS, HIST_BINS, HIST_BINS) / max(total, 1e-9)
    hist = 0.5 * hist + 0.5 * _smooth_hist(hist) + 1e-5
    hist /= hist.sum()
    return np.log(hist.ravel())[bins].astype(np.float32)


def star_targets(shape: tuple[int, int], centres: np.ndarray) -> np.ndarray:
    """For each pixel, the flat index of its neighbour one step towards its nearest centre.

    Args:
        shape: ``(h, w)`` of the grid.
        centres: ``K x 2`` float ``(x, y)`` grid coordinates, ``K >= 1``.

    Returns:
        ``h x w`` int64 flat indices; a centre pixel points to itself.
    """
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    best = np.full((h, w), np.inf, np.float32)
    vx = np.zeros((h, w), np.float32)
    vy = np.zeros((h, w), np.float32)
    for cx, cy in centres:
        dx, dy = cx - xx, cy - yy
        d2 = dx * dx + dy * dy
        closer = d2 < best
        best = np.where(closer, d2, best)
        vx = np.where(closer, dx, vx)
        vy = np.where(closer, dy, vy)
    norm = np.sqrt(best) + 1e-6
    step_x = np.rint(vx / norm).astype(np.int64)
    step_y = np.rint(vy / norm).astype(np.int64)
    tx = np.clip(xx.astype(np.int64) + step_x, 0, w - 1)
    ty = np.clip(yy.astype(np.int64) + step_y, 0, h - 1)
    return ty * w + tx


def solve(
    cost_fg: np.ndarray,
    cost_bg: np.ndarray,
    pairwise: PairwiseWeights,
    smoothness: float,
    star: np.ndarray | None,
    star_weight: float,
    *,
    bias: float = 0.0,
    free: np.ndarray | None = None,
    fixed: np.ndarray | None = None,
) -> np.ndarray:
    """Minimum cut of the energy in the module docstring over the pixels ``free``, the others held at ``fixed``.

    Edges from a free pixel to a held one become unary costs of the free pixel, so the cut is exact for the
    energy restricted to the free pixels (a band around a boundary costs a band's time, not the grid's).

    Args:
        cost_fg: ``h x w`` cost of labelling each pixel object (>= 0).
        cost_bg: ``h x w`` cost of labelling each pixel background (>= 0).
        pairwise: the grid's :class:`PairwiseWeights`.
        smoothness: factor on the pairwise weights.
        star: ``h x w`` flat indices from :func:`star_targets`, or ``None`` for no star prior.
        star_weight: cost of each violated star edge.
        bias: value added to ``cost_bg`` (a positive bias favours the object).
        free: ``h x w`` bool, the pixels to label; ``None``: all of them.
        fixed: ``h x w`` bool labels of the pixels outside ``free``; ``None``: all background.

    Returns:
        ``h x w`` bool labelling (``True`` = object).
    """
    if free is None:
        return _solve_grid(cost_fg, cost_bg + bias, pairwise, smoothness, star, star_weight)
    h, w = cost_fg.shape
    held_grid = np.zeros((h, w), bool) if fixed is None else fixed
    rows, cols = np.flatnonzero(free.any(axis=1)), np.flatnonzero(free.any(axis=0))
    if rows.size == 0:
        return held_grid.copy()
    # Only the free pixels' box, one pixel wider (their neighbours and star targets), takes part.
    y0, y1, x0, x1 = max(0, rows[0] - 1), min(h, rows[-1] + 2), max(0, cols[0] - 1), min(w, cols[-1] + 2)
    if (y1 - y0, x1 - x0) != (h, w):
        crop = (slice(y0, y1), slice(x0, x1))
        out = held_grid.copy()
        out[crop] = solve(
            cost_fg[crop],
            cost_bg[crop],
            PairwiseWeights(tuple(weight[crop] for weight in pairwise.weights)),
            smoothness,
            None if star is None else _crop_targets(star, (y0, y1, x0, x1)),
            star_weight,
            bias=bias,
            free=free[crop],
            fixed=held_grid[crop],
        )
        return out
    return _solve_band(cost_fg, cost_bg + bias, pairwise, smoothness, star, star_weight, free, held_grid)


def _solve_band(
    cost_fg: np.ndarray,
    cost_bg: np.ndarray,
    pairwise: PairwiseWeights,
    smoothness: float,
    star: np.ndarray | None,
    star_weight: float,
    free: np.ndarray,
    fixed: np.ndarray,
) -> np.ndarray:
    """:func:`solve` over the pixels ``free`` (``h x w`` bool, at least one), the others held at ``fixed``."""
    h, w = cost_fg.shape
    size = h * w
    is_free, held = free.ravel(), fixed.ravel()
    labels = held & ~is_free
    n = int(np.count_nonzero(is_free))
    ids = np.full(size, -1, np.int64)
    ids[is_free] = np.arange(n)
    unary_fg = cost_fg.ravel()[is_free].astype(np.float64)
    unary_bg = cost_bg.ravel()[is_free].astype(np.float64)
    edges: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []

    def link(p: np.ndarray, q: np.ndarray, cap_pq: np.ndarray, cap_qp: np.ndarray) -> None:
        """Edges ``p -> q`` (cut when ``p`` is object and ``q`` background) and back; flat indices of
        pairs with at least one free end."""
        free_p, free_q = is_free[p], is_free[q]
        both = free_p & free_q
        edges.append((ids[p[both]], ids[q[both]], cap_pq[both], cap_qp[both]))
        # A held end becomes a unary cost of the free one: a held object end makes background cost the
        # capacity towards it, a held background end makes object cost the capacity away from it.
        for a, b, cap_ab, cap_ba, one in ((p, q, cap_pq, cap_qp, ~free_q), (q, p, cap_qp, cap_pq, ~free_p)):
            a, b, cap_ab, cap_ba = a[one], b[one], cap_ab[one], cap_ba[one]
            held_b = held[b]
            unary_bg[:] += np.bincount(ids[a], cap_ba * held_b, minlength=n)
            unary_fg[:] += np.bincount(ids[a], cap_ab * ~held_b, minlength=n)

    flat = np.arange(size, dtype=np.int64).reshape(h, w)
    grid_free = is_free.reshape(h, w)
    for (dy, dx), wgt in zip(NEIGHBOUR_OFFSETS, pairwise.weights, strict=True):
        x0, x1 = max(0, -dx), w - max(0, dx)
        touch = grid_free[0 : h - dy, x0:x1] | grid_free[dy:h, x0 + dx : x1 + dx]
        p = flat[0 : h - dy, x0:x1][touch]
        cap = wgt[0 : h - dy, x0:x1][touch].astype(np.float64) * smoothness
        link(p, p + dy * w + dx, cap, cap)
    if star is not None and star_weight > 0:
        target = star.ravel()
        p = np.flatnonzero((target != np.arange(size)) & (is_free | is_free[target]))
        link(p, target[p], np.full(p.size, star_weight), np.zeros(p.size))
    graph = maxflow.Graph[float](n, sum(e[0].size for e in edges))
    graph.add_nodes(n)
    graph.add_edges(*(np.concatenate(part) for part in zip(*edges, strict=True)))
    graph.add_grid_tedges(np.arange(n), unary_bg, unary_fg)
    graph.maxflow()
    labels[is_free] = ~graph.get_grid_segments(np.arange(n))
    return labels.reshape(h, w)


def _crop_targets(star: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """Star targets (flat indices of the ``h x w`` grid) of the pixels in ``box = (y0, y1, x0, x1)``, as flat
    indices of the box; a target outside the box becomes the pixel itself (no edge)."""
    y0, y1, x0, x1 = box
    w = star.shape[1]
    target = star[y0:y1, x0:x1]
    ty, tx = target // w - y0, target % w - x0
    inside = (ty >= 0) & (ty < y1 - y0) & (tx >= 0) & (tx < x1 - x0)
    own = np.arange((y1 - y0) * (x1 - x0), dtype=np.int64).reshape(y1 - y0, x1 - x0)
    return np.where(inside, ty * (x1 - x0) + tx, own)


def _solve_grid(
    cost_fg: np.ndarray,
    cost_bg: np.ndarray,
    pairwise: PairwiseWeights,
    smoothness: float,
    star: np.ndarray | None,
    star_weight: float,
) -> np.ndarray:
    """:func:`solve` over the whole grid (the graph built with PyMaxflow's grid calls)."""
    h, w = cost_fg.shape
    graph = maxflow.Graph[float](h * w, h * w * 5)
    nodes = graph.add_grid_nodes((h, w))
    for (dy, dx), wgt in zip(NEIGHBOUR_OFFSETS, pairwise.weights, strict=True):
        structure = np.zeros((3, 3))
        structure[1 + dy, 1 + dx] = 1.0
        graph.add_grid_edges(nodes, weights=wgt * smoothness, structure=structure, symmetric=True)
    if star is not None and star_weight > 0:
        src = np.arange(h * w, dtype=np.int64)
        keep = star.ravel() != src
        graph.add_edges(
            src[keep], star.ravel()[keep], np.full(int(keep.sum()), star_weight), np.zeros(int(keep.sum()))
        )
    # Source capacity = cost of being background, sink capacity = cost of being object.
    graph.add_grid_tedges(nodes, cost_bg, cost_fg)
    graph.maxflow()
    return ~graph.get_grid_segments(nodes)
