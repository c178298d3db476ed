"""Hover preview rules (Qt-free): what a preview decode asks for, and when its answer is stale.

While the pointer rests on the image, the app decodes the mask that a positive click *there* would give: before
the first click the point alone, between clicks the current prompts plus that point (the "next point" preview,
with the current object's logits as ``mask_input``, as the click would send). A preview is keyed by
:class:`HoverKey`; an answer is shown only while the image, the prompts and the pointer's pixel are still the
ones it was asked for.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from annotator.core.prompts import PromptState

HOVER_DELAY_MS = 30
"""How long the pointer must rest before a preview is asked for (debounce; every move restarts it). A moving
pointer reports every 16 ms or less (60 Hz and up), so 30 ms still asks nothing while it moves; the rest of the
150 ms a preview may take goes to the decode."""

HOVER_BUDGET_S = 0.25
"""The most a mask decode may take for previews to stay on. An engine that holds Python's GIL while it decodes
(the classical engine's graph cut) stalls the pointer for that long, so slower engines pause the preview."""


def hover_affordable(last_decode_s: float | None, budget_s: float | None) -> bool:
    """Whether previews fit the budget, given the engine's last decode time (``None``: not known yet, or no
    budget: previews on)."""
    return budget_s is None or last_decode_s is None or last_decode_s <= budget_s


@dataclass(frozen=True)
class HoverKey:
    """What a preview was asked for: the image, the prompts (points and box) and the pointer's pixel."""

    image_key: str
    prompts: tuple
    pixel: tuple[int, int]


@dataclass(frozen=True)
class HoverPrompt:
    """The decode a click at the pointer would send: ``points`` ``N x 2`` float32 ``(x, y)``, ``labels`` ``N``
    int32, ``box`` ``4`` float32 or ``None``, ``mask_input`` ``1 x 256 x 256`` or ``None``, ``multimask``."""

    points: np.ndarray
    labels: np.ndarray
    box: np.ndarray | None
    mask_input: np.ndarray | None
    multimask: bool


def pixel_of(x: float, y: float) -> tuple[int, int]:
    """The image pixel ``(column, row)`` under image coordinates ``(x, y)``."""
    return int(np.floor(x)), int(np.floor(y))


def hover_key(image_key: str, state: PromptState, x: float, y: float) -> HoverKey:
    return HoverKey(image_key, (state.points, state.box), pixel_of(x, y))


def hover_prompt(state: PromptState, x: float, y: float) -> HoverPrompt:
    """The prompts of a positive click at ``(x, y)`` added to ``state`` (as ``SessionController`` sends them)."""
    with_point = state.with_point(float(x), float(y), 1)
    points = with_point.point_coords()
    labels = with_point.point_labels()
    if points is None or labels is None:  # with_point always adds one; kept for the type checker
        raise ValueError("a hover prompt needs a point")
    mask_input = state.logits
    multimask = len(with_point.points) == 1 and state.box is None and mask_input is None
    return HoverPrompt(points, labels, with_point.box_array(), mask_input, multimask)
