"""``main.py import FOLDER PATH [--format coco|yolo-seg|yolo-det|voc|labelme] [--project FILE]``: merge a dataset
into the folder's project.

``PATH`` is a COCO JSON file, a YOLO dataset folder or its ``data.yaml``, a VOC folder, or a labelme folder or
file; the format is detected when ``--format`` is not given. Prints one line per skipped item (and per image
matched only by file name), then a summary; the project is saved once at the end. Exit status 0 when
every item was imported, 1 when some items were skipped (the rest is imported and saved), 2 if unusable.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from annotator.cli import CliError

IMPORT_FORMATS = ("coco", "yolo-seg", "yolo-det", "voc", "labelme")
"""``--format`` choices (the same as ``annotator.core.formats.detect.FORMATS``, kept here so that ``--help``
loads no core module)."""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "import", help="import a COCO, YOLO, VOC or labelme dataset into a folder's project"
    )
    parser.add_argument("folder", type=Path, help="the image folder the dataset's images are in")
    parser.add_argument(
        "coco",
        type=Path,
        metavar="PATH",
        help="COCO JSON file, YOLO folder or data.yaml, VOC folder, labelme folder or JSON file",
    )
    parser.add_argument(
        "--format",
        choices=IMPORT_FORMATS,
        default=None,
        help="the dataset's format (default: detected from PATH)",
    )
    parser.add_argument("--project", type=Path, default=None, help="project file, if not the default")
    parser.add_argument(
        "--wait",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="if another process has the project open for writing, wait this long for it (default: fail)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if not Path(args.folder).is_dir():
        raise CliError(f"{args.folder}: image folder not found")
    # Imported here: ``import --help`` starts without loading the core's NumPy/OpenCV/pycocotools.
    from annotator.core.errors import CoreError
    from annotator.core.formats.dataset_import import import_dataset
    from annotator.core.project_lock import ProjectLock
    from annotator.core.project_store import ProjectStore, default_project_file

    lock = ProjectLock(Path(args.project) if args.project else default_project_file(args.folder))
    try:
        lock.wait(max(0.0, args.wait))  # one writer per project (ADR 0009)
        store = ProjectStore.open(args.folder, args.project)
        for warning in store.warnings:
            print(f"warning: {warning}")
        report = import_dataset(store.project, args.coco, args.format)
        store.save()
    except CoreError as exc:
        raise CliError(str(exc)) from None
    finally:
        lock.release()
    for message in report.messages:
        print(message)
    print(f"{report.format}: {report.summary()}")
    return 1 if report.errors else 0
