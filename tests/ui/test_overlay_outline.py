"""The live mask's outline: traced once per mask, covering exactly the mask's extent."""

from __future__ import annotations

import numpy as np

from annotator.ui.overlay import OutlineItem


def test_outline_follows_mask_extent(qapp) -> None:
    mask = np.zeros((120, 200), bool)
    mask[30:70, 50:150] = True
    mask[90:100, 10:20] = True  # a second part
    item = OutlineItem()
    item.set_mask(mask)
    rect = item.boundingRect().adjusted(4, 4, -4, -4)  # remove the pen margin
    assert (rect.left(), rect.top()) == (10.5, 30.5)
    assert (rect.right(), rect.bottom()) == (149.5, 99.5)


def test_outline_cleared_by_none_and_empty_mask(qapp) -> None:
    item = OutlineItem()
    item.set_mask(np.ones((10, 10), bool))
    assert not item.boundingRect().isEmpty()
    item.set_mask(None)
    assert item.boundingRect().width() <= 8
    item.set_mask(np.zeros((10, 10), bool))
    assert item.boundingRect().width() <= 8
