"""Boxes to masks benchmark: ``python -m benchmarks.boxes [--checkpoint PATH] [--boxes N ...] [--repeats N]``.

What one box costs *beyond the image's encoding* with MobileSAM (issue 14's target: "time per box beyond the
encoding, recorded"): ``sam_model.box_prompts.decode_boxes`` on an image already encoded (prompt encoder,
mask decoder, the mask upscaled to the image and thresholded, batched), against one ``predict(box=...)`` per
box, for several box counts and image sizes. The encoding (``set_image``) is timed once per size for scale.

Weights: the MobileSAM reference checkpoint (``shared/reference/mobilesam/mobilesam_a.pth``: the official
architecture, TinyViT-5M, seeded random weights), so the numbers are those of the real model's arithmetic;
random weights give arbitrary masks, which costs the same. Times are the best of ``--repeats`` interleaved
runs (wall clock, this machine's CPU threads). Prints a markdown table and the CPU it ran on.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

from benchmarks.models import cpu_info
from benchmarks.persam import interleaved_min_seconds
from sam_model.box_prompts import decode_boxes
from sam_model.build import load_predictor

SHARED = Path(__file__).resolve().parents[2] / "shared"
MOBILESAM = SHARED / "reference" / "mobilesam" / "mobilesam_a.pth"
SIZES = ((450, 600), (1080, 1920))
"""Image sizes ``(H, W)``."""


def cpu_name() -> str:
    """The CPU model (``/proc/cpuinfo``, else ``platform.processor()``) and the torch thread count."""
    name = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{name}, {torch.get_num_threads()} torch threads"


def _boxes(size: tuple[int, int], count: int, seed: int) -> np.ndarray:
    """``count`` random boxes, 5-40 % of the image side, inside the image."""
    h, w = size
    rng = np.random.default_rng(seed)
    bw = rng.uniform(0.05, 0.4, count) * w
    bh = rng.uniform(0.05, 0.4, count) * h
    x0 = rng.uniform(0, 1, count) * (w - bw)
    y0 = rng.uniform(0, 1, count) * (h - bh)
    return np.stack([x0, y0, x0 + bw, y0 + bh], axis=1)


def run(checkpoint: Path, counts: list[int], repeats: int) -> str:
    predictor = load_predictor(checkpoint, device="cpu", dtype="float32")
    rows = [
        "| image | boxes | encode (s) | batched: ms per box | one predict per box: ms per box |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for size in SIZES:
        rgb = np.random.default_rng(0).integers(0, 255, (*size, 3), dtype=np.uint8)
        start = time.perf_counter()
        predictor.set_image(rgb)
        encode = time.perf_counter() - start
        for count in counts:
            boxes = _boxes(size, count, seed=count)

            def one_by_one(boxes: np.ndarray = boxes) -> None:
                for box in boxes:
                    predictor.predict(box=box, multimask_output=False)

            batched, single = interleaved_min_seconds(
                [lambda b=boxes: decode_boxes(predictor, b), one_by_one], repeats
            )
            rows.append(
                f"| {size[1]}x{size[0]} | {count} | {encode:.2f} | {1000 * batched / count:.1f}"
                f" | {1000 * single / count:.1f} |"
            )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, default=MOBILESAM, help="default: the MobileSAM reference")
    parser.add_argument("--boxes", type=int, nargs="+", default=[1, 8, 32], help="box counts per image")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    if not args.checkpoint.is_file():
        print(f"{args.checkpoint}: checkpoint not found (pass --checkpoint)", file=sys.stderr)
        return 2
    flags = ", ".join(f for f, has in cpu_info()["flags"].items() if has) or "none of interest"
    print(f"boxes to masks, {args.checkpoint.name}, CPU: {cpu_name()}; flags: {flags}")
    print(run(args.checkpoint, args.boxes, args.repeats))
    return 0


if __name__ == "__main__":
    sys.exit(main())
