"""Which images to encode ahead while the user works on the current one (ADR 0006), Qt-free.

The session asks :class:`PrefetchPolicy` once the current image is encoded (so prefetching never competes with
the image the user waits for): the next ``depth`` images in the direction of the user's last move (forward:
next, next + 1...; backward: previous, previous - 1...), skipping images marked as errors. The same images for
the same engine are planned once; a new engine (whose worker forgot its embeddings) plans again.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence


def prefetch_order(
    keys: Sequence[str],
    current: str,
    direction: int,
    depth: int,
    skip: Callable[[str], bool] = lambda _key: False,
) -> list[str]:
    """The ``depth`` images after ``current`` in ``direction`` (+1 forward, -1 backward), ``skip``-ped ones
    left out."""
    if current not in keys or depth <= 0:
        return []
    step = 1 if direction >= 0 else -1
    index = keys.index(current) + step
    order: list[str] = []
    while 0 <= index < len(keys) and len(order) < depth:
        if not skip(keys[index]):
            order.append(keys[index])
        index += step
    return order


class PrefetchPolicy:
    """The prefetch plan of the session: ``depth`` images (0: no prefetch) in the navigation direction."""

    def __init__(self, depth: int = 2) -> None:
        self.depth = depth
        self._last: tuple[tuple[str, ...], str | None] | None = None

    def engine_changed(self) -> None:
        """A new engine: the worker's memory cache was cleared, plan again."""
        self._last = None

    def plan(
        self,
        keys: Sequence[str],
        current: str,
        direction: int,
        engine_id: str | None,
        skip: Callable[[str], bool],
    ) -> list[str] | None:
        """The images to prefetch now that ``current`` is encoded, or ``None`` when nothing changes (the same
        images for the same engine were planned last time, or prefetch is off)."""
        if self.depth <= 0:
            return None
        order = prefetch_order(keys, current, direction, self.depth, skip=skip)
        plan = (tuple(order), engine_id)
        if plan == self._last:
            return None
        self._last = plan
        return order
