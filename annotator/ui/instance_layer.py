"""What the instance layers draw of the session's current image: the label image with its colour table, and
the outlines (rendering only; which objects exist and which is selected is the session's business).

Both are kept between changes (issue 15: 2,000 objects on an image). :meth:`InstanceLayers.rebuild` draws the
image from its objects (another image, categories or style changed); :meth:`InstanceLayers.object_changed`
and :meth:`InstanceLayers.touch` apply one object's change (a session ``OBJECT`` event, a selection) and look
at that object alone: its colour (:class:`~annotator.core.object_colors.ObjectColors`), its label
(:class:`~annotator.core.label_image.ColorSlots`), the label image's repaint of its box
(:class:`~annotator.core.label_image.LabelCompositor`) and one outline edit.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import NamedTuple

import numpy as np

from annotator.core.box_index import Box
from annotator.core.label_image import ColorSlots, LabelCompositor, LabelItem
from annotator.core.model import Instance
from annotator.core.object_colors import ObjectColors
from annotator.core.overlay_style import OverlayStyle
from annotator.core.session import Session
from annotator.core.session_events import ObjectChange, SessionEvent
from annotator.ui.outlines import OutlineEdit, OutlineSpec
from annotator.ui.overlay import color_table

SELECTED = 255  # label of the selected instance in the instance layer
MAX_LABELS = 254  # instances beyond this many share the last label (and its colour)


class LayerUpdate(NamedTuple):
    """What the canvas shows after a change: the label image and its colour table, the boxes that changed
    (``dirty``; ``None``: repaint it all), and the outlines: every object's (``outlines``, in drawing order,
    ``None`` for an object not outlined) after a rebuild, or the edits of the objects changed."""

    labels: np.ndarray | None
    table: list[int]
    dirty: list[Box] | None
    outlines: list[tuple[int, OutlineSpec | None]] | None = None
    edits: Sequence[OutlineEdit] = ()


class InstanceLayers:
    """The instance layers of the session's current image, kept between changes (see the module docstring).

    ``dirty`` / ``painted``: the boxes the last update repainted (``None``: all) and how many object crops it
    painted; ``colors``: the objects' colours (``colors.rebuilds`` counts full recomputations)."""

    def __init__(self) -> None:
        self._key: str | None = None
        self._compositor = LabelCompositor()
        self._slots = ColorSlots(MAX_LABELS)
        self.colors = ObjectColors()
        self._style: OverlayStyle | None = None
        self._exclude: int | None = None
        self._instances: dict[int, Instance] = {}
        self._selected: int | None = None  # the object drawn as selected
        self._valid = False
        self.dirty: list[Box] | None = None
        self.painted = 0

    def rebuild(self, session: Session, exclude: int | None = None) -> LayerUpdate:
        """Draw every object of the current image (the object ``exclude`` and the one being refined left
        out); the label image is still repainted only where it changed."""
        image = session.current_image
        style = session.overlay_style
        self._valid = False
        if image is None or style.hide_all:
            self.dirty = None
            return LayerUpdate(None, color_table([]), None, [])
        h, w = image.rgb.shape[:2]
        instances = session.objects.current()
        if self._key != session.current_key:  # another image: paint it from scratch
            self._key, self._compositor, self._slots = (
                session.current_key,
                LabelCompositor(),
                ColorSlots(MAX_LABELS),
            )
        self.colors.rebuild(instances, {c.id: c.color for c in session.project.categories})
        self._slots.begin()
        self._instances = {inst.id: inst for inst in instances}
        self._exclude = exclude
        self._selected = session.selected_id
        pairs = [self._item(session, inst) for inst in instances]
        labels = self._compositor.render((h, w), [item for item, _spec in pairs])
        self.painted = self._compositor.painted
        table = self._table(session)
        self.dirty = self._compositor.dirty if not self._slots.changed and style == self._style else None
        self._style = style
        self._valid = True
        return LayerUpdate(labels, table, self.dirty, [(item.instance_id, spec) for item, spec in pairs])

    def object_changed(
        self, session: Session, event: SessionEvent, exclude: int | None = None
    ) -> LayerUpdate | None:
        """Apply one ``OBJECT`` event of the current image; ``None``: the layers cannot follow one object's
        change (another image, style or excluded object since the last rebuild): rebuild them."""
        key = event.image_key
        if (
            not self._follows(session, exclude)
            or key is None
            or key != self._key
            or event.instance_id is None
        ):
            return None
        record = session.project.image(key)
        iid, index = event.instance_id, event.index
        self._begin()
        edits: list[OutlineEdit] = []
        others: set[int] = set()
        if event.change is ObjectChange.REMOVED:
            self._instances.pop(iid, None)
            others = self.colors.removed(iid, event.category_id, lambda: record.instances)
            self._compositor.remove(iid)
            self._collect()
            edits.append(OutlineEdit("remove", iid))
        elif index is not None and 0 <= index < record.instance_count:
            inst = record.instance_at(index)
            if inst.id != iid:
                return None
            self._instances[iid] = inst
            if event.change is ObjectChange.ADDED:
                on_top = index == record.instance_count - 1
                others = self.colors.added(inst, on_top, lambda: record.instances)
                item, spec = self._item(session, inst)
                self._compositor.insert(index, item)
                self._collect()
                edits.append(OutlineEdit("insert", iid, index, spec))
            else:
                if event.category_id != event.previous_category_id:
                    others = self.colors.rebuild(
                        record.instances, {c.id: c.color for c in session.project.categories}
                    )
                others.add(iid)
        else:
            return None
        edits.extend(self._update(session, others))
        return self._result(session, edits)

    def touch(
        self, session: Session, ids: Iterable[int | None], exclude: int | None = None
    ) -> LayerUpdate | None:
        """Redraw the objects ``ids`` (their selection or visibility changed); ``None``: rebuild instead."""
        if not self._follows(session, exclude):
            return None
        self._begin()
        edits = self._update(session, {i for i in ids if i is not None})
        return self._result(session, edits)

    def selection_changed(self, session: Session, exclude: int | None = None) -> LayerUpdate | None:
        """Redraw the object selected before and the one selected now; ``None``: rebuild instead."""
        previous, self._selected = self._selected, session.selected_id
        return self.touch(session, (previous, session.selected_id), exclude)

    # --- one object at a time ---------------------------------------------------------------------------
    def _follows(self, session: Session, exclude: int | None) -> bool:
        """Whether the layers still show the current image as last rebuilt (so one change can be applied)."""
        return (
            self._valid
            and session.current_image is not None
            and self._key == session.current_key
            and self._style == session.overlay_style
            and self._exclude == exclude
            and self._compositor.labels is not None
        )

    def _begin(self) -> None:
        self._slots.begin()
        self.dirty, self.painted = [], 0

    def _collect(self) -> None:
        """Add the compositor's last repaint to this update's."""
        if self.dirty is not None and self._compositor.dirty is not None:
            self.dirty.extend(self._compositor.dirty)
        self.painted += self._compositor.painted

    def _update(self, session: Session, ids: set[int]) -> list[OutlineEdit]:
        edits = []
        for iid in ids:
            inst = self._instances.get(iid)
            if inst is None:
                continue
            item, spec = self._item(session, inst)
            self._compositor.update(item)
            self._collect()
            edits.append(OutlineEdit("update", iid, 0, spec))
        return edits

    def _result(self, session: Session, edits: list[OutlineEdit]) -> LayerUpdate:
        if self._slots.changed:
            self.dirty = None
        return LayerUpdate(self._compositor.labels, self._table(session), self.dirty, None, edits)

    def _item(self, session: Session, inst: Instance) -> tuple[LabelItem, OutlineSpec | None]:
        """What the layers draw of ``inst``: its label item (label 0: not drawn) and outline (``None``)."""
        color = self.colors.colors.get(inst.id)
        selected = inst.id == session.selected_id
        if (
            color is None
            or inst.hidden
            or inst.id == self._exclude
            or inst.id == session.objects.refining_id()
        ):
            return LabelItem(inst.id, inst.mask, 0), None
        image = session.current_image
        size_ok = image is not None and inst.mask.rle["size"] == list(image.rgb.shape[:2])
        label = SELECTED if selected else self._slots.label(color)
        return LabelItem(inst.id, inst.mask, label), (
            OutlineSpec(inst.id, inst.mask, color, selected) if size_ok else None
        )

    def _table(self, session: Session) -> list[int]:
        style = session.overlay_style
        table = color_table(self._slots.colors, alpha=style.fill_alpha)
        selected = session.selected_id
        color = self.colors.colors.get(selected) if selected is not None else None
        if color is not None and selected in self._instances:
            table[SELECTED] = color_table([color], alpha=style.selected_alpha)[1]
        return table
