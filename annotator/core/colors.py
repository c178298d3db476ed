"""Distinct colours for new categories (Qt-free): a new category never looks like an existing one."""

from __future__ import annotations

import colorsys
from collections.abc import Iterable

from annotator.core.records import PALETTE, RGB

MIN_DISTANCE = 80.0
"""Two colours closer than this (Euclidean, RGB 0-255) are too alike for two categories."""


def _distance(a: RGB, b: RGB) -> float:
    return float(sum((x - y) ** 2 for x, y in zip(a, b, strict=True)) ** 0.5)


def distinct_color(used: Iterable[RGB], seed: int) -> RGB:
    """A colour far from every colour in ``used``: the first palette colour (starting at ``seed``) that is at
    least ``MIN_DISTANCE`` from all of them, else the hue farthest from theirs (golden-angle steps)."""
    used = list(used)
    for k in range(len(PALETTE)):
        color = PALETTE[(seed + k) % len(PALETTE)]
        if all(_distance(color, u) >= MIN_DISTANCE for u in used):
            return color
    best: tuple[float, RGB] | None = None
    for k in range(64):
        r, g, b = colorsys.hsv_to_rgb(((seed + k) * 0.618034) % 1.0, 0.75, 0.95)
        color = (round(r * 255), round(g * 255), round(b * 255))
        nearest = min((_distance(color, u) for u in used), default=1e9)
        if best is None or nearest > best[0]:
            best = (nearest, color)
    return best[1] if best is not None else PALETTE[seed % len(PALETTE)]
