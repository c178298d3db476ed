"""Export benchmark (issue 14): 2,000 objects on 50 images in each format; target <= 5 s per format.

``.venv/bin/python -m benchmarks.formats [--images 50] [--objects 2000] [--size 640x480] [--repeats 1]``
(``make bench-formats``).

The project is synthetic and seeded: per image, discs, rings (a hole each) and two-part objects of radius
4-40 px in rotation, overlapping freely, on ``--size`` images (PNG files written once). Each format is timed from
the project in memory to the last file written: the snapshot (``select_for_export``), then the export with
images linked (``image_mode="link"``). COCO uses its default ``auto`` mode. Figures: the median of
``--repeats`` runs, in seconds (wall clock, and the CPU time of the process: a busy machine inflates the
first), with the objects per second and the lowest polygon IoU of the polygon formats.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from annotator.core.formats.export import EXPORT_FORMATS, ExportOptions, export_dataset
from annotator.core.formats.output import FormatReport
from annotator.core.formats.selection import select_for_export
from annotator.core.masks import Mask
from annotator.core.model import Project
from benchmarks.models import cpu_info

TARGET_S = 5.0


def _shape(kind: int, h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    mask = np.zeros((h, w), np.uint8)
    r = int(rng.integers(4, 41))
    cx, cy = int(rng.integers(r, w - r)), int(rng.integers(r, h - r))
    cv2.circle(mask, (cx, cy), r, 1, -1)
    if kind == 1:  # a ring
        cv2.circle(mask, (cx, cy), max(r // 2, 1), 0, -1)
    elif kind == 2:  # a second part
        x2, y2 = int(rng.integers(10, w - 10)), int(rng.integers(10, h - 10))
        cv2.circle(mask, (x2, y2), max(r // 3, 2), 1, -1)
    return mask.astype(bool)


def build_project(root: Path, images: int, objects: int, width: int, height: int) -> Project:
    """A seeded synthetic project: ``objects`` spread evenly over ``images`` images of ``width x height``."""
    rng = np.random.default_rng(0)
    project = Project(root)
    categories = [project.add_category(name).id for name in ("cat", "dog", "bird", "car")]
    pixels = np.full((height, width, 3), 127, np.uint8)
    per_image = [objects // images + (i < objects % images) for i in range(images)]
    for i, count in enumerate(per_image):
        name = f"img{i:03}.png"
        Image.fromarray(pixels).save(root / name)
        project.add_image(name, width, height)
        for k in range(count):
            mask = Mask.from_array(_shape(k % 3, height, width, rng))
            project.add_instance(name, project.new_instance(mask, categories[k % len(categories)]))
    return project


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=50)
    parser.add_argument("--objects", type=int, default=2000)
    parser.add_argument("--size", default="640x480", help="image size WxH in pixels")
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args(argv)
    width, height = (int(v) for v in args.size.split("x"))
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    cpu = cpu_info()
    flags = ", ".join(f for f, has in cpu["flags"].items() if has) or "none of interest"
    print(
        f"machine: {cpu['model']}, flags: {flags}; {os.cpu_count()} CPUs, load {load:.1f}, "
        f"Python {platform.python_version()}"
    )
    print(f"{args.objects} objects on {args.images} images of {width}x{height}, median of {args.repeats}")
    print(
        f"{'format':<10} {'seconds':>8} {'CPU s':>6} {'objects/s':>10} {'min IoU':>8}  target <= {TARGET_S:.0f} s"
    )
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "project"
        root.mkdir()
        project = build_project(root, args.images, args.objects, width, height)
        failed = False
        for name in EXPORT_FORMATS:
            times, cpu = [], []
            report = None
            for repeat in range(args.repeats):
                out = Path(tmp) / f"{name}-{repeat}" / ("coco.json" if name == "coco" else "out")
                out.parent.mkdir()
                start, start_cpu = time.perf_counter(), time.process_time()
                selection = select_for_export(project, "annotated")
                report = export_dataset(selection, out, ExportOptions(format=name))
                times.append(time.perf_counter() - start)
                cpu.append(time.process_time() - start_cpu)
                shutil.rmtree(out.parent)
            seconds = statistics.median(times)
            iou = report.min_polygon_iou if isinstance(report, FormatReport) else None
            failed |= seconds > TARGET_S
            print(
                f"{name:<10} {seconds:>8.2f} {statistics.median(cpu):>6.2f} {args.objects / seconds:>10.0f} "
                f"{'-' if iou is None else f'{iou:.4f}':>8}  {'ok' if seconds <= TARGET_S else 'OVER'}"
            )
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
