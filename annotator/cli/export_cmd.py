"""``main.py export FOLDER --out PATH [--format coco|yolo-seg|yolo-det|voc|labelme] [--images annotated|done|all]
[--segmentation auto|polygon|rle] [--contiguous-ids] [--val-fraction F] [--seed N] [--copy-images] [--overwrite]
[--project FILE]``.

Writes the project of an image folder (read-only for the project) as a COCO file (the default) or as a dataset
folder in another format. Warnings (empty masks not written, unreadable images left out, what the format cannot
express) go to stderr, the summary to stdout.
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
# annotator.core.formats.export.EXPORT_FORMATS (a test keeps them equal).
FORMAT_CHOICES = ("coco", "yolo-seg", "yolo-det", "voc", "labelme")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "export", help="export a project's annotations (COCO JSON, YOLO, Pascal VOC or labelme)"
    )
    parser.add_argument("folder", type=Path, help="the image folder (project in FOLDER/.sam-annotator/)")
    parser.add_argument(
        "--out", type=Path, required=True, help="the COCO JSON file, or the folder of the other formats"
    )
    parser.add_argument(
        "--format",
        choices=FORMAT_CHOICES,
        default="coco",
        help="coco (default), yolo-seg (Ultralytics polygons), yolo-det (boxes), voc (PNG masks + XML), "
        "labelme (one JSON per image)",
    )
    parser.add_argument(
        "--segmentation",
        choices=SEGMENTATION_CHOICES,
        default=None,
        help="coco: polygons where exact (auto), polygons forced (polygon) or RLE (rle); default: the project's",
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
        help="coco: number the categories 1..N (default: the project's ids)",
    )
    parser.add_argument(
        "--val-fraction",
        type=float,
        default=0.0,
        help="yolo-seg, yolo-det, voc: put this fraction of the images in a validation split (default 0: none)",
    )
    parser.add_argument("--seed", type=int, default=0, help="the seed of the train/val split (default 0)")
    parser.add_argument(
        "--copy-images",
        action="store_true",
        help="folder formats: copy the images (default: link them; copied where links are impossible)",
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="folder formats: write into a folder that is not empty"
    )
    parser.add_argument("--project", type=Path, default=None, help="project file, if not the default")
    parser.set_defaults(func=run)


def _check(args: argparse.Namespace) -> None:
    if args.format != "coco":
        for flag, given in (("--segmentation", args.segmentation), ("--contiguous-ids", args.contiguous_ids)):
            if given:
                raise CliError(f"{flag} applies to --format coco only")
    elif args.val_fraction or args.copy_images or args.overwrite:
        raise CliError("--val-fraction, --copy-images and --overwrite apply to the folder formats only")
    if not 0.0 <= args.val_fraction < 1.0:
        raise CliError(f"--val-fraction must be in [0, 1), got {args.val_fraction}")


def run(args: argparse.Namespace) -> int:
    _check(args)
    from annotator.core.errors import CoreError
    from annotator.core.formats.export import ExportOptions, export_dataset, report_lines
    from annotator.core.formats.selection import select_for_export
    from annotator.core.project_store import ProjectStore, default_project_file

    project_file = args.project or default_project_file(args.folder)
    if not Path(project_file).is_file():
        raise CliError(f"{project_file}: no project file (open the folder in the app or import COCO first)")
    try:
        store = ProjectStore.open(args.folder, args.project)
        for warning in store.warnings:
            print(f"warning: {warning}", file=sys.stderr)
        project = store.project
        options = ExportOptions(
            format=args.format,
            images=args.images,
            mode=args.segmentation or project.settings.segmentation_mode,
            contiguous_ids=args.contiguous_ids,
            val_fraction=args.val_fraction,
            seed=args.seed,
            image_mode="copy" if args.copy_images else "link",
            overwrite=args.overwrite,
        )
        report = export_dataset(select_for_export(project, args.images), args.out, options)
    except CoreError as exc:
        raise CliError(str(exc)) from None
    written, summary, *details = report_lines(report)
    for line in details:
        print(f"warning: {line}", file=sys.stderr)
    print(f"{written.lower()}: {summary}")
    return 0
