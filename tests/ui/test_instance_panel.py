"""The objects panel: its category box and Delete follow the selected object and are off without one."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt

from annotator.core.masks import Mask
from annotator.core.model import Category, Instance
from annotator.ui.panels import InstancePanel


def _instance(iid: int, category_id: int) -> Instance:
    mask = np.zeros((20, 30), bool)
    mask[2:8, 3:9] = True
    return Instance(iid, category_id, Mask.from_array(mask))


def test_category_box_follows_selection(qtbot) -> None:
    panel = InstancePanel()
    qtbot.addWidget(panel)
    categories = (Category(1, "person", (255, 0, 0)), Category(4, "object", (0, 0, 255)))
    instances = (_instance(7, 4), _instance(9, 1))
    panel.set_instances(instances, categories, selected=None)
    assert not panel.category_box.isEnabled() and not panel.delete_button.isEnabled()
    assert panel.category_box.currentIndex() == -1

    with qtbot.waitSignal(panel.selected, check_params_cb=lambda iid: iid == 7):
        panel.list.setCurrentRow(0)
    assert panel.category_box.isEnabled() and panel.delete_button.isEnabled()
    assert panel.category_box.currentText() == "object"

    panel.set_instances(instances, categories, selected=9)
    assert panel.category_box.currentText() == "person"

    with qtbot.waitSignal(panel.category_requested, check_params_cb=lambda iid, cid: (iid, cid) == (9, 4)):
        panel.category_box.activated.emit(panel.category_box.findData(4))
    with qtbot.waitSignal(panel.delete_requested, check_params_cb=lambda iid: iid == 9):
        qtbot.mouseClick(panel.delete_button, Qt.MouseButton.LeftButton)
