"""Issue 15 item 4 in the window: one change updates one row, traces one outline, paints one object's box and
saves one object, however many objects the image holds (counted, not timed)."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt

from annotator.core import masks as masks_module
from annotator.core.masks import Mask
from annotator.core.model import Category, Instance
from annotator.core.project_store import ProjectStore, sync_images
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
    with qtbot.waitSignal(c.instances_changed, timeout=5000):
        window.actions_by_id["accept"].trigger()
    compositor = c._instance_labels._compositor  # the instance layer's painter: what it repainted
    assert compositor is not None and compositor.dirty == [(70, 50, 85, 60)]
    assert compositor.painted < 20
    assert window.instance_panel.rows_built == rows + 1
    assert window.canvas.instance_outlines.traced == traced + 1
    assert saves and sum(s["instances"] for s in saves) == 1 and all(s["images"] == 1 for s in saves)
    assert masks_module.DECODE_COUNTS["full"] == decodes["full"]
    assert window.canvas.instances_layer.labels[55, 75] != 0

    saves.clear()
    with qtbot.waitSignal(c.instances_changed, timeout=5000):
        window.actions_by_id["undo"].trigger()
    assert len(c.current_instances()) == 120
    assert compositor.dirty == [(70, 50, 85, 60)] and compositor.painted < 20
    assert window.instance_panel.rows_built == rows + 1
    assert saves and sum(s["instances"] for s in saves) == 0 and all(s["images"] == 1 for s in saves)
    assert masks_module.DECODE_COUNTS["full"] == decodes["full"]
