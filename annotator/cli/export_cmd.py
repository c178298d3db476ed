"""``main.py export FOLDER --out FILE.json [--segmentation auto|polygon|rle] [--images annotated|done|all]
[--contiguous-ids] [--project FILE]``.

Writes the COCO file of the project of an image folder (read-only for the project). Warnings (empty masks not
written, unreadable images left out, objects only RLE can represent) go to stderr, the summary to stdout.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from annotator.cli import CliError

# The choices of --segmentation and --images (annotator.core.model.SEGMENTATION_MODES and
# annotator.core.coco.IMAGE_CHOICES; a test keeps them equal). The core (NumPy, OpenCV, pycocotools) is imported
# when the command runs, so ``export --help`` starts at once.
SEGMENTATION_CHOICES = ("auto", "polygon", "rle")
IMAGE_CHOICES = ("annotated", "done", "all")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("export", help="export a project's annotations as COCO JSON")
    parser.add_argument("folder", type=Path, help="the image folder (project in FOLDER/.sam-annotator/)")
    parser.add_argument("--out", type=Path, required=True, help="the COCO JSON file to write")
    parser.add_argument(
        "--segmentation",
        choices=SEGMENTATION_CHOICES,
        default=None,
        help="polygons where exact (auto), polygons forced (polygon) or RLE (rle); default: the project's",
    )
    parser.add_argument(
        "--images",
        choices=IMAGE_CHOICES,
        default="annotated",
        help="images with annotations or marked done (default), only those marked done, or all; "
        "unreadable images never",
    )
    parser.add_argument(
        "--contiguous-ids",
        action="store_true",
        help="number the categories 1..N (default: the project's ids)",
    )
    parser.add_argument("--project", type=Path, default=None, help="project file, if not the default")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from annotator.core.coco import export_coco
    from annotator.core.errors import CoreError
    from annotator.core.project_store import ProjectStore, default_project_file

    project_file = args.project or default_project_file(args.folder)
    if not Path(project_file).is_file():
        raise CliError(f"{project_file}: no project file (open the folder in the app or import COCO first)")
    try:
        store = ProjectStore.open(args.folder, args.project)
        for warning in store.warnings:
            print(f"warning: {warning}", file=sys.stderr)
        report = export_coco(
            store.project,
            args.out,
            args.segmentation,
            images=args.images,
            contiguous_ids=args.contiguous_ids,
        )
    except CoreError as exc:
        raise CliError(str(exc)) from None
    for warning in report.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    for item in report.rle_objects:
        print(
            f"warning: {item}: only RLE can represent it (polygon-mode trainers will refuse it)",
            file=sys.stderr,
        )
    print(f"wrote {report.path}: {report.summary()}")
    return 0
