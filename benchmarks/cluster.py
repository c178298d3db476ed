"""Cluster path benchmark (issue 16): ``python -m benchmarks.cluster [--images N] [--points-per-side P]``.

Tiny reference SAM (``reference/sam/sam_tiny_a.pth``), the first N GrabCut images, ``auto`` with a P x P grid
and both thresholds at 0 (so every image yields proposals and the decoder's full cost is paid). Four runs, one
local Ray instance with 2 CPUs for the cluster ones:

* single: the single-process command's loop in this process (decode, propose, COCO annotations; torch's
  default threads, 2 here), then the COCO file written;
* cluster 1x2: one actor with 2 CPUs (2 torch threads), shards and merge included;
* cluster 1x1 and 2x1: one actor with 1 CPU, then two actors with 1 CPU each (the scaling figure).

Throughput counts from a loaded model to the written output (model load and Ray start-up are fixed costs, shown
apart as "start-up"). Targets: 2x1 / 1x1 throughput >= 1.6; cluster 1x2 time per image at most 15 % over
single. The merged file of every cluster run is checked to be byte for byte the single run's.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

from annotator.cli.auto_cmd import to_annotations
from annotator.cluster.driver import ClusterOptions, run_cluster
from annotator.cluster.merge import merge_coco
from annotator.cluster.progress import Progress
from annotator.cluster.shards import ShardStore
from annotator.cluster.task_auto import AutoTask
from annotator.cluster.tasks import ModelSpec
from annotator.core.atomic import atomic_write_bytes

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
CHECKPOINT = SHARED / "reference" / "sam" / "sam_tiny_a.pth"
IMAGES = SHARED / "datasets" / "grabcut" / "images"


def _single(task: AutoTask, names: list[str], out: Path) -> tuple[float, float]:
    """(start-up s, work s) of the single-process loop, as ``auto_cmd.run`` does it."""
    from annotator.core.images import load_image
    from sam_model.classic.auto import generate_proposals

    t0 = time.perf_counter()
    segmenter = task.model.load()
    t1 = time.perf_counter()
    images, annotations = [], []
    for name in names:
        rgb = load_image(IMAGES / name).rgb
        records = generate_proposals(segmenter, rgb, output_mode="coco_rle", **task.params)
        image_id = len(images) + 1
        images.append({"id": image_id, "file_name": name, "width": rgb.shape[1], "height": rgb.shape[0]})
        annotations.extend(to_annotations(records, image_id, len(annotations) + 1))
    payload = {
        "info": {"description": "automatic proposals", "engine": segmenter.model_id},
        "images": images,
        "categories": [{"id": 1, "name": "object", "supercategory": ""}],
        "annotations": annotations,
    }
    atomic_write_bytes(out, json.dumps(payload).encode("utf-8"))
    return t1 - t0, time.perf_counter() - t1


def _cluster(task: AutoTask, names: list[str], out: Path, workers: int, cpus: float) -> dict:
    store = ShardStore(out.with_name(out.name + ".shards"), task.identity())
    options = ClusterOptions(workers=workers, cpus_per_worker=cpus)
    progress = Progress(len(names), interval_s=3600)
    t0 = time.perf_counter()
    summary = run_cluster(task, IMAGES, names, store, options, progress=progress)
    t1 = time.perf_counter()
    atomic_write_bytes(out, json.dumps(merge_coco(store, names, category="object")).encode("utf-8"))
    merge_s = time.perf_counter() - t1
    work = summary.work_seconds + merge_s
    return {"startup": t1 - t0 - summary.work_seconds, "work": work, "threads": summary.threads}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=8, help="GrabCut images (default 8)")
    parser.add_argument("--points-per-side", type=int, default=8, help="prompt grid (default 8 x 8)")
    args = parser.parse_args()
    import ray

    names = sorted(p.name for p in IMAGES.iterdir())[: args.images]
    params = {"points_per_side": args.points_per_side, "pred_iou_thresh": 0.0, "stability_score_thresh": 0.0}
    task = AutoTask(ModelSpec(str(CHECKPOINT), device="cpu", dtype="float32"), params=params)
    started = time.perf_counter()
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        logging_level="WARNING",
        runtime_env={"env_vars": {"PYTHONPATH": str(REPO)}},
    )
    ray_start = time.perf_counter() - started
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        startup, work = _single(task, names, folder / "single.json")
        rows.append(("single process", startup, work, None))
        reference = (folder / "single.json").read_bytes()
        for label, workers, cpus in (
            ("cluster 1 actor x 2 CPUs", 1, 2.0),
            ("cluster 1 actor x 1 CPU", 1, 1.0),
            ("cluster 2 actors x 1 CPU", 2, 1.0),
        ):
            out = folder / f"{workers}x{cpus:g}.json"
            figures = _cluster(task, names, out, workers, cpus)
            if out.read_bytes() != reference:
                raise SystemExit(f"{label}: the merged file differs from the single-process one")
            rows.append((label, figures["startup"], figures["work"], figures["threads"]))
    ray.shutdown()
    n = len(names)
    print(
        f"{n} images, {args.points_per_side}x{args.points_per_side} prompts, tiny SAM, float32; "
        f"load average {os.getloadavg()[0]:.1f} at the end; merged files identical to the single run's; "
        f"Ray start-up {ray_start:.1f} s (not in the rows)"
    )
    print("| run | start-up (s) | work (s) | s / image | images / s | torch threads |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for label, startup, work, threads in rows:
        print(f"| {label} | {startup:.1f} | {work:.1f} | {work / n:.2f} | {n / work:.3f} | {threads or 2} |")
    single, one_two, one_one, two_one = (row[2] for row in rows)
    print(f"scaling 2x1 vs 1x1: {one_one / two_one:.2f}x (target >= 1.6)")
    print(f"overhead cluster 1x2 vs single: {100 * (one_two / single - 1):+.1f} % (target <= 15 %)")


if __name__ == "__main__":
    main()
