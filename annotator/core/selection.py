"""Which object a click on the canvas means, and how the objects are coloured (Qt-free rules).

Objects are drawn in the order of the image's instance list, so the *last* one containing a pixel is the one on
top. A plain click picks the topmost; Alt-click cycles downwards through the objects under the pointer,
starting from the one selected. Each object gets its own shade of its category's colour, so neighbours of one
category stay apart.
"""

from __future__ import annotations

import colorsys
import functools
from collections.abc import Sequence

from annotator.core.records import Instance

RGB = tuple[int, int, int]

# (hue shift in turns, value factor): object k of a category gets entry k % len; entry 0 is the category colour.
_SHADES: tuple[tuple[float, float], ...] = (
    (0.0, 1.0),
    (0.045, 0.78),
    (-0.045, 1.18),
    (0.09, 0.92),
    (-0.09, 0.7),
    (0.0, 1.3),
)


def instances_at(instances: Sequence[Instance], x: float, y: float) -> list[int]:
    """Ids of the visible instances whose mask contains image pixel ``(x, y)``, topmost first.

    Bounding boxes are tested first; only the objects whose box holds the pixel look at their mask, and then
    at its bounding-box crop (no full-size decode), so a click costs little with thousands of objects."""
    col, row = int(x), int(y)
    return [inst.id for inst in reversed(instances) if not inst.hidden and inst.mask.contains(col, row)]


def pick(hits: Sequence[int], selected: int | None, *, cycle: bool) -> int | None:
    """The object a click selects: the topmost of ``hits``; with ``cycle`` the one below ``selected`` (wrapping
    round), or the topmost when ``selected`` is not under the pointer. ``None`` when nothing is hit."""
    if not hits:
        return None
    if cycle and selected is not None and selected in hits:
        return hits[(list(hits).index(selected) + 1) % len(hits)]
    return hits[0]


def shade(color: RGB, index: int) -> RGB:
    """The ``index``-th shade of a category ``color`` (index 0 is the colour itself)."""
    return _shade(tuple(color), index % len(_SHADES))


@functools.lru_cache(maxsize=4096)
def _shade(color: RGB, index: int) -> RGB:
    dh, fv = _SHADES[index]
    if index == 0:
        return color
    h, s, v = colorsys.rgb_to_hsv(*(c / 255 for c in color))
    if v < 0.25:  # dark colours are lightened, never made darker
        fv = 1.0 + abs(fv - 1.0) * 2
    r, g, b = colorsys.hsv_to_rgb((h + dh) % 1.0, s, min(1.0, max(0.15, v * fv)))
    return round(r * 255), round(g * 255), round(b * 255)


_last_colors: list[tuple[tuple[Instance, ...], dict[int, RGB], dict[int, RGB]]] = []


def object_colors(instances: Sequence[Instance], category_colors: dict[int, RGB]) -> dict[int, RGB]:
    """Instance id -> its colour: the n-th object of a category (in list order) gets that category's n-th
    shade. Instances of unknown categories are left out. The last answer is remembered: the instance layer
    and the outlines ask with the same objects on every repaint (a copy is returned)."""
    key = tuple(instances)
    if _last_colors and _last_colors[0][1] == category_colors and _last_colors[0][0] == key:
        return dict(_last_colors[0][2])
    colors = _object_colors(key, category_colors)
    _last_colors[:] = [(key, dict(category_colors), colors)]
    return dict(colors)


def _object_colors(instances: Sequence[Instance], category_colors: dict[int, RGB]) -> dict[int, RGB]:
    counts: dict[int, int] = {}
    colors: dict[int, RGB] = {}
    for inst in instances:
        base = category_colors.get(inst.category_id)
        if base is None:
            continue
        n = counts.get(inst.category_id, 0)
        counts[inst.category_id] = n + 1
        colors[inst.id] = shade(base, n)
    return colors
