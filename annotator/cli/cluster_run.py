"""The ``--cluster`` paths of ``auto``, ``encode`` and ``boxes-to-masks``: build the task, run it on Ray, merge,
summarise.

Shards (one result file per image, see :mod:`annotator.cluster.shards`) go to ``OUT.shards/`` beside ``--out``
(``auto``, ``boxes-to-masks``), and to ``<cache>/cluster-runs/<run>/`` for ``encode``; a rerun of the same
command resumes from them.
Exit status as the single-process commands: 0 when every image was done, 1 when some were skipped.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

from annotator.cli import CliError
from annotator.cli.cluster_options import cluster_options
from annotator.cli.into_project import merge_into_project, model_spec, project_folder


def _run(task: Any, folder: Path | str, names: list[str], shard_dir: Path, args: argparse.Namespace) -> Any:
    from annotator.cluster.driver import run_cluster
    from annotator.cluster.shards import ShardStore
    from annotator.cluster.tasks import ClusterError

    store = ShardStore(shard_dir, task.identity())
    try:
        summary = run_cluster(task, folder, names, store, cluster_options(args))
    except ClusterError as exc:
        raise CliError(str(exc)) from None
    if summary.skipped:
        print(f"cluster: {summary.skipped} images already done (shards in {shard_dir})", file=sys.stderr)
    return store, summary


def run_auto(args: argparse.Namespace, params: dict[str, Any], names: list[str]) -> int:
    """``auto --cluster``: proposals on Ray, merged into ``--out`` (and the review queue)."""
    from annotator.cluster.merge import merge_coco, run_tag
    from annotator.cluster.task_auto import AutoTask
    from annotator.cluster.tasks import ClusterError
    from annotator.core.atomic import atomic_write_bytes

    spec = model_spec(args.checkpoint, args.device or "auto", args.dtype or "auto", args.config)
    task = AutoTask(spec, params=params)
    shard_dir = args.out.with_name(args.out.name + ".shards")
    store, summary = _run(task, args.folder, names, shard_dir, args)
    try:
        coco = merge_coco(store, names, category=args.category)
    except ClusterError as exc:
        raise CliError(str(exc)) from None
    atomic_write_bytes(args.out, json.dumps(coco).encode("utf-8"))
    failed = [(name, shard["error"]) for name in names if (shard := store.read(name))["status"] == "failed"]
    for name, error in failed:
        print(f"{name}: {error}", file=sys.stderr)
    print(summary.line(), file=sys.stderr)
    print(
        f"wrote {args.out}: {len(coco['images'])} images, {len(coco['annotations'])} proposals,"
        f" {len(failed)} skipped",
        file=sys.stderr,
    )
    if args.into_project:
        merge_into_project(project_folder(args.folder), coco, tag=run_tag(task.identity()), boxes=False)
    return 1 if failed else 0


def run_encode(
    args: argparse.Namespace,
    folder: Path | str,
    names: list[str],
    checkpoint: Path | None,
    device: str,
    dtype: str,
    cache_dir: Path,
    max_bytes: int,
) -> int:
    """``encode --cluster``: embeddings computed on Ray, stored in the cache by this process."""
    from annotator.cluster.sources import source_location
    from annotator.cluster.task_encode import EncodeTask
    from annotator.core.embedding_cache import EmbeddingCache

    spec = model_spec(checkpoint, device, dtype, args.config)
    task = EncodeTask(spec, cache_dir=str(cache_dir.resolve()), max_bytes=max_bytes)
    run = hashlib.sha256(
        json.dumps([source_location(folder), task.identity()], sort_keys=True).encode()
    ).hexdigest()
    shard_dir = cache_dir / "cluster-runs" / run[:16]
    store, summary = _run(task, folder, names, shard_dir, args)
    shards = [store.read(name) for name in names]
    failed = [(s["name"], s["error"]) for s in shards if s is not None and s["status"] == "failed"]
    records = [s["record"] for s in shards if s is not None and s["status"] == "ok"]
    for name, error in failed:
        print(f"{name}: {error}", file=sys.stderr)
    encoded = sum(not r.get("cached") for r in records)
    print(summary.line(), file=sys.stderr)
    stats = EmbeddingCache(cache_dir, max_bytes).stats()
    print(
        f"encoded {encoded}, already cached {len(records) - encoded}, failed {len(failed)}; "
        f"cache: {stats.entries} entries, {stats.total_bytes / 2**20:.1f} MiB of {stats.max_bytes / 2**20:.0f} MiB",
        file=sys.stderr,
    )
    return 1 if failed else 0


def run_boxes(
    args: argparse.Namespace, boxes: Any, checkpoint: str | Path | None, device: str, dtype: str, cache: Any
) -> int:
    """``boxes-to-masks --cluster``: each image's boxes segmented on Ray, merged into ``--out`` (and the
    review queue)."""
    from annotator.cluster.merge import run_tag
    from annotator.cluster.task_boxes import BoxesTask, merge_boxes
    from annotator.cluster.tasks import ClusterError
    from annotator.core.atomic import atomic_write_bytes

    spec = model_spec(checkpoint, device, dtype, args.config)
    task = BoxesTask(
        spec,
        boxes={image.file_name: image for image in boxes.images},
        multimask=args.multimask,
        cache_dir=str(cache.directory.resolve()) if cache is not None else None,
    )
    names = [image.file_name for image in boxes.images]
    store, summary = _run(task, args.folder, names, args.out.with_name(args.out.name + ".shards"), args)
    try:
        data = merge_boxes(store, boxes)
    except ClusterError as exc:
        raise CliError(str(exc)) from None
    atomic_write_bytes(args.out, json.dumps(data).encode("utf-8"))
    shards = [store.read(name) for name in names]
    failed = [(s["name"], s["error"]) for s in shards if s is not None and s["status"] == "failed"]
    notes = [note for s in shards if s is not None and s["status"] == "ok" for note in s["record"]["notes"]]
    for note in notes:
        print(note, file=sys.stderr)
    for name, error in failed:
        print(f"{name}: {error}", file=sys.stderr)
    print(summary.line(), file=sys.stderr)
    print(
        f"wrote {args.out}: {len(data['annotations'])} masks from {boxes.box_count} boxes on"
        f" {len(data['images'])} images; {len(notes)} boxes without a mask, {len(failed)} images skipped",
        file=sys.stderr,
    )
    if args.into_project:
        merge_into_project(project_folder(args.folder), data, tag=run_tag(task.identity()), boxes=True)
    return 1 if failed else 0
