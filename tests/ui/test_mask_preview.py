"""Hover previews at the view's resolution with their edge marked (``workers.mask_preview``), and the canvas item
that draws one scaled to the image (``ui.hover_layer``)."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtGui import QColor, QImage, QPainter
from PySide6.QtWidgets import QStyleOptionGraphicsItem

from annotator.ui.hover_layer import HoverLayerItem, preview_table
from annotator.workers.mask_preview import (
    EDGE_IN,
    EDGE_OUT,
    FILL,
    PREVIEW_MAX_PIXELS,
    mask_preview,
    preview_scale,
)


def test_scale_follows_the_view_never_above_one_nor_the_pixel_cap() -> None:
    assert preview_scale((100, 200), None) == 1.0
    assert preview_scale((100, 200), 4.0) == 1.0  # zoomed in on a small image: its own pixels
    assert preview_scale((1080, 1920), 0.5) == 0.5  # the screen shows no more than that
    capped = preview_scale((4000, 6000), 2.0)  # zoomed in on a 24 MP image: bounded cost
    assert 4000 * 6000 * capped**2 == pytest.approx(PREVIEW_MAX_PIXELS)
    assert preview_scale((100, 200), 0.0) == 1.0  # a zoom not known yet


def test_labels_mark_the_fill_and_the_edges_on_both_sides() -> None:
    mask = np.zeros((12, 14), bool)
    mask[3:8, 4:10] = True
    preview = mask_preview(mask, None)
    labels = preview.labels
    assert labels.shape == mask.shape and labels.dtype == np.uint8 and labels.flags.c_contiguous
    assert (labels[4:7, 5:9] == FILL).all()
    inner = np.zeros_like(mask)
    inner[3:8, 4:10] = True
    inner[4:7, 5:9] = False
    assert ((labels == EDGE_IN) == inner).all()  # the mask's own border pixels
    outer = np.zeros_like(mask)
    outer[2:9, 3:11] = True
    outer[3:8, 4:10] = False
    assert ((labels == EDGE_OUT) == outer).all()  # the ring just outside it
    assert (preview.mask() == mask).all()
    assert preview.box == (3, 2, 11, 9)


def test_a_mask_touching_the_image_border_is_closed_along_it() -> None:
    mask = np.zeros((10, 10), bool)
    mask[:5, :5] = True
    labels = mask_preview(mask, None).labels
    assert (labels[0, :5] == EDGE_IN).all() and (labels[:5, 0] == EDGE_IN).all()


def test_a_scaled_preview_spans_the_image_and_its_box_covers_the_mask() -> None:
    mask = np.zeros((1000, 2000), bool)
    mask[200:600, 300:1100] = True
    preview = mask_preview(mask, 0.25)
    assert preview.labels.shape == (250, 500) and preview.scale == (0.25, 0.25)
    assert preview.image_size == (1000, 2000)
    inside = preview.mask()
    assert inside[100, 175] and not inside[10, 10]  # image (700, 400) is inside, (40, 40) is not
    x0, y0, x1, y1 = preview.box
    assert x0 <= 300 and y0 <= 200 and x1 >= 1100 and y1 >= 600
    assert x0 >= 300 - 12 and y0 >= 200 - 12 and x1 <= 1100 + 12 and y1 <= 600 + 12  # within 3 preview px


def test_speckles_cost_no_contours_and_an_empty_mask_has_no_box() -> None:
    rng = np.random.default_rng(0)
    speckled = rng.random((600, 800)) < 0.05  # the worst case for traced outlines: thousands of specks
    preview = mask_preview(speckled, 0.5)
    assert preview.labels.shape == (300, 400) and preview.box is not None
    empty = mask_preview(np.zeros((30, 40), bool), 0.5)
    assert empty.box is None and not empty.labels.any()


def test_the_layer_draws_the_preview_scaled_to_the_image(qtbot) -> None:
    mask = np.zeros((40, 80), bool)
    mask[10:30, 20:60] = True
    preview = mask_preview(mask, 0.5)  # 20 x 40 labels over a 40 x 80 image
    item = HoverLayerItem()
    item.set_preview(preview, preview_table((255, 0, 0)))
    assert item.labels is preview.labels and item.boundingRect().width() == 80
    image = QImage(80, 40, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(0)
    painter = QPainter(image)
    option = QStyleOptionGraphicsItem()
    option.exposedRect = item.boundingRect()
    item.paint(painter, option)
    painter.end()
    centre = QColor.fromRgba(image.pixel(40, 20))
    assert centre.red() > 0 and centre.green() == 0 and centre.alpha() > 0  # filled with the colour
    assert QColor.fromRgba(image.pixel(2, 2)).alpha() == 0  # outside: transparent
    assert QColor.fromRgba(image.pixel(20, 20)).alpha() == 255  # the light inner edge, opaque, at x = 20
    item.set_preview(None, [])
    assert item.labels is None
