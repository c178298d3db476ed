"""Fixtures of the SAM 2 image-path tests: the ``sam2_tiny_a`` reference (``../shared/reference/sam2``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest


@pytest.fixture(scope="session")
def sam2_meta(sam2_reference: Path) -> dict[str, Any]:
    return json.loads((sam2_reference / "sam2_tiny_a.json").read_text())


@pytest.fixture(scope="session")
def sam2_arrays(sam2_reference: Path) -> dict[str, np.ndarray]:
    with np.load(sam2_reference / "sam2_tiny_a.npz") as data:
        return {k: data[k] for k in data.files}


@pytest.fixture(scope="session")
def sam2_state_dict(sam2_reference: Path) -> dict[str, Any]:
    from sam_model.checkpoint import load_state_dict_file

    return load_state_dict_file(sam2_reference / "sam2_tiny_a.pth")


@pytest.fixture(scope="session")
def _sam2_loaded(sam2_state_dict, sam2_meta, sam2_reference):
    from sam_model.sam2.build import load_sam2_predictor

    return load_sam2_predictor(
        sam2_state_dict,
        path=sam2_reference / "sam2_tiny_a.pth",
        config=sam2_meta["model"],
        device="cpu",
        dtype="float32",
        model_id="sam2-test-a",
    )


@pytest.fixture()
def sam2_predictor(_sam2_loaded):
    """The reference model's predictor (float32, CPU, loaded once per session), no image set."""
    _sam2_loaded.reset_image()
    return _sam2_loaded


@pytest.fixture(scope="session")
def sam2_e2e_embedding(_sam2_loaded, sam2_arrays):
    """The reference image encoded by our whole pipeline (resize, encoder, ``no_mem_embed``, ``conv_s*``)."""
    _sam2_loaded.set_image(sam2_arrays["image"])
    embedding = _sam2_loaded.get_embedding()
    _sam2_loaded.reset_image()
    return embedding


@pytest.fixture()
def sam2_ready(sam2_predictor, sam2_arrays):
    """The reference predictor with upstream's stored features of the reference image (``set_embedding``)."""
    from sam_model.protocol import ImageEmbedding

    h, w = sam2_arrays["image"].shape[:2]
    sam2_predictor.set_embedding(
        ImageEmbedding(
            model_id=sam2_predictor.model_id,
            original_size=(h, w),
            input_size=(1024, 1024),
            arrays={k: sam2_arrays[k] for k in ("image_embed", "high_res_feats_0", "high_res_feats_1")},
        )
    )
    return sam2_predictor
