"""Issue 15 item 4 in the window: one change updates one row, traces one outline, paints one object's box and
saves one object, however many objects the image holds (counted, not timed)."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt

from annotator.core import masks as masks_module
from annotator.core.masks import Mask
from annotator.core.model import Category, Instance
from annotator.core.project_store import ProjectStore, sync_images
from annotator.core.selection import instances_at
from annotator.ui.outlines import InstanceOutlinesItem, OutlineSpec
from annotator.ui.panels import InstancePanel
from tests.ui.fakes import DiscSegmenter


def _blob(rng: np.random.Generator, h: int = 120, w: int = 160) -> Mask:
    mask = np.zeros((h, w), bool)
    x, y = int(rng.integers(0, w - 10)), int(rng.integers(0, h - 10))
    mask[y : y + int(rng.integers(3, 10)), x : x + int(rng.integers(3, 10))] = True
    return Mask.from_array(mask)


def _row_ids(panel: InstancePanel) -> list[int]:
    return [int(panel.list.item(i).data(Qt.ItemDataRole.UserRole)) for i in range(panel.list.count())]


def test_objects_list_updates_only_the_changed_rows(qtbot) -> None:
    panel = InstancePanel()
    qtbot.addWidget(panel)
    categories = (Category(1, "thing", (200, 30, 30)),)
    rng = np.random.default_rng(0)
    instances = tuple(Instance(i, 1, _blob(rng)) for i in range(1, 201))
    panel.set_instances(instances, categories, None)
    assert panel.rows_built == 200 and _row_ids(panel) == list(range(1, 201))

    more = (*instances, Instance(201, 1, _blob(rng)))
    panel.set_instances(more, categories, 201)
    assert panel.rows_built == 201 and _row_ids(panel)[-1] == 201
    assert panel.list.currentItem().data(Qt.ItemDataRole.UserRole) == 201

    fewer = more[:50] + more[51:]
    panel.set_instances(fewer, categories, None)  # a delete: no row rebuilt
    assert panel.rows_built == 201 and 51 not in _row_ids(panel) and panel.list.count() == 200

    panel.set_instances(more, categories, None)  # its undo: back in its place, one row built
    assert panel.rows_built == 202 and _row_ids(panel) == list(range(1, 202))

    hidden = tuple(i.replace(hidden=True) if i.id == 7 else i for i in more)
    panel.set_instances(hidden, categories, None)
    assert panel.rows_built == 203
    assert panel.list.item(6).checkState() == Qt.CheckState.Unchecked


def test_outlines_trace_only_new_masks(qtbot) -> None:
    item = InstanceOutlinesItem()
    rng = np.random.default_rng(1)
    specs = [OutlineSpec(i, _blob(rng), (10, 200, 10)) for i in range(100)]
    item.set_outlines(specs)
    assert item.traced == 100 and item.count == 100
    item.set_outlines([*specs, OutlineSpec(100, _blob(rng), (10, 200, 10))])
    assert item.traced == 101 and item.count == 101
    item.set_outlines([*specs[:10], OutlineSpec(10, specs[10].mask, (10, 200, 10), True), *specs[11:]])
    assert item.traced == 101 and item.count == 100  # a selection change traces nothing


def test_accept_and_undo_in_the_window_touch_one_object(qtbot, make_window, image_folder) -> None:
    store = ProjectStore.open(image_folder)
    sync_images(store.project)
    category = store.project.add_category("thing")
    rng = np.random.default_rng(2)
    for _ in range(120):
        store.project.add_instance("a.png", store.project.new_instance(_blob(rng), category.id))
    store.save()
    window = make_window(image_folder, segmenter=DiscSegmenter())
    c = window.controller
    assert c.current_key == "a.png" and len(c.current_instances()) == 120
    rows, traced = window.instance_panel.rows_built, window.canvas.instance_outlines.traced
    decodes = dict(masks_module.DECODE_COUNTS)
    saves: list[dict[str, int]] = []  # what each autosave serialised
    text = c.autosaver.store.text
    c.autosaver.events.connect(lambda e: saves.append(dict(text.serialised)) if e.type == "saved" else None)

    mask = np.zeros((120, 160), bool)
    mask[50:60, 70:85] = True
    c.set_live_override(mask)
    full = _count_full_redraws(window)
    colors = c.layers.colors
    rebuilds = colors.rebuilds
    with qtbot.waitSignal(c.object_changed, timeout=5000):
        window.actions_by_id["accept"].trigger()
    layers = c.layers  # the instance layers: what one change repainted
    assert layers.dirty == [(70, 50, 85, 60)] and layers.painted < 20
    assert window.instance_panel.rows_built == rows + 1
    assert window.canvas.instance_outlines.traced == traced + 1
    assert saves and sum(s["instances"] for s in saves) == 1 and all(s["images"] == 1 for s in saves)
    assert masks_module.DECODE_COUNTS["full"] == decodes["full"]
    assert window.canvas.instances_layer.labels[55, 75] != 0
    assert _row_ids(window.instance_panel)[-1] == c.current_instances()[-1].id
    assert full == [] and colors.rebuilds == rebuilds  # no pass over the 120 objects
    new_id = c.current_instances()[-1].id

    saves.clear()
    with qtbot.waitSignal(c.object_changed, timeout=5000):
        window.actions_by_id["undo"].trigger()
    assert len(c.current_instances()) == 120
    assert layers.dirty == [(70, 50, 85, 60)] and layers.painted < 20
    assert window.instance_panel.rows_built == rows + 1
    assert new_id not in _row_ids(window.instance_panel) and window.instance_panel.list.count() == 120
    assert window.canvas.instance_outlines.count == 120
    assert saves and sum(s["instances"] for s in saves) == 0 and all(s["images"] == 1 for s in saves)
    assert masks_module.DECODE_COUNTS["full"] == decodes["full"]
    assert window.canvas.instances_layer.labels[55, 75] == 0 or any(
        inst.mask.contains(75, 55) for inst in c.current_instances()
    )
    assert full == [] and colors.rebuilds == rebuilds

    # Selecting an object repaints its box (and the previous selection's), builds no row, traces nothing.
    c.clear_prompts()  # the undo brought the unaccepted mask back: a selection would refine it
    assert c.live_labels() is None
    target = next(
        inst
        for inst in c.current_instances()[40:]
        if instances_at(c.current_instances(), *_centre(inst))[:1] == [inst.id]
    )  # an object on top at its centre
    x, y, w, h = target.mask.bbox
    with qtbot.waitSignal(c.selection_changed, timeout=5000):
        c.select_instance(target.id)
    assert layers.dirty == [(x, y, x + w, y + h)] and layers.painted < 20
    cx, cy = _centre(target)
    assert window.canvas.instances_layer.labels[cy, cx] == 255
    assert window.instance_panel._current() == target.id
    assert window.instance_panel.rows_built == rows + 1
    assert window.canvas.instance_outlines.traced == traced + 1
    with qtbot.waitSignal(c.selection_changed, timeout=5000):
        c.select_instance(None)
    assert layers.dirty == [(x, y, x + w, y + h)] and window.instance_panel._current() is None
    assert full == [] and colors.rebuilds == rebuilds


def _centre(inst: Instance) -> tuple[int, int]:
    x, y, w, h = inst.mask.bbox
    return x + w // 2, y + h // 2


def _count_full_redraws(window) -> list[int]:
    """A list that grows by one each time the window redraws every object (the path one change must avoid)."""
    calls: list[int] = []
    redraw = window.controller.instance_layers

    def counted(exclude: int | None = None):
        calls.append(1)
        return redraw(exclude)

    window.controller.instance_layers = counted
    return calls


def test_one_change_matches_a_full_redraw(qtbot, make_window, image_folder) -> None:
    """After accepts, an undo, a delete in the middle, its undo, a category change and a hide, the label
    image, colours and outlines kept up one object at a time equal those drawn from scratch."""
    store = ProjectStore.open(image_folder)
    sync_images(store.project)
    category = store.project.add_category("thing")
    other = store.project.add_category("other")
    rng = np.random.default_rng(3)
    for _ in range(30):
        store.project.add_instance("a.png", store.project.new_instance(_blob(rng), category.id))
    store.save()
    window = make_window(image_folder, segmenter=DiscSegmenter())
    c = window.controller
    full = _count_full_redraws(window)
    for _ in range(3):
        c.set_live_override(_blob(rng).array())
        with qtbot.waitSignal(c.object_changed, timeout=5000):
            c.accept()
    with qtbot.waitSignal(c.object_changed, timeout=5000):
        c.undo()
    middle = c.current_instances()[10].id
    with qtbot.waitSignal(c.object_changed, timeout=5000):
        c.delete_instance(middle)
    with qtbot.waitSignal(c.object_changed, timeout=5000):
        c.undo()
    with qtbot.waitSignal(c.object_changed, timeout=5000):
        c.set_instance_category(c.current_instances()[5].id, other.id)
    with qtbot.waitSignal(c.object_changed, timeout=5000):
        c.set_instance_hidden(c.current_instances()[7].id, True)
    c.select_instance(c.current_instances()[3].id)
    assert full == []
    kept = window.canvas.instances_layer.labels.copy()
    kept_table = list(window.canvas.instances_layer._image.colorTable())
    kept_outlines = {iid: e.spec for iid, e in window.canvas.instance_outlines._entries.items()}
    assert _row_ids(window.instance_panel) == [inst.id for inst in c.current_instances()]

    from annotator.ui.instance_layer import InstanceLayers

    fresh = InstanceLayers().rebuild(c.session)
    # Label numbers depend on the order colours were first seen; the colours drawn must be the same.
    assert np.array_equal(np.array(fresh.table)[fresh.labels], np.array(kept_table)[kept])
    assert {iid: spec for iid, spec in fresh.outlines} == kept_outlines
