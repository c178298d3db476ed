"""Shared builders for the core tests."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from annotator.core.masks import Mask
from annotator.core.model import Project


def disc(h: int, w: int, cx: int, cy: int, r: int) -> np.ndarray:
    m = np.zeros((h, w), np.uint8)
    cv2.circle(m, (cx, cy), r, 1, -1)
    return m.astype(bool)


def ring(h: int, w: int, cx: int, cy: int, r_out: int, r_in: int) -> np.ndarray:
    return disc(h, w, cx, cy, r_out) & ~disc(h, w, cx, cy, r_in)


def write_image(path: Path, w: int = 80, h: int = 60) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((h, w, 3), 128, np.uint8)).save(path)
    return path


def make_project(tmp_path: Path, n_images: int = 2, w: int = 80, h: int = 60) -> Project:
    project = Project(tmp_path)
    project.add_category("cat")
    project.add_category("dog", (1, 2, 3), "animal")
    for i in range(n_images):
        write_image(tmp_path / f"img{i}.png", w, h)
        project.add_image(f"img{i}.png", w, h)
    return project


def add(project: Project, key: str, mask: np.ndarray, category_id: int = 1, **fields: object) -> int:
    inst = project.new_instance(Mask.from_array(mask), category_id, **fields)
    project.add_instance(key, inst)
    return inst.id
