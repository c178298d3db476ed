"""The colour of each object of one image, kept up to date one change at a time (Qt-free).

The rule is :func:`annotator.core.selection.object_colors`: the n-th object of a category (in drawing order)
gets that category's n-th shade. Recomputing it after every change walks every object (issue 15: 2,000
objects on an image); :class:`ObjectColors` keeps each category's objects in order, so the common changes
cost one object: an object added on top of the others of its category (accept), one removed that was the
topmost of its category (undo of an accept), a mask or visibility change. Anything else (an object restored
in the middle, a category change) recomputes the image and reports which objects changed colour.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from annotator.core.records import Instance
from annotator.core.selection import _object_colors, shade

RGB = tuple[int, int, int]


class ObjectColors:
    """Instance id -> colour for one image's objects (``colors``); ``rebuilds`` counts full recomputations
    (tests check that an accept or its undo needs none)."""

    def __init__(self) -> None:
        self.colors: dict[int, RGB] = {}
        self._category_colors: dict[int, RGB] = {}
        self._ranks: dict[int, list[int]] = {}  # category id -> its objects' ids in drawing order
        self.rebuilds = 0

    def rebuild(self, instances: Sequence[Instance], category_colors: dict[int, RGB]) -> set[int]:
        """Recompute every colour; returns the ids whose colour changed (or appeared or went)."""
        before = self.colors
        self.colors = _object_colors(instances, category_colors)
        self._category_colors = dict(category_colors)
        ranks: dict[int, list[int]] = {}
        for inst in instances:
            if inst.id in self.colors:
                ranks.setdefault(inst.category_id, []).append(inst.id)
        self._ranks = ranks
        self.rebuilds += 1
        changed = {iid for iid, color in self.colors.items() if before.get(iid) != color}
        changed.update(iid for iid in before if iid not in self.colors)
        return changed

    def added(
        self, instance: Instance, on_top: bool, instances: Callable[[], Sequence[Instance]]
    ) -> set[int]:
        """``instance`` was added (``on_top``: above every other object). Returns the ids of the *other*
        objects whose colour changed. ``instances()``: the image's objects now (asked only to recompute)."""
        base = self._category_colors.get(instance.category_id)
        if on_top or base is None:
            if base is not None:
                rank = self._ranks.setdefault(instance.category_id, [])
                self.colors[instance.id] = shade(base, len(rank))
                rank.append(instance.id)
            return set()
        return self.rebuild(instances(), self._category_colors) - {instance.id}

    def removed(
        self, instance_id: int, category_id: int | None, instances: Callable[[], Sequence[Instance]]
    ) -> set[int]:
        """The object ``instance_id`` (of ``category_id``) was removed; returns the ids whose colour changed."""
        rank = self._ranks.get(category_id) if category_id is not None else None
        if instance_id not in self.colors:
            return set()
        if rank and rank[-1] == instance_id:  # the topmost of its category: the others keep their shades
            rank.pop()
            del self.colors[instance_id]
            return set()
        return self.rebuild(instances(), self._category_colors)
