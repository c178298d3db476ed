"""AutomaticMaskGenerator on a synthetic scene, with a fake predictor that segments by colour.

The fake answers a point with three low-res logit maps, like SAM's multimask output:
0. the clicked colour region (sharp logits, predicted IoU 0.95; 0.5 for the background region),
1. the same region dilated by 2 px (a near-duplicate, IoU 0.9; 0.4 for the background): box NMS must drop it,
2. a blurry map (|logits| < 1, IoU 0.99): its stability score is 0, the stability filter must drop it.
"""

from __future__ import annotations

import threading

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from pycocotools import mask as mask_utils

from sam_model.automatic.amg import rle_to_mask
from sam_model.automatic.generator import AutomaticMaskGenerator, GenerationCancelled, _Upscaler
from sam_model.classic.auto import generate_proposals

BG = (128, 128, 128)


def make_scene() -> tuple[np.ndarray, dict[str, np.ndarray]]:
    image = np.zeros((200, 300, 3), np.uint8)
    image[:] = BG
    cv2.circle(image, (60, 60), 35, (220, 30, 30), -1)
    cv2.rectangle(image, (150, 30), (270, 110), (30, 40, 200), -1)
    image[65:68, 205:208] = (250, 250, 0)  # a 3x3 hole in the rectangle
    cv2.fillPoly(image, [np.array([[40, 190], [140, 190], [90, 120]])], (30, 200, 40))
    objects = {
        "circle": np.all(image == (220, 30, 30), axis=-1),
        "rectangle": np.all(image == (30, 40, 200), axis=-1),
        "triangle": np.all(image == (30, 200, 40), axis=-1),
    }
    objects["rectangle_filled"] = objects["rectangle"] | np.all(image == (250, 250, 0), axis=-1)
    return image, objects


class _Transform:
    def __init__(self, target: int) -> None:
        self.target = target

    def apply_coords(self, coords: np.ndarray, original_size: tuple[int, int]) -> np.ndarray:
        h, w = original_size
        scale = self.target / max(h, w)
        new_h, new_w = int(h * scale + 0.5), int(w * scale + 0.5)
        out = np.array(coords, dtype=np.float64, copy=True)
        out[..., 0] *= new_w / w
        out[..., 1] *= new_h / h
        return out


class _Model:
    mask_threshold = 0.0
    image_size = 1024


