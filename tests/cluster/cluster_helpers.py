"""Helpers of the cluster tests (importable by the test modules and by Ray workers: this folder is on their
path)."""

from __future__ import annotations

from pathlib import Path

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
