"""``main.py bench noc``: the number-of-clicks benchmark of an engine on an ``images/`` + ``masks/`` dataset.

Prints NoC@85, NoC@90, the images never reaching 90 % IoU, mIoU after 1/3/5/10 clicks and seconds per click;
writes ``noc_per_image.csv`` and ``noc_miou.png`` (mIoU against clicks, drawn with OpenCV) in ``--out-dir``.
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from annotator.cli import CliError
from annotator.cli.model_options import add_model_options, load_engine
from sam_model.noc import ImageResult, Summary, run_dataset, summarize
from sam_model.protocol import Segmenter

CURVE_COLOURS_BGR: tuple[tuple[int, int, int], ...] = (
    (200, 90, 20),
    (30, 110, 230),
    (40, 160, 40),
    (150, 40, 160),
)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``bench`` with its ``noc`` sub-command."""
    bench = subparsers.add_parser("bench", help="benchmarks of the segmentation engines")
    inner = bench.add_subparsers(dest="bench_command", metavar="BENCHMARK", required=True)
    noc = inner.add_parser("noc", help="number of clicks to reach 85 / 90 %% IoU (simulated user)")
    noc.add_argument(
        "--dataset", type=Path, required=True, help="folder with images/ and masks/ (GrabCut layout)"
    )
    noc.add_argument(
        "--engine", choices=("classic", "sam"), help="default: sam with --checkpoint, else classic"
    )
    noc.add_argument(
        "--checkpoint",
        type=Path,
        default=None,
        help="checkpoint of any family (SAM v1, MobileSAM, SAM 2 / 2.1; .pth / .pt), with --engine sam",
    )
    add_model_options(noc, device_default="cpu", settings_default=False)
    noc.add_argument("--max-clicks", type=int, default=20, help="clicks per image, the NoC cap (default: 20)")
    noc.add_argument("--out-dir", type=Path, default=Path("noc_results"), help="where the CSV and plot go")
    noc.add_argument("--limit", type=int, default=None, help="only the first N images (sorted by name)")
    noc.set_defaults(func=run_noc)


def make_engine(
    engine: str,
    checkpoint: Path | None,
    device: str,
    *,
    dtype: str = "auto",
    config: Path | None = None,
) -> tuple[Segmenter, str]:
    """The segmenter to benchmark and a label for it: the classical engine, or any family's checkpoint
    (``sam_model.build.load_predictor``; ``config`` for a non-preset architecture)."""
    if engine == "classic":
        if checkpoint is not None or config is not None:
            raise CliError("--checkpoint / --config are only used with --engine sam")
        from sam_model.classic.segmenter import ClassicSegmenter

        classic = ClassicSegmenter()
        return classic, classic.model_id
    if checkpoint is None:
        raise CliError("--engine sam needs --checkpoint PATH")
    segmenter = load_engine(checkpoint, device=device, dtype=dtype, config=config)
    return segmenter, f"{segmenter.model_id} ({checkpoint.name})"


def run_noc(args: argparse.Namespace) -> int:
    if args.max_clicks < 1:
        raise CliError(f"--max-clicks must be at least 1, got {args.max_clicks}")
    if args.limit is not None and args.limit < 1:
        raise CliError(f"--limit must be at least 1, got {args.limit}")
    if not args.dataset.is_dir():
        raise CliError(f"{args.dataset}: not a folder")
    segmenter, label = make_engine(
        args.engine or ("sam" if args.checkpoint is not None else "classic"),
        args.checkpoint,
        args.device,
        dtype=args.dtype or "auto",
        config=args.config,
    )

    def progress(done: int, total: int, result: ImageResult) -> None:
        print(
            f"[{done}/{total}] {result.name}: NoC@90={result.noc(0.90)} IoU@1={result.ious[0]:.3f} "
            f"IoU@{len(result.ious)}={result.ious[-1]:.3f}",
            file=sys.stderr,
            flush=True,
        )

    results = run_dataset(
        segmenter, args.dataset, max_clicks=args.max_clicks, limit=args.limit, progress=progress
    )
    summary = summarize(results)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    csv_path = args.out_dir / "noc_per_image.csv"
    png_path = args.out_dir / "noc_miou.png"
    write_csv(results, csv_path)
    legend = f"{label}: NoC@90 {summary.noc90:.2f}"
    if not cv2.imwrite(
        str(png_path), plot_miou({legend: summary.miou}, title=f"mIoU vs clicks ({args.dataset.name})")
    ):
        raise CliError(f"{png_path}: cannot write the plot")
    print(format_summary(summary, label))
    print(f"per-image CSV: {csv_path}\nplot: {png_path}")
    return 0


def format_summary(summary: Summary, label: str) -> str:
    """The figures, one per line."""
    clicks = [k for k in (1, 3, 5, 10) if k <= len(summary.miou)]
    miou = "  ".join(f"@{k} {summary.miou_at(k):.3f}" for k in clicks)
    return "\n".join(
        [
            f"engine: {label}   images: {summary.images}   max clicks: {len(summary.miou)}",
            f"NoC@85: {summary.noc85:.2f}",
            f"NoC@90: {summary.noc90:.2f}",
            f"never reaching 90%: {summary.never90}/{summary.images}",
            f"mIoU {miou}",
            f"s/click: {summary.seconds_per_click:.3f}",
        ]
    )


