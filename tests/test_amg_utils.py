"""The automatic-mask-generator helpers agree exactly with upstream's
(shared/reference/sam/amg_utils_ref.json)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from pycocotools import mask as mask_utils

from sam_model.automatic import amg
from sam_model.automatic.nms import batched_nms, box_iou


@pytest.fixture(scope="module")
def ref(sam_reference: Path) -> dict:
    return json.loads((sam_reference / "amg_utils_ref.json").read_text())


def test_crop_boxes_match_reference(ref: dict) -> None:
    assert len(ref["crop_boxes"]) >= 20
    for case in ref["crop_boxes"]:
        boxes, layers = amg.generate_crop_boxes(tuple(case["size"]), case["n_layers"], case["overlap_ratio"])
        assert boxes == case["boxes"], case["size"]
        assert layers == case["layer_idxs"]


def test_point_grids_match_reference(ref: dict) -> None:
    for case in ref["point_grids"]:
        grids = amg.build_all_layer_point_grids(case["n_per_side"], case["n_layers"], case["scale_per_layer"])
        assert len(grids) == len(case["grids"])
        for ours, theirs in zip(grids, case["grids"], strict=True):
            np.testing.assert_array_equal(ours, np.array(theirs))


def test_stability_score_matches_reference(ref: dict) -> None:
    case = ref["stability"]
    logits = torch.tensor(case["logits"], dtype=torch.float32)
    scores = amg.calculate_stability_score(logits, case["threshold"], case["offset"])
    np.testing.assert_array_equal(scores.numpy(), np.array(case["scores"], dtype=np.float32))


def test_rle_boxes_and_areas_match_reference(ref: dict) -> None:
    case = ref["rle"]
    masks = torch.tensor(case["masks"], dtype=torch.bool)
    rles = amg.mask_to_rle_pytorch(masks)
    assert rles == case["rles"]
    assert amg.batched_mask_to_box(masks).tolist() == case["boxes_xyxy"]
    assert [amg.area_from_rle(r) for r in rles] == case["areas"]
    for rle, mask in zip(rles, masks.numpy(), strict=True):
        np.testing.assert_array_equal(amg.rle_to_mask(rle), mask)
        coco = amg.coco_encode_rle(rle)
        assert isinstance(coco["counts"], str)
        np.testing.assert_array_equal(mask_utils.decode(coco).astype(bool), mask)


def test_small_region_removal_matches_reference(ref: dict) -> None:
    case = ref["small_regions"]
    mask = np.array(case["mask"], dtype=bool)
    for mode in ("holes", "islands"):
        expected_mask, expected_changed = case[mode]
        out, changed = amg.remove_small_regions(mask, case["area_thresh"], mode)
        assert changed == expected_changed, mode
        np.testing.assert_array_equal(out, np.array(expected_mask, dtype=bool))


def test_near_crop_edge_matches_reference(ref: dict) -> None:
    case = ref["near_crop_edge"]
    result = amg.is_box_near_crop_edge(
        torch.tensor(case["boxes"]), case["crop_box"], case["orig_box"], atol=case["atol"]
    )
    assert result.tolist() == case["result"]


def test_box_and_uncrop_helpers() -> None:
    assert amg.box_xyxy_to_xywh(torch.tensor([2, 3, 10, 7])).tolist() == [2, 3, 8, 4]
    assert amg.uncrop_boxes_xyxy(torch.tensor([[1, 2, 3, 4]]), [10, 20, 50, 60]).tolist() == [
        [11, 22, 13, 24]
    ]
    assert amg.uncrop_points(torch.tensor([[1.0, 2.0]]), [10, 20, 50, 60]).tolist() == [[11.0, 22.0]]
    masks = torch.ones(1, 2, 3, dtype=torch.bool)
    padded = amg.uncrop_masks(masks, [1, 2, 4, 4], 5, 6)
    assert padded.shape == (1, 5, 6) and int(padded.sum()) == 6 and bool(padded[0, 2:4, 1:4].all())
    with pytest.raises(ValueError):
        amg.remove_small_regions(np.zeros((3, 3), bool), 2, "both")


def test_mask_data_filter_and_cat() -> None:
    data = amg.MaskData(a=torch.arange(4), b=np.arange(4) * 10, c=["w", "x", "y", "z"])
    data.filter(torch.tensor([True, False, True, False]))
    data.cat(amg.MaskData(a=torch.tensor([7]), b=np.array([70]), c=["q"]))
    assert (
        data["a"].tolist() == [0, 2, 7] and data["b"].tolist() == [0, 20, 70] and data["c"] == ["w", "y", "q"]
    )
    data.filter([2, 0])
    data.to_numpy()
    assert isinstance(data["a"], np.ndarray) and data["a"].tolist() == [7, 0] and len(data) == 2


def _brute_force_nms(boxes: np.ndarray, scores: np.ndarray, cats: np.ndarray, thresh: float) -> list[int]:
    order = sorted(range(len(boxes)), key=lambda i: (-scores[i], i))
    kept: list[int] = []
    for i in order:
        ok = True
        for j in kept:
            if cats[i] != cats[j]:
                continue
            x0, y0 = max(boxes[i][0], boxes[j][0]), max(boxes[i][1], boxes[j][1])
            x1, y1 = min(boxes[i][2], boxes[j][2]), min(boxes[i][3], boxes[j][3])
            inter = max(0.0, x1 - x0) * max(0.0, y1 - y0)
            area_i = (boxes[i][2] - boxes[i][0]) * (boxes[i][3] - boxes[i][1])
            area_j = (boxes[j][2] - boxes[j][0]) * (boxes[j][3] - boxes[j][1])
            union = area_i + area_j - inter
            if union > 0 and inter / union > thresh:
                ok = False
                break
        if ok:
            kept.append(i)
    return kept


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_batched_nms_matches_brute_force(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    import sam_model.automatic.nms as nms_module

    monkeypatch.setattr(nms_module, "_BLOCK", 37)  # exercise the blocked path
    rng = np.random.default_rng(seed)
    n = 300
    xy = rng.uniform(0, 100, (n, 2))
    wh = rng.uniform(1, 40, (n, 2))
    boxes = np.concatenate([xy, xy + wh], axis=1).astype(np.float32)
    scores = rng.permutation(n).astype(np.float32)  # distinct scores: no tie ambiguity
    cats = rng.integers(0, 3, n)
    for thresh in (0.3, 0.5, 0.7):
        ours = batched_nms(torch.from_numpy(boxes), torch.from_numpy(scores), torch.from_numpy(cats), thresh)
        assert ours.tolist() == _brute_force_nms(boxes, scores, cats, thresh)
        single = batched_nms(torch.from_numpy(boxes), torch.from_numpy(scores), None, thresh)
        assert single.tolist() == _brute_force_nms(boxes, scores, np.zeros(n), thresh)
        assert len(single) < len(ours) < n


def test_nms_edge_cases() -> None:
    assert batched_nms(torch.zeros(0, 4), torch.zeros(0), None, 0.5).tolist() == []
    boxes = torch.tensor([[0.0, 0, 10, 10], [0, 0, 10, 10], [20, 20, 30, 30]])
    assert batched_nms(boxes, torch.tensor([0.5, 0.9, 0.1]), None, 0.7).tolist() == [1, 2]
    assert box_iou(boxes[:1], boxes).tolist() == [[1.0, 1.0, 0.0]]
    with pytest.raises(ValueError):
        batched_nms(torch.zeros(3, 3), torch.zeros(3), None, 0.5)
