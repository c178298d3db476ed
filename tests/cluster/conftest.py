"""Fixtures of the cluster tests: one local Ray instance (2 CPUs) shared by the tests that need it, small
images, and a corrupt one."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


@pytest.fixture(scope="session")
def ray_local() -> Iterator[object]:
    """A local Ray instance with 2 CPUs for the whole session (start-up costs seconds), shut down at the end.
    Workers import this checkout's packages and this folder's helper modules (``poison_task``)."""
    ray = pytest.importorskip("ray")
    paths = [str(ROOT), str(HERE), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        logging_level="WARNING",
        runtime_env={"env_vars": {"PYTHONPATH": os.pathsep.join(paths)}},
    )
    yield ray
    ray.shutdown()


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