def write_csv(results: Sequence[ImageResult], path: Path) -> None:
    """One row per image: NoC@85/90, timing, IoU after each click, and the clicks (``x:y:+`` or ``x:y:-``)."""
    max_clicks = max(len(r.ious) for r in results)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            ["image", "noc85", "noc90", "reached90", "set_image_s", "s_per_click"]
            + [f"iou_{k}" for k in range(1, max_clicks + 1)]
            + ["clicks"]
        )
        for r in results:
            per_click = float(np.mean(r.seconds)) if r.seconds else 0.0
            clicks = " ".join(f"{c.x}:{c.y}:{'+' if c.positive else '-'}" for c in r.clicks)
            writer.writerow(
                [r.name, r.noc(0.85), r.noc(0.90), int(r.reaches(0.90)), f"{r.set_image_seconds:.4f}"]
                + [f"{per_click:.4f}"]
                + [f"{v:.4f}" for v in r.ious]
                + [clicks]
            )


def plot_miou(
    curves: dict[str, Sequence[float]], *, title: str = "mIoU vs clicks", size: tuple[int, int] = (900, 560)
) -> np.ndarray:
    """Draw mIoU-against-clicks curves: ``{legend: mIoU after click 1..N}`` -> ``H x W x 3`` uint8 BGR image.

    Axes with ticks and labels, dashed reference lines at 0.85 and 0.90, a legend; the y range starts at the
    lowest tenth below the curves.
    """
    if not curves:
        raise ValueError("no curve to plot")
    width, height = size
    img = np.full((height, width, 3), 255, np.uint8)
    left, right, top, bottom = 100, 30, 50, 70
    n = max(len(c) for c in curves.values())
    lowest = min(min(c) for c in curves.values())
    y_min = max(0.0, np.floor(lowest * 10 - 1e-9) / 10)
    font, black, grey = cv2.FONT_HERSHEY_SIMPLEX, (0, 0, 0), (215, 215, 215)

    def px(click: float, value: float) -> tuple[int, int]:
        x = left + (click - 1) / max(n - 1, 1) * (width - left - right)
        y = top + (1.0 - (value - y_min) / (1.0 - y_min)) * (height - top - bottom)
        return round(x), round(y)

    for tick in np.arange(y_min, 1.0001, 0.05 if 1.0 - y_min <= 0.5 else 0.1):
        x0, y = px(1, tick)
        cv2.line(img, (x0, y), (width - right, y), grey, 1)
        cv2.line(img, (x0 - 5, y), (x0, y), black, 1)
        cv2.putText(img, f"{tick:.2f}", (x0 - 55, y + 5), font, 0.45, black, 1, cv2.LINE_AA)
    for click in range(1, n + 1):
        x, y0 = px(click, y_min)
        if n <= 20 or click % 5 == 0 or click == 1:
            cv2.line(img, (x, y0), (x, y0 + 5), black, 1)
            label = str(click)
            cv2.putText(img, label, (x - 4 * len(label), y0 + 22), font, 0.45, black, 1, cv2.LINE_AA)
    for ref in (0.85, 0.90):
        if ref > y_min:
            (x0, y), (x1, _) = px(1, ref), px(n, ref)
            for xs in range(x0, x1, 14):
                cv2.line(img, (xs, y), (min(xs + 7, x1), y), (120, 120, 120), 1)
            cv2.putText(img, f"{ref:.2f}", (x1 - 36, y - 4), font, 0.4, (120, 120, 120), 1, cv2.LINE_AA)
    cv2.line(img, px(1, y_min), px(n, y_min), black, 1)
    cv2.line(img, px(1, y_min), px(1, 1.0), black, 1)
    for i, (name, values) in enumerate(curves.items()):
        colour = CURVE_COLOURS_BGR[i % len(CURVE_COLOURS_BGR)]
        points = [px(k + 1, v) for k, v in enumerate(values)]
        cv2.polylines(img, [np.array(points, np.int32)], False, colour, 2, cv2.LINE_AA)
        for p in points:
            cv2.circle(img, p, 3, colour, -1, cv2.LINE_AA)
        ly = height - bottom - 20 - 24 * (len(curves) - 1 - i)
        lx = width - right - 330
        cv2.line(img, (lx, ly - 5), (lx + 30, ly - 5), colour, 2)
        cv2.putText(img, name[:40], (lx + 38, ly), font, 0.5, black, 1, cv2.LINE_AA)
    cv2.putText(img, title, (left, 32), font, 0.7, black, 1, cv2.LINE_AA)
    cv2.putText(img, "clicks", (width // 2 - 25, height - 20), font, 0.55, black, 1, cv2.LINE_AA)
    label_img = np.full((30, 120, 3), 255, np.uint8)
    cv2.putText(label_img, "mIoU", (35, 22), font, 0.55, black, 1, cv2.LINE_AA)
    rotated = cv2.rotate(label_img, cv2.ROTATE_90_COUNTERCLOCKWISE)
    y_mid = (top + height - bottom) // 2 - 60
    img[y_mid : y_mid + 120, 5:35] = rotated
    return img
