"""Click benchmark: our predictor against upstream's in ONE process, same seeded weights, same image, clicks
interleaved (ours, upstream, ours, ...) so that both sides see the same machine load.

Run: ``.venv/bin/python -m benchmarks.click --families vit_b,sam2.1_hiera_tiny [--clicks 40] [--profile]``.
Upstream checkouts: ``$SAM_UPSTREAM_SAM`` / ``$SAM_UPSTREAM_MOBILESAM`` / ``$SAM_UPSTREAM_SAM2`` (as
``benchmarks.models``), else ``segment-anything``, ``MobileSAM`` and ``sam2`` under ``--upstream`` (default
``../upstream`` beside the repository). Image: ``benchmarks.models``' default (GrabCut ``person3.jpg``).

What is timed is ``benchmarks.models_run``'s click: ``predictor.predict(point_coords=[[x, y]], point_labels=[1],
multimask_output=True)`` at seeded random points (the same on both sides). Reported per family, medians:
CPU time of the calling thread (``time.thread_time``) at 1 torch thread, and wall time at 2 threads (or
``--threads``). ``--profile`` prints a ``torch.profiler`` table of ten of our clicks.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from benchmarks.models import ENV, FAMILIES, REPO, kind_of, shared_dir
from benchmarks.models_run import build_ours, load_image
from benchmarks.models_upstream import build_upstream

UPSTREAM_DIRS = {"sam": "segment-anything", "mobilesam": "MobileSAM", "sam2": "sam2"}
"""Checkout kind -> its folder under ``--upstream``."""


def interleaved(
    sides: dict[str, Callable[[np.ndarray], object]], points: np.ndarray, clock: Callable[[], float]
) -> dict[str, list[float]]:
    """Seconds per click of each side by ``clock``, the sides taking turns at each point."""
    times: dict[str, list[float]] = {name: [] for name in sides}
    for point in points:
        for name, click in sides.items():
            start = clock()
            click(point)
            times[name].append(clock() - start)
    return times


def family_clicks(
    family: str, upstream_root: Path, image: np.ndarray, args: argparse.Namespace
) -> dict[str, Any]:
    """Build both sides of ``family``, set the image, time interleaved clicks at 1 and ``threads`` threads."""
    model, ours = build_ours(family)
    kind = kind_of(family)
    checkout = Path(os.environ.get(ENV[kind], upstream_root / UPSTREAM_DIRS[kind]))
    up = build_upstream(kind, checkout, family, model.state_dict())
    label = np.array([1])
    with torch.inference_mode():
        ours.set_image(image)
        up.predictor.set_image(image)

    def clicker(predictor: Any) -> Callable[[np.ndarray], object]:
        def click(point: np.ndarray) -> object:
            with torch.inference_mode():
                return predictor.predict(point_coords=point[None], point_labels=label, multimask_output=True)

        return click

    sides = {"ours": clicker(ours), "upstream": clicker(up.predictor)}
    h, w = image.shape[:2]
    rng = np.random.default_rng(0)
    points = rng.uniform([0, 0], [w, h], size=(args.clicks, 2)).astype(np.float32)
    result: dict[str, Any] = {}
    cv_threads = cv2.getNumThreads()
    for threads, clock, what in ((1, time.thread_time, "cpu_1t"), (args.threads, time.perf_counter, "wall")):
        torch.set_num_threads(threads)
        # OpenCV's own pool would run our upscale outside the timed thread: one thread for the CPU time
        cv2.setNumThreads(1 if threads == 1 else cv_threads)
        interleaved(sides, points[:3], clock)  # warm-up
        times = interleaved(sides, points, clock)
        result[what] = {name: 1000 * statistics.median(t) for name, t in times.items()}
        result[what]["ratio"] = result[what]["ours"] / result[what]["upstream"]
    if args.profile:
        from torch.profiler import ProfilerActivity, profile

        torch.set_num_threads(args.threads)
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            for point in points[:10]:
                sides["ours"](point)
        result["profile"] = prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=30)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--families", default=",".join(FAMILIES))
    parser.add_argument("--clicks", type=int, default=30)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--upstream", type=Path, default=REPO.parent / "upstream")
    default_image = shared_dir() / "datasets" / "grabcut" / "images" / "person3.jpg"
    parser.add_argument("--image", type=Path, default=default_image)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args(argv)
    image = load_image(args.image)
    from sam_model.allocator import keep_freed_memory

    keep_freed_memory()  # both sides, as bench-models --upstream-allocator
    for family in [f.strip() for f in args.families.split(",") if f.strip()]:
        result = family_clicks(family, args.upstream, image, args)
        for what in ("cpu_1t", "wall"):
            r = result[what]
            print(
                f"{family:22s} {what:7s} ours {r['ours']:7.2f} ms  upstream {r['upstream']:7.2f} ms  {r['ratio']:.2f}x"
            )
        if "profile" in result:
            print(result["profile"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
