"""``python main.py propagate FOLDER --ref IMAGE --instance ID --out proposals.json [options]``.

Propagates one annotated object of the project in FOLDER to the project's other images with PerSAM (or
PerSAM-F with ``--fine-tune``) and writes the proposals as a COCO results-style dataset: ``images`` (the
target images), ``categories`` (the project's), ``annotations`` with compressed-RLE ``segmentation``,
``area``, ``bbox``, ``iscrowd`` 0, ``score``, ``source`` and ``provenance``. The file is written atomically.
Progress goes to stderr. Needs a SAM checkpoint (``--checkpoint``, else the configured one); embeddings are
taken from and put into the embedding cache (``--cache-dir``, default: the settings').

Exit status: 0 when every target image was searched, 1 when some could not be read, 2 on a usage error.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from annotator.cli import CliError, positive_int, unit_interval
from annotator.cli.encode_cmd import resolve_checkpoint
from annotator.cli.model_options import add_model_options, load_engine
from annotator.cli.models_cmd import TextProgress
from annotator.core.atomic import atomic_write_bytes
from annotator.core.embedding_cache import EmbeddingCache
from annotator.core.errors import CoreError
from annotator.core.masks import rle_area, rle_bbox
from annotator.core.model import Project
from annotator.core.project_store import ProjectStore
from annotator.core.propagation import (
    ImageOutcome,
    PropagationOptions,
    cached_image_setter,
    propagate_instance,
    require_sam,
)
from annotator.core.settings import SettingsError, load_settings
from sam_model.persam.multi import SearchOptions

NEEDS_CHECKPOINT = (
    "PerSAM propagation needs a SAM checkpoint: pass --checkpoint PATH (or a model name), or configure one "
    "(File > Load checkpoint in the app, or `main.py models use NAME`)"
)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "propagate", help="find an annotated object in the project's other images (PerSAM)"
    )
    parser.add_argument("folder", type=Path, help="image folder of the project")
    parser.add_argument("--ref", required=True, help="reference image (file name relative to FOLDER)")
    parser.add_argument("--instance", required=True, type=int, help="id of the object on the reference")
    parser.add_argument("--out", required=True, type=Path, help="COCO file to write the proposals to")
    parser.add_argument("--fine-tune", action="store_true", help="PerSAM-F (learned mask-scale weights)")
    parser.add_argument(
        "--checkpoint", help="SAM checkpoint file or model name (default: the configured one)"
    )
    add_model_options(parser)
    parser.add_argument("--cache-dir", type=Path, help="embedding cache folder (default: settings)")
    parser.add_argument("--targets", nargs="+", metavar="IMAGE", help="only these images (default: all)")
    defaults = SearchOptions()
    parser.add_argument(
        "--max-instances", type=positive_int, default=defaults.max_instances, help="objects per image at most"
    )
    parser.add_argument(
        "--min-similarity",
        type=float,
        default=defaults.min_similarity,
        help="stop searching an image when its best remaining cosine similarity is below this",
    )
    parser.add_argument(
        "--max-overlap",
        type=unit_interval,
        default=defaults.max_overlap,
        help="stop when a new mask overlaps the found ones more than this (IoU or coverage)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        settings = load_settings()
    except SettingsError as exc:
        raise CliError(str(exc)) from exc
    checkpoint = resolve_checkpoint(args.checkpoint, settings)
    if checkpoint is None:
        raise CliError(NEEDS_CHECKPOINT)
    try:
        options = PropagationOptions(
            fine_tune=args.fine_tune,
            search=SearchOptions(
                max_instances=args.max_instances,
                min_similarity=args.min_similarity,
                max_overlap=args.max_overlap,
            ),
        )
        store = ProjectStore.open(args.folder)
    except (CoreError, ValueError) as exc:
        raise CliError(str(exc)) from exc
    for warning in store.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    project = store.project

    segmenter = load_engine(  # imports torch: only when a command needs it
        checkpoint,
        device=args.device or settings.device,
        dtype=args.dtype or settings.dtype,
        config=args.config,
    )
    try:
        predictor = require_sam(segmenter)
    except CoreError as exc:
        raise CliError(str(exc)) from exc
    cache = EmbeddingCache(args.cache_dir or settings.resolved_cache_dir(), settings.cache_max_bytes)
    bar = TextProgress("propagate", unit="items")
    outcomes: list[ImageOutcome] = []
    try:
        for outcome in propagate_instance(
            project,
            predictor,
            args.ref,
            args.instance,
            targets=args.targets,
            options=options,
            set_image=cached_image_setter(predictor, cache),
            progress=bar.update,
        ):
            if outcome.error is not None:
                bar.message(f"skipped {outcome.error}")
            outcomes.append(outcome)
    except CoreError as exc:
        raise CliError(str(exc)) from exc
    bar.close()

    data = proposals_to_coco(project, outcomes)
    atomic_write_bytes(args.out, json.dumps(data, indent=1).encode("utf-8"))
    failed = sum(o.error is not None for o in outcomes)
    print(
        f"{len(data['annotations'])} proposals on {len(outcomes) - failed} images "
        f"({options.source}, reference {args.ref} object {args.instance}); {failed} failed; wrote {args.out}",
        file=sys.stderr,
    )
    return 1 if failed else 0


def proposals_to_coco(project: Project, outcomes: list[ImageOutcome]) -> dict[str, Any]:
    """A COCO dataset of the proposals: the searched images (ids from 1), the project's categories and one
    annotation per proposal (ids from 1) with RLE segmentation, area, bbox ``[x, y, w, h]``, iscrowd 0,
    score, source and provenance."""
    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    for outcome in outcomes:
        if outcome.error is not None:
            continue
        record = project.image(outcome.file_name)
        image_id = len(images) + 1
        images.append(
            {"id": image_id, "file_name": record.file_name, "width": record.width, "height": record.height}
        )
        for proposal in outcome.proposals:
            rle = {"size": list(proposal.rle["size"]), "counts": proposal.rle["counts"]}
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": image_id,
                    "category_id": proposal.category_id,
                    "segmentation": rle,
                    "area": int(rle_area(rle)),
                    "bbox": [int(v) for v in rle_bbox(rle)],
                    "iscrowd": 0,
                    "score": round(proposal.score, 6),
                    "source": proposal.source,
                    "provenance": dict(proposal.provenance),
                }
            )
    categories = [{"id": c.id, "name": c.name, "supercategory": c.supercategory} for c in project.categories]
    return {
        "info": {"description": "PerSAM propagation proposals"},
        "images": images,
        "categories": categories,
        "annotations": annotations,
    }
