"""``python main.py auto FOLDER --out proposals.json [options]``: automatic object proposals as a COCO file.

For every image of FOLDER (jpg, jpeg, png, bmp, tif, tiff, webp; EXIF orientation applied, converted to RGB)
the engine proposes masks: SAM's automatic mask generator with ``--checkpoint``, else the classical proposals
(:mod:`sam_model.classic.auto`). FOLDER may also be an object-storage URL (``s3://bucket/prefix``,
``file:///path``...: :mod:`annotator.cluster.sources`), read through ``pyarrow.fs``. The COCO file has ``images``
(``file_name`` relative to FOLDER, size as displayed), one category (``object``, id 1, unless ``--category``)
and ``annotations`` with compressed RLE ``segmentation`` (``counts`` a str), ``area`` and ``bbox`` from the
mask (pycocotools' conventions: ``w`` and ``h`` count pixels), ``iscrowd`` 0, ``score`` (the predicted IoU) and
``stability_score``. The file is written atomically. Progress goes to stderr, one line per image. An
unreadable image is reported and skipped. ``--into-project`` also adds the proposals to FOLDER's review queue
(one undoable step, under the project lock; the same run merged again adds nothing:
:mod:`annotator.cli.into_project`; a URL has a project only when it is a ``file://`` one).

Exit status: 0 when every image was processed, 1 when some were skipped.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from annotator.cli import CliError, non_negative_int, positive_int, unit_interval
from annotator.cli.cluster_options import SOURCE_HELP, add_cluster_options, source_arg
from annotator.cli.into_project import add_into_project_option
from annotator.cli.model_options import add_model_options, load_engine
from annotator.core.atomic import atomic_write_bytes


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("auto", help="propose object masks for every image of a folder (COCO out)")
    parser.add_argument("folder", type=source_arg, metavar="SOURCE", help=SOURCE_HELP)
    parser.add_argument("--out", type=Path, required=True, help="COCO JSON file to write")
    parser.add_argument(
        "--checkpoint", type=Path, help="SAM checkpoint (.pth); default: the classical engine"
    )
    add_model_options(parser, device_default="auto", settings_default=False)
    parser.add_argument("--points-per-side", type=positive_int, help="SAM: grid points per side (default 32)")
    parser.add_argument(
        "--points-per-batch", type=positive_int, help="SAM: prompts decoded at once (default 64)"
    )
    parser.add_argument(
        "--pred-iou-thresh", type=unit_interval, help="minimum predicted IoU / proposal score"
    )
    parser.add_argument("--stability-score-thresh", type=unit_interval, help="minimum stability score")
    parser.add_argument(
        "--box-nms-thresh", type=unit_interval, help="box IoU above which duplicates are dropped"
    )
    parser.add_argument("--crop-n-layers", type=non_negative_int, help="SAM: crop layers (default 0)")
    parser.add_argument(
        "--min-area", type=non_negative_int, help="minimum region area in pixels (holes/islands too)"
    )
    parser.add_argument("--category", default="object", help="name of the single category (default: object)")
    parser.add_argument("-r", "--recursive", action="store_true", help="include sub-folders")
    add_cluster_options(parser)
    add_into_project_option(parser)
    parser.set_defaults(func=run)


def proposal_params(args: argparse.Namespace) -> dict[str, Any]:
    """Generator keyword arguments from the options given (``None``: the engine's default)."""
    params = {
        "points_per_side": args.points_per_side,
        "points_per_batch": args.points_per_batch,
        "pred_iou_thresh": args.pred_iou_thresh,
        "stability_score_thresh": args.stability_score_thresh,
        "box_nms_thresh": args.box_nms_thresh,
        "crop_n_layers": args.crop_n_layers,
        "min_mask_region_area": args.min_area,
    }
    for key in ("points_per_side", "points_per_batch"):
        if params[key] is not None and params[key] < 1:
            raise CliError(f"--{key.replace('_', '-')} must be >= 1")
    return {key: value for key, value in params.items() if value is not None}


def to_annotations(records: list[dict[str, Any]], image_id: int, first_id: int) -> list[dict[str, Any]]:
    """COCO annotations (category 1) of generator records made with ``output_mode="coco_rle"``."""
    from pycocotools import mask as mask_utils

    out = []
    for offset, record in enumerate(records):
        rle = dict(record["segmentation"])
        coded = {"size": rle["size"], "counts": rle["counts"].encode("ascii")}
        out.append(
            {
                "id": first_id + offset,
                "image_id": image_id,
                "category_id": 1,
                "segmentation": {"size": [int(v) for v in rle["size"]], "counts": rle["counts"]},
                "area": int(mask_utils.area(coded)),
                "bbox": [float(v) for v in mask_utils.toBbox(coded)],
                "iscrowd": 0,
                "score": round(float(record["predicted_iou"]), 6),
                "stability_score": round(float(record["stability_score"]), 6),
            }
        )
    return out


def run(args: argparse.Namespace) -> int:
    from annotator.cluster.sources import SourceError, list_source, load_source_image, shown
    from annotator.core.images import ImageLoadError
    from sam_model.classic.auto import generate_proposals

    folder: Path | str = args.folder
    if args.checkpoint is not None and not args.checkpoint.is_file():
        raise CliError(f"{args.checkpoint}: checkpoint file not found")
    params = proposal_params(args)
    from annotator.cli.into_project import project_folder, refuse_locked

    project = project_folder(folder) if args.into_project else None  # a bucket has none: refused at once
    try:
        names = list_source(folder, recursive=args.recursive)
    except (ImageLoadError, SourceError) as exc:
        raise CliError(str(exc)) from None
    if not names:
        raise CliError(f"{shown(folder)}: no images found")
    if project is not None:
        refuse_locked(project)
    if args.cluster is not None:
        from annotator.cli.cluster_run import run_auto

        return run_auto(args, params, names)
    segmenter = load_engine(
        args.checkpoint, device=args.device, dtype=args.dtype or "auto", config=args.config
    )
    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    skipped = 0
    width = len(str(len(names)))
    start = time.perf_counter()
    for index, name in enumerate(names, start=1):
        prefix = f"[{index:>{width}}/{len(names)}] {name}"
        try:
            rgb: np.ndarray = load_source_image(folder, name).rgb
        except ImageLoadError as exc:
            skipped += 1
            print(f"{prefix}: skipped ({exc})", file=sys.stderr, flush=True)
            continue
        t0 = time.perf_counter()
        records = generate_proposals(segmenter, rgb, output_mode="coco_rle", **params)
        image_id = len(images) + 1
        images.append({"id": image_id, "file_name": name, "width": rgb.shape[1], "height": rgb.shape[0]})
        annotations.extend(to_annotations(records, image_id, len(annotations) + 1))
        seconds = time.perf_counter() - t0
        print(f"{prefix}: {len(records)} proposals ({seconds:.1f} s)", file=sys.stderr, flush=True)
    payload = {
        "info": {"description": "automatic proposals", "engine": getattr(segmenter, "model_id", "unknown")},
        "images": images,
        "categories": [{"id": 1, "name": args.category, "supercategory": ""}],
        "annotations": annotations,
    }
    atomic_write_bytes(args.out, json.dumps(payload).encode("utf-8"))
    total = time.perf_counter() - start
    print(
        f"wrote {args.out}: {len(images)} images, {len(annotations)} proposals,"
        f" {skipped} skipped ({total:.1f} s)",
        file=sys.stderr,
    )
    if project is not None:
        from annotator.cli.into_project import auto_tag, merge_into_project, model_spec

        spec = model_spec(args.checkpoint, args.device or "auto", args.dtype or "auto", args.config)
        merge_into_project(project, payload, tag=auto_tag(spec, params), boxes=False)
    return 1 if skipped else 0
