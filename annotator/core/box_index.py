"""Objects' bounding boxes in drawing order, for finding which objects a repaint box crosses (Qt-free).

A change to one object repaints its box; every object overlapping that box must be painted again in drawing
order. :class:`BoxIndex` keeps the ids in drawing order beside an ``N x 4`` array of their boxes, so the
overlap test is one vectorised comparison (no Python loop over the objects) and an insert, removal or box
change is one array edit (issue 15: 2,000 objects on an image).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

Box = tuple[int, int, int, int]
"""``(x0, y0, x1, y1)`` in pixels, end exclusive."""


class BoxIndex:
    """Ids in drawing order (first = bottom) with their boxes; ``len()`` is the number of ids."""

    def __init__(self) -> None:
        self._ids: list[int] = []
        self._boxes = np.zeros((0, 4), np.int64)

    def reset(self, entries: Iterable[tuple[int, Box]]) -> None:
        """Hold ``entries`` (``(id, box)`` in drawing order) and nothing else."""
        pairs = list(entries)
        self._ids = [iid for iid, _box in pairs]
        self._boxes = np.array([box for _iid, box in pairs], np.int64).reshape(-1, 4)

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, iid: object) -> bool:
        return iid in self._ids

    @property
    def ids(self) -> list[int]:
        """The ids in drawing order (a copy)."""
        return list(self._ids)

    def position(self, iid: int) -> int:
        """The drawing position of ``iid`` (``ValueError`` when absent)."""
        return self._ids.index(iid)

    def insert(self, index: int, iid: int, box: Box) -> None:
        """Put ``iid`` at drawing position ``index`` (clamped to the ends)."""
        index = min(max(index, 0), len(self._ids))
        self._ids.insert(index, iid)
        self._boxes = np.insert(self._boxes, index, np.asarray(box, np.int64), axis=0)

    def remove(self, iid: int) -> int:
        """Take ``iid`` out; returns the position it had (``ValueError`` when absent)."""
        index = self._ids.index(iid)
        del self._ids[index]
        self._boxes = np.delete(self._boxes, index, axis=0)
        return index

    def replace(self, iid: int, box: Box) -> None:
        """``iid`` now has ``box`` (its position is kept)."""
        self._boxes[self._ids.index(iid)] = box

    def overlapping(self, box: Box) -> list[int]:
        """The ids whose box overlaps ``box``, in drawing order."""
        x0, y0, x1, y1 = box
        b = self._boxes
        hits = np.flatnonzero((b[:, 0] < x1) & (b[:, 2] > x0) & (b[:, 1] < y1) & (b[:, 3] > y0))
        ids = self._ids
        return [ids[i] for i in hits.tolist()]

    def overlapping_any(self, boxes: Iterable[Box]) -> list[int]:
        """The ids whose box overlaps any of ``boxes``, in drawing order."""
        b = self._boxes
        hit = np.zeros(len(self._ids), bool)
        for x0, y0, x1, y1 in boxes:
            hit |= (b[:, 0] < x1) & (b[:, 2] > x0) & (b[:, 1] < y1) & (b[:, 3] > y0)
        ids = self._ids
        return [ids[i] for i in np.flatnonzero(hit).tolist()]
