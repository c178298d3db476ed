"""The label image of an image's objects, kept between changes and repainted only where something changed.

The instance layer shows an ``H x W`` uint8 label image (label 0 = nothing, ``k`` = an entry of the colour
table). Rebuilding it from every object after each change costs time proportional to the objects on the image
(issue 15: 2.2 s with 2,000 objects). :class:`LabelCompositor` keeps the image and, given the objects to show
now, repaints only the bounding boxes of the objects that appeared, disappeared, or changed mask or label; in
each such box every shown object that overlaps it is painted again in drawing order (so overlaps stay right).
Objects are painted from their bounding-box crops (:meth:`Mask.crop`), never from full-size decodes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from annotator.core.masks import Mask

Box = tuple[int, int, int, int]
"""``(x0, y0, x1, y1)`` in pixels, end exclusive."""


class LabelItem(NamedTuple):
    """One object to draw: its id, mask and label (1-255), in drawing order (later ones on top)."""

    instance_id: int
    mask: Mask
    label: int


def _box(mask: Mask) -> Box:
    x, y, w, h = mask.bbox
    return x, y, x + w, y + h


class LabelCompositor:
    """Keeps the label image of one image; :meth:`render` brings it up to date with the fewest repaints.

    ``dirty``: the boxes repainted by the last :meth:`render` (``None``: the whole image); ``painted``: how many
    object crops it painted (tests check that one change paints a bounded number of objects).
    """

    def __init__(self) -> None:
        self._labels: np.ndarray | None = None
        self._shown: dict[int, tuple[Mask, int]] = {}
        self._order: list[int] = []
        self.dirty: list[Box] | None = None
        self.painted = 0

    def render(self, shape: tuple[int, int], items: Sequence[LabelItem]) -> np.ndarray:
        """The ``H x W`` uint8 label image of ``items`` (the same array as last time when the shape is the
        same: it is edited in place). Items whose mask is not ``shape`` are left out."""
        size = list(shape)
        items = [i for i in items if 0 < i.label < 256 and i.mask.rle["size"] == size]
        shown = {i.instance_id: (i.mask, i.label) for i in items}
        order = list(shown)
        self.painted = 0
        if self._labels is None or self._labels.shape != shape or not self._same_order(order, shown):
            self._labels = np.zeros(shape, np.uint8)
            self.dirty = None
            self._paint(items, (0, 0, shape[1], shape[0]))
        else:
            self.dirty = self._changed_boxes(shown)
            if self.dirty:
                boxes = np.array([_box(i.mask) for i in items], dtype=np.int64).reshape(-1, 4)
                for box in self.dirty:
                    self._paint(items, box, boxes)
        self._shown, self._order = shown, order
        return self._labels

    def reset(self) -> None:
        """Forget the image (the next :meth:`render` paints everything)."""
        self._labels = None
        self._shown, self._order = {}, []

    def _same_order(self, order: list[int], shown: dict[int, tuple[Mask, int]]) -> bool:
        """Whether the objects kept from last time are still in the same relative order."""
        if order == self._order:
            return True
        old = [i for i in self._order if i in shown]
        new = [i for i in order if i in self._shown]
        return old == new

    def _changed_boxes(self, shown: dict[int, tuple[Mask, int]]) -> list[Box]:
        boxes: list[Box] = []
        previous = self._shown
        for iid, now in shown.items():
            before = previous.get(iid)
            if before is not None and before[0] is now[0] and before[1] == now[1]:
                continue
            mask, label = now
            if before is None:
                boxes.append(_box(mask))
            elif before[0] is not mask or before[1] != label:
                boxes.append(_box(mask))
                if before[0] is not mask:
                    boxes.append(_box(before[0]))
        boxes.extend(_box(mask) for iid, (mask, _label) in self._shown.items() if iid not in shown)
        return [b for b in boxes if b[2] > b[0] and b[3] > b[1]]

    def _paint(self, items: Sequence[LabelItem], box: Box, boxes: np.ndarray | None = None) -> None:
        """Clear ``box`` and paint every item overlapping it, in order (``boxes``: the items' boxes)."""
        labels = self._labels
        if labels is None:
            return
        x0, y0, x1, y1 = box
        labels[y0:y1, x0:x1] = 0
        if boxes is None:
            indices: Sequence[int] = range(len(items))
        else:
            overlap = (boxes[:, 0] < x1) & (boxes[:, 2] > x0) & (boxes[:, 1] < y1) & (boxes[:, 3] > y0)
            indices = np.flatnonzero(overlap).tolist()
        for index in indices:
            item = items[index]
            bx0, by0, bx1, by1 = _box(item.mask)
            ix0, iy0, ix1, iy1 = max(bx0, x0), max(by0, y0), min(bx1, x1), min(by1, y1)
            if ix1 <= ix0 or iy1 <= iy0:
                continue
            crop = item.mask.crop()[iy0 - by0 : iy1 - by0, ix0 - bx0 : ix1 - bx0]
            labels[iy0:iy1, ix0:ix1][crop] = item.label
            self.painted += 1


class ColorSlots:
    """Stable label numbers for colours: each distinct colour keeps its label (1..``last``) while the image is
    shown, so adding or removing an object never changes what the other labels mean (the colour table only
    grows). More distinct colours than labels share the last one (its colour then follows the newest).
    ``changed``: whether the last :meth:`slots` call changed the colour of a label already in use."""

    def __init__(self, last: int = 254) -> None:
        self.last = last
        self._label_of: dict[tuple[int, int, int], int] = {}
        self._colors: list[tuple[int, int, int] | None] = [None] * last
        self.changed = False

    def label(self, color: tuple[int, int, int]) -> int:
        """The label of ``color`` (a new one the first time it is seen)."""
        label = self._label_of.get(color)
        if label is None:
            label = min(len(self._label_of) + 1, self.last)
            if label < self.last:
                self._label_of[color] = label
            if self._colors[label - 1] not in (None, color):
                self.changed = True
            self._colors[label - 1] = color
        return label

    def begin(self) -> None:
        """Start a render (resets :attr:`changed`)."""
        self.changed = False

    @property
    def colors(self) -> list[tuple[int, int, int] | None]:
        """Label ``k``'s colour at index ``k - 1`` (``None``: unused)."""
        return list(self._colors)
