"""What the instance layers draw of the session's current image: the label image with its colour table, and
the outlines (rendering only; which objects exist and which is selected is the session's business).

Both are kept between changes and redrawn only where an object changed (issue 15: 2,000 objects on an image).
"""

from __future__ import annotations

import numpy as np

from annotator.core.label_image import ColorSlots, LabelCompositor, LabelItem
from annotator.core.overlay_style import OverlayStyle
from annotator.core.selection import object_colors
from annotator.core.session import Session
from annotator.ui.outlines import OutlineSpec
from annotator.ui.overlay import color_table

SELECTED = 255  # label of the selected instance in the instance layer
MAX_LABELS = 254  # instances beyond this many share the last label (and its colour)


def instance_outlines(session: Session, exclude: int | None = None) -> list[OutlineSpec]:
    """What the outline layer draws: every visible object of the current image, in its own colour (the
    object ``exclude`` and the one being refined left out)."""
    if session.overlay_style.hide_all or session.current_image is None:
        return []
    size = list(session.current_image.rgb.shape[:2])  # [H, W], as the masks' RLE says
    instances = session.objects.current()
    colors = object_colors(instances, {c.id: c.color for c in session.project.categories})
    skip = {exclude, session.objects.refining_id()}
    selected_id = session.selected_id
    return [
        OutlineSpec(inst.id, inst.mask, colors[inst.id], inst.id == selected_id)
        for inst in instances
        if not inst.hidden and inst.id not in skip and inst.id in colors and inst.mask.rle["size"] == size
    ]


class InstanceLabels:
    """The instance layer of the session's current image, kept between changes (issue 15): the label image is
    repainted only in the boxes of the objects that changed (:class:`LabelCompositor`), and each colour keeps
    its label (:class:`ColorSlots`), so the colour table only grows. ``dirty``: the boxes the last call
    changed (labels and colours alike), ``None`` when anything may have changed."""

    def __init__(self) -> None:
        self._key: str | None = None
        self._compositor = LabelCompositor()
        self._slots = ColorSlots(MAX_LABELS)
        self._style: OverlayStyle | None = None
        self.dirty: list[tuple[int, int, int, int]] | None = None

    def labels(self, session: Session, exclude: int | None = None) -> tuple[np.ndarray | None, list[int]]:
        """Label image (``H x W`` uint8; the same array between calls, edited in place) of the visible objects
        (each colour its own label, the selected object ``SELECTED``) and its colour table: each object in its
        own shade of its category colour, with the overlay style's opacity. The object being refined and
        ``exclude`` are left out."""
        image = session.current_image
        style = session.overlay_style
        if image is None or style.hide_all:
            self.dirty = None
            return None, color_table([])
        h, w = image.rgb.shape[:2]
        instances = session.objects.current()
        colors = object_colors(instances, {c.id: c.color for c in session.project.categories})
        if self._key != session.current_key:  # another image: paint it from scratch
            self._key, self._compositor, self._slots = (
                session.current_key,
                LabelCompositor(),
                ColorSlots(MAX_LABELS),
            )
        slots = self._slots
        slots.begin()
        skip = {exclude, session.objects.refining_id()}
        selected_id = session.selected_id
        items = [
            LabelItem(
                inst.id, inst.mask, SELECTED if inst.id == selected_id else slots.label(colors[inst.id])
            )
            for inst in instances
            if not inst.hidden and inst.id not in skip and inst.id in colors
        ]
        labels = self._compositor.render((h, w), items)
        table = color_table(slots.colors, alpha=style.fill_alpha)
        selected = session.objects.selected()
        if selected is not None and selected.id in colors:
            table[SELECTED] = color_table([colors[selected.id]], alpha=style.selected_alpha)[1]
        self.dirty = self._compositor.dirty if not slots.changed and style == self._style else None
        self._style = style
        return labels, table