class FakePredictor:
    """Segments the clicked colour region of the current image (see the module docstring)."""

    def __init__(self) -> None:
        self.model = _Model()
        self.transform = _Transform(1024)
        self.device = torch.device("cpu")
        self.calls = 0

    def set_image(self, image: np.ndarray) -> None:
        self.image = image
        self.original_size = image.shape[:2]
        h, w = self.original_size
        scale = 1024 / max(h, w)
        self.input_size = (int(h * scale + 0.5), int(w * scale + 0.5))

    def reset_image(self) -> None:
        self.image = None

    def _low_res(self, mask: np.ndarray) -> np.ndarray:
        ih, iw = self.input_size
        big = np.zeros((1024, 1024), np.float32)
        big[:ih, :iw] = cv2.resize(mask.astype(np.float32), (iw, ih), interpolation=cv2.INTER_NEAREST)
        return cv2.resize(big, (256, 256), interpolation=cv2.INTER_AREA)

    def decode_low_res(
        self,
        points_labels: tuple[torch.Tensor, torch.Tensor],
        boxes: None,
        mask_input: None,
        *,
        multimask_output: bool,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        self.calls += 1
        points = points_labels[0]
        h, w = self.original_size
        lows, ious = [], []
        for x_in, y_in in points[:, 0, :].tolist():
            x = min(w - 1, int(x_in * w / self.input_size[1]))
            y = min(h - 1, int(y_in * h / self.input_size[0]))
            colour = np.all(self.image == self.image[y, x], axis=-1).astype(np.uint8)
            _, labels_map = cv2.connectedComponents(colour, connectivity=8)
            region = labels_map == labels_map[y, x]
            is_bg = tuple(self.image[y, x]) == BG
            dilated = cv2.dilate(region.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
            frac = [self._low_res(region), self._low_res(dilated), self._low_res(region)]
            logits = [(f * 2 - 1) * 8 for f in frac[:2]] + [(frac[2] * 2 - 1) * 0.5]
            lows.append(np.stack(logits))
            ious.append([0.5, 0.4, 0.99] if is_bg else [0.95, 0.9, 0.99])
        return torch.from_numpy(np.stack(lows)), torch.tensor(ious, dtype=torch.float32)


class FakeTorchOnlyPredictor(FakePredictor):
    """Only the upstream ``predict_torch`` API (upscales every mask), to check the fallback path."""

    decode_low_res = None

    def predict_torch(
        self,
        point_coords,
        point_labels,
        boxes=None,
        mask_input=None,
        multimask_output=True,
        return_logits=False,
    ):
        low, iou = FakePredictor.decode_low_res(
            self, (point_coords, point_labels), None, None, multimask_output=True
        )
        up = F.interpolate(low, (1024, 1024), mode="bilinear", align_corners=False)
        up = up[..., : self.input_size[0], : self.input_size[1]]
        masks = F.interpolate(up, self.original_size, mode="bilinear", align_corners=False)
        return (masks if return_logits else masks > 0), iou, low


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / (a | b).sum())


def _match(records: list[dict], objects: dict[str, np.ndarray]) -> dict[str, list[float]]:
    return {
        name: [
            _iou(np.asarray(r["segmentation"]), obj) for r in records if _iou(r["segmentation"], obj) > 0.5
        ]
        for name, obj in objects.items()
    }


@pytest.mark.parametrize("predictor_cls", [FakePredictor, FakeTorchOnlyPredictor])
def test_objects_found_once_and_filters_apply(predictor_cls: type) -> None:
    image, objects = make_scene()
    gen = AutomaticMaskGenerator(predictor_cls(), points_per_side=16, points_per_batch=40)
    records = gen.generate(image)
    found = _match(records, {k: objects[k] for k in ("circle", "rectangle", "triangle")})
    for name, ious in found.items():
        assert len(ious) == 1, (name, ious)  # the dilated duplicate was suppressed
        assert ious[0] > 0.95, (name, ious)
    # Background (low IoU) and blurry (unstable) candidates are gone; only the three objects (and possibly the
    # tiny yellow square, which is an object of its own) remain.
    assert 3 <= len(records) <= 4
    for r in records:
        assert r["predicted_iou"] == pytest.approx(0.95)
        assert r["stability_score"] >= 0.95
        mask = r["segmentation"]
        ys, xs = np.nonzero(mask)
        assert r["area"] == int(mask.sum())
        assert r["bbox"] == [int(xs.min()), int(ys.min()), int(xs.max() - xs.min()), int(ys.max() - ys.min())]
        assert r["crop_box"] == [0, 0, 300, 200]
        px, py = r["point_coords"][0]
        assert mask[int(py), int(px)]


def test_thresholds_off_keep_more() -> None:
    image, _ = make_scene()
    strict = AutomaticMaskGenerator(FakePredictor(), points_per_side=8).generate(image)
    loose = AutomaticMaskGenerator(
        FakePredictor(),
        points_per_side=8,
        pred_iou_thresh=0.0,
        stability_score_thresh=0.0,
        box_nms_thresh=1.0,
    ).generate(image)
    assert len(loose) > len(strict)
    assert any(r["predicted_iou"] == pytest.approx(0.5) for r in loose)  # the background is back
    assert (
        AutomaticMaskGenerator(FakePredictor(), points_per_side=4, pred_iou_thresh=0.999).generate(image)
        == []
    )


def test_small_regions_are_cleaned() -> None:
    image, objects = make_scene()
    plain = AutomaticMaskGenerator(FakePredictor(), points_per_side=16).generate(image)
    cleaned = AutomaticMaskGenerator(FakePredictor(), points_per_side=16, min_mask_region_area=20).generate(
        image
    )
    rect_plain = [r for r in plain if _iou(r["segmentation"], objects["rectangle"]) > 0.9]
    rect_clean = [r for r in cleaned if _iou(r["segmentation"], objects["rectangle"]) > 0.9]
    assert len(rect_plain) == len(rect_clean) == 1
    assert not rect_plain[0]["segmentation"][66, 206]  # the hole is there before
    assert rect_clean[0]["segmentation"][66, 206]  # and filled after
    assert _iou(rect_clean[0]["segmentation"], objects["rectangle_filled"]) > 0.95
    assert rect_clean[0]["area"] == int(rect_clean[0]["segmentation"].sum())
    assert all(r["area"] >= 20 for r in cleaned)


def test_crops_drop_edge_masks_and_dedupe() -> None:
    image, objects = make_scene()
    gen = AutomaticMaskGenerator(FakePredictor(), points_per_side=16, crop_n_layers=1)
    records = gen.generate(image)
    crops = {tuple(r["crop_box"]) for r in records}
    assert len(crops) > 1  # masks come from several crops
    for r in records:
        x, y, w, h = r["crop_box"]
        if (w, h) == (300, 200):
            continue
        bx0, by0, bw, bh = r["bbox"]
        box = np.array([bx0, by0, bx0 + bw, by0 + bh], dtype=float)
        crop = np.array([x, y, x + w, y + h], dtype=float)
        image_box = np.array([0, 0, 300, 200], dtype=float)
        near = np.isclose(box, crop, atol=20) & ~np.isclose(box, image_box, atol=20)
        assert not near.any(), r["bbox"]
    found = _match(records, {k: objects[k] for k in ("circle", "rectangle", "triangle")})
    for name, ious in found.items():
        assert len(ious) == 1 and ious[0] > 0.95, (name, ious)


def test_output_modes_agree() -> None:
    image, _ = make_scene()
    results = {
        mode: AutomaticMaskGenerator(FakePredictor(), points_per_side=8, output_mode=mode).generate(image)
        for mode in ("binary_mask", "uncompressed_rle", "coco_rle")
    }
    n = len(results["binary_mask"])
    assert n > 0 and all(len(r) == n for r in results.values())
    for i in range(n):
        binary = results["binary_mask"][i]["segmentation"]
        assert binary.dtype == bool and binary.shape == (200, 300)
        np.testing.assert_array_equal(rle_to_mask(results["uncompressed_rle"][i]["segmentation"]), binary)
        coco = results["coco_rle"][i]["segmentation"]
        assert isinstance(coco["counts"], str)
        np.testing.assert_array_equal(mask_utils.decode(coco).astype(bool), binary)


def test_progress_and_cancel() -> None:
    image, _ = make_scene()
    calls: list[tuple[int, int]] = []
    AutomaticMaskGenerator(
        FakePredictor(), points_per_side=8, points_per_batch=20, progress=lambda d, t: calls.append((d, t))
    ).generate(image)
    assert calls == [(20, 64), (40, 64), (60, 64), (64, 64)]
    event = threading.Event()
    predictor = FakePredictor()

    def stop_after_first(done: int, total: int) -> None:
        event.set()

    gen = AutomaticMaskGenerator(
        predictor, points_per_side=8, points_per_batch=20, progress=stop_after_first, cancel=event
    )
    with pytest.raises(GenerationCancelled):
        gen.generate(image)
    assert predictor.calls == 1


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        AutomaticMaskGenerator(FakePredictor(), points_per_side=None)
    with pytest.raises(ValueError):
        AutomaticMaskGenerator(FakePredictor(), output_mode="polygons")  # type: ignore[arg-type]
    from sam_model.errors import ImageError

    with pytest.raises(ImageError):
        AutomaticMaskGenerator(FakePredictor()).generate(np.zeros((10, 10), np.uint8))


@pytest.mark.parametrize(
    ("input_size", "original_size"), [((683, 1024), (427, 640)), ((1024, 740), (513, 371))]
)
def test_upscaler_matches_upstream_postprocess(
    input_size: tuple[int, int], original_size: tuple[int, int]
) -> None:
    logits = torch.randn(6, 256, 256, generator=torch.Generator().manual_seed(0)) * 4
    up = F.interpolate(logits[:, None], (1024, 1024), mode="bilinear", align_corners=False)
    up = up[..., : input_size[0], : input_size[1]]
    expected = F.interpolate(up, original_size, mode="bilinear", align_corners=False)[:, 0]
    ours = _Upscaler(256, 1024, input_size, original_size)(logits)
    assert ours.shape == expected.shape
    torch.testing.assert_close(ours, expected, atol=1e-4, rtol=1e-5)


def test_generate_proposals_dispatches_on_predict_torch() -> None:
    image, objects = make_scene()
    sam_like = generate_proposals(FakeTorchOnlyPredictor(), image, points_per_side=8, output_mode="coco_rle")
    assert sam_like and all(r["predicted_iou"] == pytest.approx(0.95) for r in sam_like)
    classic = generate_proposals(object(), image, points_per_side=8, min_mask_region_area=50)
    found = _match(classic, {k: objects[k] for k in ("circle", "rectangle", "triangle")})
    assert all(max(v, default=0.0) > 0.9 for v in found.values()), found
    with pytest.raises(TypeError):
        generate_proposals(object(), image, not_a_parameter=1)
