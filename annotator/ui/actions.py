"""Named actions and their shortcuts, loaded from the bundled ``keymap.json`` (the Help menu lists them)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib.resources.abc import Traversable
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QWidget

from annotator.bundled import resource

KEYMAP_PATH: Path | Traversable = resource("keymap.json")


@dataclass(frozen=True)
class ActionSpec:
    """An action id with its menu text and help line."""

    id: str
    text: str
    help: str


SPECS: tuple[ActionSpec, ...] = (
    ActionSpec("open_folder", "&Open folder…", "Open an image folder (its project is restored)"),
    ActionSpec("load_checkpoint", "&Load checkpoint…", "Load a SAM checkpoint (.pth)"),
    ActionSpec("models", "&Models…", "Download, add and choose SAM checkpoints; clear the embedding cache"),
    ActionSpec(
        "export_coco", "&Export…", "Write the annotations as COCO JSON, YOLO, Pascal VOC or labelme JSON"
    ),
    ActionSpec("import_coco", "&Import…", "Read annotations from a COCO, YOLO, VOC or labelme dataset"),
    ActionSpec("quit", "&Quit", "Quit"),
    ActionSpec("undo", "&Undo", "Undo the last prompt or annotation change"),
    ActionSpec("redo", "&Redo", "Redo"),
    ActionSpec("accept", "&Accept object", "Store the live mask as an object of the current category"),
    ActionSpec(
        "accept_box",
        "Accept as &box",
        "Keep the drawn box itself as a box-only object of the current category (one box, no clicks)",
    ),
    ActionSpec("clear_prompts", "&Clear prompts", "Drop the current prompts (again: deselect)"),
    ActionSpec("next_candidate", "Next &candidate", "Cycle through the candidate masks"),
    ActionSpec("next_image", "&Next image", "Go to the next image"),
    ActionSpec("previous_image", "&Previous image", "Go to the previous image"),
    ActionSpec("mark_done", "Mark image &done", "Toggle the image's done state"),
    ActionSpec("fit", "&Fit to window", "Fit the image to the window"),
    ActionSpec("zoom_in", "Zoom &in", "Zoom in"),
    ActionSpec("zoom_out", "Zoom &out", "Zoom out"),
    ActionSpec("tool_prompt", "&Prompt tool", "Clicks and boxes prompt the model"),
    ActionSpec("tool_brush", "&Brush", "Paint on the live mask or the selected object"),
    ActionSpec("tool_eraser", "&Eraser", "Erase from the live mask or the selected object"),
    ActionSpec("tool_polygon", "P&olygon edit", "Edit the selected object's polygon vertices"),
    ActionSpec("brush_smaller", "Brush smaller", "Smaller brush"),
    ActionSpec("brush_larger", "Brush larger", "Larger brush"),
    ActionSpec("delete_instance", "&Delete object", "Delete the selected object"),
    ActionSpec("toggle_hidden", "&Hide/show object", "Hide or show the selected object"),
    ActionSpec(
        "segment_box",
        "&Segment box object",
        "The selected box-only object's box becomes the prompt; Enter replaces the box by the mask",
    ),
    ActionSpec(
        "boxes_to_masks",
        "Boxes to &masks…",
        "Segment the box-only objects (this image or all) with the current model, for review",
    ),
    ActionSpec("help_keys", "&Keyboard shortcuts", "List the shortcuts"),
    ActionSpec("new_object", "&New object", "Leave the selected object: the next click starts a new one"),
    ActionSpec("outline_only", "&Outlines only", "Draw the objects as outlines, without fills"),
    ActionSpec("hide_all", "Hide &all objects", "Hide every object (the live mask stays visible)"),
    ActionSpec("hover_preview", "&Hover preview", "Preview the mask under the resting pointer"),
    ActionSpec("propose_objects", "Propose &objects…", "Propose objects in the background for review"),
    ActionSpec("review_proposals", "&Review proposals", "Review the proposals by keyboard (Esc leaves)"),
    ActionSpec(
        "find_similar_all",
        "Find &similar in all images…",
        "Look for the selected object in every other image (PerSAM; needs a SAM checkpoint) for review",
    ),
    ActionSpec(
        "find_similar_selected",
        "Find similar in se&lected images…",
        "Look for the selected object in the images selected in the file list (Ctrl/Shift+click)",
    ),
)


def load_keymap(path: Path | Traversable = KEYMAP_PATH) -> dict[str, list[str]]:
    """Action id -> key sequences. Raises ``ValueError`` naming the file when it is malformed."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: cannot read the keymap: {exc}") from exc
    keymap = {k: v for k, v in data.items() if not k.startswith("_") and k != "review"}  # review: review_keys
    if not all(isinstance(v, list) and all(isinstance(s, str) for s in v) for v in keymap.values()):
        raise ValueError(f"{path}: every action must map to a list of key sequences")
    return keymap


def create_actions(parent: QWidget, keymap: dict[str, list[str]]) -> dict[str, QAction]:
    """One :class:`QAction` per spec, with its shortcuts, added to ``parent`` so they work without a menu."""
    actions: dict[str, QAction] = {}
    for spec in SPECS:
        action = QAction(spec.text, parent)
        action.setStatusTip(spec.help)
        action.setShortcuts([QKeySequence(s) for s in keymap.get(spec.id, [])])
        action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        parent.addAction(action)
        actions[spec.id] = action
    return actions


def shortcuts_html(keymap: dict[str, list[str]]) -> str:
    """A table of the shortcuts and mouse gestures for the Help menu."""
    rows = "".join(
        f"<tr><td><b>{', '.join(keymap.get(s.id, [])) or '—'}</b></td><td>{s.help}</td></tr>" for s in SPECS
    )
    mouse = (
        "<tr><td><b>Left click</b></td><td>positive point</td></tr>"
        "<tr><td><b>Right click, Shift+click</b></td><td>negative point</td></tr>"
        "<tr><td><b>Left drag</b></td><td>box prompt (brush/eraser: paint)</td></tr>"
        "<tr><td><b>Wheel</b></td><td>zoom around the cursor</td></tr>"
        "<tr><td><b>Middle drag, Space+drag</b></td><td>pan</td></tr>"
        "<tr><td><b>1 … 9</b></td><td>pick category 1 … 9</td></tr>"
        "<tr><td><b>Polygon mode</b></td><td>drag a vertex; double-click an edge adds one; "
        "right-click a vertex removes it</td></tr>"
    )
    from annotator.ui.review_keys import DEFAULT_REVIEW_KEYS, load_review_keys, review_help_rows

    try:
        review = review_help_rows(load_review_keys())
    except ValueError:
        review = review_help_rows(DEFAULT_REVIEW_KEYS)
    return f"<table cellspacing='4'>{rows}{mouse}{review}</table>"
