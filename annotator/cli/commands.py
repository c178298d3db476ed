"""The table of headless commands: name -> (module, one-line help), known without importing any command.

``--help`` and the GUI launcher only need this table; the module of a command is imported when that command
runs (or its own ``--help`` is asked for), so commands that never touch the model (``export``, ``import``,
``models list``) start without importing torch.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CommandEntry:
    """A headless command: the module that defines ``register(subparsers)``, and its help line."""

    module: str
    help: str


COMMANDS: dict[str, CommandEntry] = {
    "export": CommandEntry(
        "annotator.cli.export_cmd", "export a project's annotations (COCO JSON, YOLO, Pascal VOC or labelme)"
    ),
    "import": CommandEntry(
        "annotator.cli.import_cmd", "import a COCO, YOLO, VOC or labelme dataset into a folder's project"
    ),
    "bench": CommandEntry("annotator.cli.bench_cmd", "benchmarks of the segmentation engines"),
    "auto": CommandEntry(
        "annotator.cli.auto_cmd", "propose object masks for every image of a folder (COCO out)"
    ),
    "models": CommandEntry(
        "annotator.cli.models_cmd", "list, download, verify, add and select SAM checkpoints"
    ),
    "encode": CommandEntry("annotator.cli.encode_cmd", "fill the embedding cache for a folder of images"),
    "boxes-to-masks": CommandEntry(
        "annotator.cli.boxes_cmd", "segment box-only objects (COCO proposals out)"
    ),
    "propagate": CommandEntry(
        "annotator.cli.propagate_cmd", "find an annotated object in the project's other images (PerSAM)"
    ),
}


def command_names() -> set[str]:
    """Names of the headless commands (no command module is imported)."""
    return set(COMMANDS)
