"""The automatic mask generator on the real (tiny reference) SAM: its fast paths change no result.

The generator skips the masks of prompts whose candidates all fail the predicted-IoU filter
(``SamPredictor.decode_low_res_filtered``), and the predictor decodes large batches in chunks on the CPU. Both must
give what the plain path gives, up to float rounding.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from pycocotools import mask as mask_utils

from sam_model.automatic.generator import AutomaticMaskGenerator
from sam_model.sam.build import build_sam
from sam_model.sam.config import SamConfig
from sam_model.sam.predictor import SamPredictor


@pytest.fixture(scope="module")
def tiny(sam_reference: Path) -> tuple[SamPredictor, np.ndarray]:
    config = SamConfig.from_dict(json.loads((sam_reference / "sam_tiny_a.json").read_text())["config"])
    model = build_sam(config, checkpoint=sam_reference / "sam_tiny_a.pth").eval()
    image = np.load(sam_reference / "sam_tiny_a.npz")["image"]
    predictor = SamPredictor(model, model_id="tiny")
    predictor.set_image(image)
    return predictor, image


def _prompts(predictor: SamPredictor, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    h, w = predictor.original_size
    grid = np.stack(np.meshgrid(np.linspace(10, w - 10, n), np.linspace(10, h - 10, n)), -1).reshape(-1, 2)
    coords = torch.as_tensor(predictor.transform.apply_coords(grid, (h, w)), dtype=torch.float32)[:, None]
    return coords, torch.ones(len(coords), 1, dtype=torch.int64)


def test_chunked_decoding_equals_one_batch(tiny: tuple[SamPredictor, np.ndarray]) -> None:
    predictor, _ = tiny
    points = _prompts(predictor, 4)
    predictor.decode_chunk = 16
    whole, iou_whole = predictor.decode_low_res(points, None, None, multimask_output=True)
    predictor.decode_chunk = 3  # uneven chunks
    try:
        chunked, iou_chunked = predictor.decode_low_res(points, None, None, multimask_output=True)
    finally:
        predictor.decode_chunk = None
    assert whole.shape == chunked.shape == (16, 3, 256, 256)
    torch.testing.assert_close(chunked, whole, atol=1e-4, rtol=0)
    torch.testing.assert_close(iou_chunked, iou_whole, atol=1e-5, rtol=0)


def test_filtered_decoding_keeps_exactly_the_passing_candidates(
    tiny: tuple[SamPredictor, np.ndarray],
) -> None:
    predictor, _ = tiny
    points = _prompts(predictor, 4)
    low_res, iou = predictor.decode_low_res(points, None, None, multimask_output=True)
    threshold = float(iou.max(dim=1).values.median())  # about half of the prompts keep no candidate
    kept, iou_f, keep = predictor.decode_low_res_filtered(
        points, None, None, multimask_output=True, iou_threshold=threshold
    )
    torch.testing.assert_close(iou_f, iou, atol=0, rtol=0)
    assert torch.equal(keep, iou > threshold)
    assert 0 < int(keep.sum()) < keep.numel()
    assert bool((~keep).all(dim=1).any()), "the case of a prompt with no surviving candidate is not exercised"
    torch.testing.assert_close(kept, low_res[keep], atol=1e-5, rtol=0)


class _PlainPredictor:
    """The same predictor without ``decode_low_res_filtered``: the generator's plain path."""

    def __init__(self, inner: SamPredictor) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> object:
        if name == "decode_low_res_filtered":
            raise AttributeError(name)
        return getattr(self._inner, name)


def test_generator_fast_path_gives_the_same_records(tiny: tuple[SamPredictor, np.ndarray]) -> None:
    predictor, image = tiny
    # NMS off (random-weight masks overlap heavily) so that every surviving candidate is compared.
    params = dict(points_per_side=6, pred_iou_thresh=0.0, stability_score_thresh=0.0, box_nms_thresh=1.0)
    # Random weights predict low (even negative) IoU: take a positive threshold that part of them pass.
    probe = AutomaticMaskGenerator(predictor, **params).generate(image)
    assert len(probe) > 10, "the tiny model produced too few candidates"
    params["pred_iou_thresh"] = float(
        np.median([r["predicted_iou"] for r in probe if r["predicted_iou"] > 0])
    )
    assert params["pred_iou_thresh"] > 0.0
    fast = AutomaticMaskGenerator(predictor, output_mode="coco_rle", **params).generate(image)
    plain = AutomaticMaskGenerator(_PlainPredictor(predictor), output_mode="coco_rle", **params).generate(
        image
    )
    assert 0 < len(fast) < len(probe)
    assert len(fast) == len(plain)
    for a, b in zip(fast, plain, strict=True):
        # Decoding a subset of the batch rounds differently: only pixels at the threshold may flip.
        iou = mask_utils.iou([a["segmentation"]], [b["segmentation"]], [0])[0, 0]
        assert iou >= 0.999
        assert np.abs(np.subtract(a["bbox"], b["bbox"])).max() <= 1
        assert a["predicted_iou"] == pytest.approx(b["predicted_iou"], abs=1e-6)
        assert a["stability_score"] == pytest.approx(b["stability_score"], abs=1e-6)
