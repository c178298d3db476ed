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

from annotator.core.box_index import Box, BoxIndex
from annotator.core.masks import Mask


class LabelItem(NamedTuple):
    """One object to draw: its id, mask and label (1-255), in drawing order (later ones on top)."""

    instance_id: int
    mask: Mask
    label: int


def _box(mask: Mask) -> Box:
    x, y, w, h = mask.bbox
    return x, y, x + w, y + h


class LabelCompositor:
    """Keeps the label image of one image; :meth:`render` brings it up to date with the fewest repaints, and
    :meth:`insert`, :meth:`remove` and :meth:`update` apply one object's change without looking at the others.

    Items with label 0 (hidden objects) keep their drawing position but are not painted. ``dirty``: the boxes
    repainted by the last call (``None``: the whole image); ``painted``: how many object crops it painted
    (tests check that one change paints a bounded number of objects).
    """

    def __init__(self) -> None:
        self._labels: np.ndarray | None = None
        self._shown: dict[int, tuple[Mask, int]] = {}
        self._index = BoxIndex()  # every item, in drawing order, with its box
        self.dirty: list[Box] | None = None
        self.painted = 0

    @property
    def labels(self) -> np.ndarray | None:
        """The label image (``None`` before the first :meth:`render`)."""
        return self._labels

    def render(self, shape: tuple[int, int], items: Sequence[LabelItem]) -> np.ndarray:
        """The ``H x W`` uint8 label image of ``items`` (the same array as last time when the shape is the
        same: it is edited in place). Items whose mask is not ``shape`` are not painted."""
        size = list(shape)
        shown = {i.instance_id: (i.mask, self._label(i, size)) for i in items}
        order = list(shown)
        self.painted = 0
        if self._labels is None or self._labels.shape != shape or not self._same_order(order, shown):
            self._labels = np.zeros(shape, np.uint8)
            self.dirty = None
            self._set(shown)
            self._paint_box((0, 0, shape[1], shape[0]))
        else:
            self.dirty = self._changed_boxes(shown)
            self._set(shown)
            for box in self.dirty:
                self._paint_box(box)
        return self._labels

    def insert(self, index: int, item: LabelItem) -> None:
        """Put ``item`` at drawing position ``index`` and paint its box (call after :meth:`render`)."""
        if self._labels is None:
            return
        entry = (item.mask, self._label(item, list(self._labels.shape)))
        self._shown[item.instance_id] = entry
        self._index.insert(index, item.instance_id, _box(item.mask))
        self._repaint([_box(item.mask)] if entry[1] else [])

    def remove(self, instance_id: int) -> None:
        """Take the item ``instance_id`` away and repaint its box."""
        entry = self._shown.pop(instance_id, None)
        if self._labels is None or entry is None:
            return
        self._index.remove(instance_id)
        self._repaint([_box(entry[0])] if entry[1] else [])

    def update(self, item: LabelItem) -> None:
        """The item ``item.instance_id`` has a new mask or label: repaint its old and new boxes."""
        before = self._shown.get(item.instance_id)
        if self._labels is None or before is None:
            return
        now = (item.mask, self._label(item, list(self._labels.shape)))
        if before[0] is now[0] and before[1] == now[1]:
            self._repaint([])
            return
        self._shown[item.instance_id] = now
        boxes = [_box(now[0])]
        if before[0] is not now[0]:
            self._index.replace(item.instance_id, boxes[0])
            boxes.append(_box(before[0]))
        self._repaint(boxes)

    def reset(self) -> None:
        """Forget the image (the next :meth:`render` paints everything)."""
        self._labels = None
        self._shown = {}
        self._index = BoxIndex()

    @staticmethod
    def _label(item: LabelItem, size: list[int]) -> int:
        return item.label if 0 < item.label < 256 and item.mask.rle["size"] == size else 0

    def _set(self, shown: dict[int, tuple[Mask, int]]) -> None:
        self._shown = shown
        self._index.reset((iid, _box(mask)) for iid, (mask, _label) in shown.items())

    def _repaint(self, boxes: list[Box]) -> None:
        self.painted = 0
        self.dirty = [b for b in boxes if b[2] > b[0] and b[3] > b[1]]
        for box in self.dirty:
            self._paint_box(box)

    def _same_order(self, order: list[int], shown: dict[int, tuple[Mask, int]]) -> bool:
        """Whether the objects kept from last time are still in the same relative order."""
        previous = self._index.ids
        if order == previous:
            return True
        old = [i for i in previous if i in shown]
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
                if label:
                    boxes.append(_box(mask))
                continue
            if label or before[1]:
                boxes.append(_box(mask))
            if before[0] is not mask and before[1]:
                boxes.append(_box(before[0]))
        boxes.extend(_box(m) for iid, (m, label) in previous.items() if label and iid not in shown)
        return [b for b in boxes if b[2] > b[0] and b[3] > b[1]]

    def _paint_box(self, box: Box) -> None:
        """Clear ``box`` and paint every shown item overlapping it, in drawing order."""
        labels = self._labels
        if labels is None:
            return
        x0, y0, x1, y1 = box
        labels[y0:y1, x0:x1] = 0
        shown = self._shown
        for iid in self._index.overlapping(box):
            mask, label = shown[iid]
            if not label:
                continue
            bx0, by0, bx1, by1 = _box(mask)
            ix0, iy0, ix1, iy1 = max(bx0, x0), max(by0, y0), min(bx1, x1), min(by1, y1)
            if ix1 <= ix0 or iy1 <= iy0:
                continue
            crop = mask.crop()[iy0 - by0 : iy1 - by0, ix0 - bx0 : ix1 - bx0]
            labels[iy0:iy1, ix0:ix1][crop] = label
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
