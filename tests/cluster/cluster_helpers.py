"""Helpers of the cluster tests (importable by the test modules and by Ray workers: this folder is on their
path)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


def make_images(folder: Path, count: int, *, size: tuple[int, int] = (48, 64)) -> list[str]:
    """``count`` small PNGs with one bright disc each (different places), named ``img0.png``..."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)
    height, width = size
    yy, xx = np.mgrid[0:height, 0:width]
    names = []
    for i in range(count):
        disc = ((yy - height // 2) ** 2 + (xx - 12 - 5 * i) ** 2 < 10**2)[..., None]
        pixels = np.where(disc, 200, 40) + rng.integers(0, 20, (height, width, 3))
        name = f"img{i}.png"
        Image.fromarray(pixels.astype(np.uint8)).save(folder / name)
        names.append(name)
    return names


def auto_single_and_cluster(
    tmp_path: Path, checkpoint: Path, source: Callable[[Path], str], capsys: Any
) -> tuple[Path, Path, str]:
    """``auto`` with the tiny reference SAM on 2 images and a corrupt JPEG: once in one process over the
    folder, once on the local Ray instance (2 workers) over ``source(folder)`` (the folder's path or URL).

    Returns ``(single-process COCO file, cluster COCO file, the cluster run's stderr)``; both runs exit 1
    (one image skipped).
    """
    from annotator.cli import main

    folder = tmp_path / "images"
    make_images(folder, 2)
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    options = [
        *("--checkpoint", str(checkpoint), "--device", "cpu"),
        *("--points-per-side", "2", "--pred-iou-thresh", "0", "--stability-score-thresh", "0"),
    ]
    single, cluster = tmp_path / "single.json", tmp_path / "cluster.json"
    if main(["auto", str(folder), "--out", str(single), *options]) != 1:
        raise AssertionError("the single-process run should skip the corrupt image and exit 1")
    capsys.readouterr()
    if main(["auto", source(folder), "--out", str(cluster), *options, "--cluster", "--workers", "2"]) != 1:
        raise AssertionError("the cluster run should skip the corrupt image and exit 1")
    return single, cluster, capsys.readouterr().err
