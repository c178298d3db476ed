"""``python main.py boxes-to-masks FOLDER [--in FILE] --out FILE [--checkpoint PATH] [model options]``.

Turns box-only objects into masks: every box becomes a box prompt of the model (SAM, MobileSAM or SAM 2 with a
checkpoint, decoded in batches; the classical engine without one), and the masks are written as COCO proposals
in the format ``main.py auto`` writes: ``images`` (``file_name`` relative to FOLDER), the categories of the
boxes' source, ``annotations`` with compressed RLE ``segmentation`` (``counts`` a str), ``area``, ``bbox`` from
the mask, ``iscrowd`` 0, ``score`` (the predicted IoU), ``source_box_id`` (the box's id: the project's object
id, or the annotation id in FILE) and ``source_box`` (the box, ``[x, y, w, h]``). The boxes come from the
folder's project (objects imported without a segmentation), or from the COCO file FILE (annotations with a
``bbox`` and no segmentation; its image and category ids are kept). Embeddings are taken from and put into the
embedding cache (``--cache-dir``, default: the settings'; ``--no-cache``: neither). The file is written
atomically. Progress goes to stderr, one line per image, and a summary at the end; an image that cannot be read
is reported in one line naming the file and skipped. ``--into-project`` (the project's boxes only) also adds
the masks to the folder's review queue as box proposals: accepting one gives its box object the mask, as the
app's Tools > Boxes to masks does (one undoable step, under the project lock; the same run merged again adds
nothing; undecided box proposals of an earlier run on those images are replaced).

Exit status: 0 when every image was segmented, 1 when some were skipped, 2 on a usage error.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from annotator.cli import CliError
from annotator.cli.cluster_options import add_cluster_options, source_arg
from annotator.cli.into_project import add_into_project_option
from annotator.cli.model_options import add_model_options, load_engine
from annotator.core.atomic import atomic_write_bytes
from annotator.core.errors import CoreError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("boxes-to-masks", help="segment box-only objects (COCO proposals out)")
    parser.add_argument(
        "folder",
        type=source_arg,
        metavar="SOURCE",
        help="image folder (of the project, or of FILE's file_names), or an object-storage URL with --in FILE "
        "(s3://BUCKET/PREFIX, gs://..., file:///ABS/PATH; docs/SCALING.md)",
    )
    parser.add_argument(
        "--in",
        dest="input",
        type=Path,
        metavar="FILE",
        help="COCO file with the boxes (default: the project's)",
    )
    parser.add_argument("--out", type=Path, required=True, help="COCO JSON file to write the proposals to")
    parser.add_argument(
        "--checkpoint",
        help="SAM / MobileSAM / SAM 2 checkpoint file or model name (default: the configured one, else the "
        "classical engine)",
    )
    add_model_options(parser)
    parser.add_argument(
        "--cache-dir",
        type=Path,
        help="embedding cache folder (default: the settings'; images in it are not encoded again)",
    )
    parser.add_argument("--no-cache", action="store_true", help="neither read nor fill the embedding cache")
    parser.add_argument(
        "--multimask", action="store_true", help="decode three candidates per box and keep the best scored"
    )
    add_cluster_options(parser)
    add_into_project_option(
        parser,
        "also add the masks to the folder's review queue (the project's boxes only; accepting one turns its "
        "box object into a mask object; one undoable step; the same run twice adds nothing)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from annotator.cli.box_job import cached_image_setter, segment_image_boxes
    from annotator.cli.into_project import project_folder
    from annotator.cluster.sources import check_source
    from annotator.core.box_objects import BoxSet, proposals_dataset, read_coco_boxes

    folder: Path | str = args.folder
    if args.into_project and args.input is not None:
        raise CliError(
            "--into-project takes the project's own boxes: import FILE first (python main.py import), "
            "then run without --in"
        )
    project = None
    if args.input is None:  # the boxes are the project's (a bucket has none: refused before reading it)
        project = project_folder(folder, needed_by="boxes-to-masks", advice="give the boxes with --in FILE")
    try:
        check_source(folder)
    except CoreError as exc:
        raise CliError(str(exc)) from None
    if args.into_project and project is not None:
        from annotator.cli.into_project import refuse_locked

        refuse_locked(project)
    try:
        boxes: BoxSet = read_coco_boxes(args.input) if project is None else _project_boxes(project)
    except CoreError as exc:
        raise CliError(str(exc)) from exc
    for note in boxes.notes:
        print(f"note: {note}", file=sys.stderr)
    if boxes.box_count == 0:
        raise CliError(f"{args.input or folder}: no box-only objects to segment")
    checkpoint, device, dtype, cache = _engine_choice(args)
    if args.cluster is not None:
        from annotator.cli.cluster_run import run_boxes

        return run_boxes(args, boxes, checkpoint, device, dtype, cache)
    segmenter = load_engine(checkpoint, device=device, dtype=dtype, config=args.config)
    set_image = None if cache is None else cached_image_setter(segmenter, cache)

    per_image: dict[str, list[Any]] = {}
    skipped = empty = 0
    encode_s = decode_s = 0.0
    width = len(str(len(boxes.images)))
    start = time.perf_counter()
    for index, image in enumerate(boxes.images, start=1):
        prefix = f"[{index:>{width}}/{len(boxes.images)}] {image.file_name}"
        result = segment_image_boxes(segmenter, folder, image, multimask=args.multimask, set_image=set_image)
        for note in result.notes:
            print(f"{prefix}: {note}", file=sys.stderr)
        empty += len(result.notes)
        if result.error is not None:
            skipped += 1
            print(f"{prefix}: skipped ({result.error})", file=sys.stderr, flush=True)
            continue
        per_image[image.file_name] = result.proposals
        encode_s += result.encode_s
        decode_s += result.decode_s
        print(
            f"{prefix}: {len(result.proposals)}/{len(image.prompts)} masks"
            f" (encode {result.encode_s:.2f} s, decode {result.decode_s:.2f} s)",
            file=sys.stderr,
            flush=True,
        )
    data = proposals_dataset(boxes, per_image, engine=segmenter.model_id)
    atomic_write_bytes(args.out, json.dumps(data).encode("utf-8"))
    done_boxes = sum(len(image.prompts) for image in boxes.images if image.file_name in per_image)
    per_box = f", {1000 * decode_s / done_boxes:.1f} ms per box beyond encoding" if done_boxes else ""
    print(
        f"wrote {args.out}: {len(data['annotations'])} masks from {boxes.box_count} boxes on"
        f" {len(per_image)} images; {empty} boxes without a mask, {skipped} images skipped"
        f" ({time.perf_counter() - start:.1f} s{per_box})",
        file=sys.stderr,
    )
    if args.into_project and project is not None:
        from annotator.cli.into_project import boxes_tag, merge_into_project, model_spec

        spec = model_spec(checkpoint, device, dtype, args.config)
        merge_into_project(project, data, tag=boxes_tag(spec, boxes, multimask=args.multimask), boxes=True)
    return 1 if skipped else 0


def _project_boxes(folder: Path) -> Any:
    """The box-only objects of the folder's project (read only: the project is not changed)."""
    from annotator.core.box_objects import project_box_prompts
    from annotator.core.project_store import ProjectStore

    store = ProjectStore.open(folder)
    for warning in store.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return project_box_prompts(store.project)


def _engine_choice(args: argparse.Namespace) -> tuple[str | Path | None, str, str, Any]:
    """``(checkpoint or None for the classical engine, device, dtype, embedding cache or None)`` from the
    options and the settings."""
    from annotator.cli.encode_cmd import resolve_checkpoint
    from annotator.core.embedding_cache import EmbeddingCache
    from annotator.core.settings import SettingsError, load_settings

    try:
        settings = load_settings()
    except SettingsError as exc:
        raise CliError(str(exc)) from exc
    checkpoint = resolve_checkpoint(args.checkpoint, settings)
    cache = None
    if not args.no_cache:
        cache = EmbeddingCache(args.cache_dir or settings.resolved_cache_dir(), settings.cache_max_bytes)
    return checkpoint, args.device or settings.device, args.dtype or settings.dtype, cache
