"""What the instance layers draw of the session's current image: the label image with its colour table, and
the outlines (rendering only; which objects exist and which is selected is the session's business).
"""

from __future__ import annotations

import numpy as np

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
    h, w = session.current_image.rgb.shape[:2]
    instances = session.objects.current()
    colors = object_colors(instances, {c.id: c.color for c in session.project.categories})
    skip = {exclude, session.objects.refining_id()}
    return [
        OutlineSpec(inst.id, inst.mask, colors[inst.id], inst.id == session.selected_id)
        for inst in instances
        if not inst.hidden and inst.id not in skip and inst.id in colors and inst.mask.shape == (h, w)
    ]


def instance_labels(session: Session, exclude: int | None = None) -> tuple[np.ndarray | None, list[int]]:
    """Label image (``H x W`` uint8) of the visible objects (label = position in the image's list, the
    selected one ``SELECTED``) and its colour table: each object in its own shade of its category colour, with
    the overlay style's opacity. The object being refined and ``exclude`` are left out."""
    image = session.current_image
    style = session.overlay_style
    if image is None or style.hide_all:
        return None, color_table([])
    h, w = image.rgb.shape[:2]
    labels = np.zeros((h, w), np.uint8)
    instances = session.objects.current()
    colors = object_colors(instances, {c.id: c.color for c in session.project.categories})
    table_colors: list[tuple[int, int, int] | None] = [None] * MAX_LABELS
    skip = {exclude, session.objects.refining_id()}
    for index, inst in enumerate(instances):
        if inst.hidden or inst.id in skip or inst.mask.shape != (h, w) or inst.id not in colors:
            continue
        x, y, bw, bh = inst.mask.bbox
        if bw == 0:
            continue
        region = inst.mask.array()[y : y + bh, x : x + bw]
        label = min(index + 1, MAX_LABELS)
        if inst.id == session.selected_id:
            label = SELECTED
        else:
            table_colors[label - 1] = colors[inst.id]
        labels[y : y + bh, x : x + bw][region] = label
    table = color_table(table_colors, alpha=style.fill_alpha)
    selected = session.objects.selected()
    if selected is not None and selected.id in colors:
        table[SELECTED] = color_table([colors[selected.id]], alpha=style.selected_alpha)[1]
    return labels, table
