"""Automatic mask generation: decode a grid of point prompts and keep the good, distinct masks.

Same decisions as upstream's ``SamAutomaticMaskGenerator`` (predicted-IoU filter, stability filter on the
full-resolution logits, crop-edge filter, box NMS per crop and across crops, small-region clean-up), computed
in a cheaper order:

1. run the decoder's transformer and IoU head for a batch of points, and compute the *low-resolution*
   logits (``C x 256 x 256``) only for prompts with a candidate above ``pred_iou_thresh``
   (``SamPredictor.decode_low_res_filtered``; upstream computes every mask and upscales every candidate to
   the full image first: two bilinear resizes through a ``1024 x 1024`` intermediate);
2. drop the candidates whose predicted IoU is too low before any upscaling;
3. upscale the survivors straight to the image size with the *same* linear operator as upstream's
   ``postprocess_masks`` (bilinear up to the padded input, crop, bilinear down), precomputed as two separable
   matrices (``_Upscaler``): identical logits up to float rounding, no ``1024 x 1024`` buffer;
4. stability score on those full-resolution logits (so the decision is upstream's), threshold, boxes,
   crop-edge filter, and encode to RLE at once: only RLEs are kept across batches, so memory stays bounded.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from sam_model.automatic.amg import (
    MaskData,
    OutputMode,
    area_from_rle,
    batch_iterator,
    batched_mask_to_box,
    box_area,
    box_xyxy_to_xywh,
    build_all_layer_point_grids,
    calculate_stability_score,
    check_output_mode,
    encode_segmentation,
    generate_crop_boxes,
    is_box_near_crop_edge,
    mask_to_rle_pytorch,
    remove_small_regions,
    rle_to_mask,
    uncrop_boxes_xyxy,
    uncrop_masks,
    uncrop_points,
)
from sam_model.automatic.nms import batched_nms
from sam_model.errors import SamModelError
from sam_model.inputs import check_image
from sam_model.low_res import LowResFrame

ProgressCallback = Callable[[int, int], None]
"""``progress(done_prompts, total_prompts)``, called after every batch."""

_UPSCALE_BUDGET_BYTES = 16 * 1024 * 1024
"""Largest float32 full-resolution logits buffer made at once (masks are upscaled in chunks under it)."""


class GenerationCancelled(SamModelError):
    """``generate`` was stopped by its ``cancel`` callable or event."""


class _Upscaler:
    """Upstream's ``postprocess_masks`` as two separable linear maps (low-res -> original size).

    Upstream: bilinear ``L x L -> S x S`` (``S`` the padded input size, 1024), crop to ``input_size``,
    bilinear to ``original_size``; all with ``align_corners=False``. Bilinear resizing is separable, so the
    whole chain is ``Ry @ logits @ Rx.T`` with ``Ry``: ``H x L`` and ``Rx``: ``W x L`` (a few non-zero taps
    per row). The matrices are found by sending identity rows through the same float32 resizes, so the result
    equals upstream's up to float rounding (about 1e-6), without the ``S x S`` intermediate.
    """

    def __init__(
        self, low_res: int, pad_size: int, input_size: tuple[int, int], original_size: tuple[int, int]
    ) -> None:
        self.original_size = original_size
        rows = self._matrix(low_res, pad_size, input_size[0], original_size[0])
        used = torch.nonzero(rows.abs().sum(dim=0), as_tuple=True)[0]
        self.n_rows_used = int(used.max().item()) + 1  # low-res rows past this one have zero weight
        self.rows = rows[:, : self.n_rows_used].contiguous()
        self.cols = self._matrix(low_res, pad_size, input_size[1], original_size[1])

    @staticmethod
    def _matrix(low_res: int, pad_size: int, valid: int, out: int) -> torch.Tensor:
        """``out x low_res`` float32 matrix of the 1-D map ``low_res -> pad_size -> [:valid] -> out``."""
        eye = torch.eye(low_res, dtype=torch.float32).unsqueeze(1)  # L x 1 x L
        up = F.interpolate(eye, size=pad_size, mode="linear", align_corners=False)[..., :valid]
        return F.interpolate(up, size=out, mode="linear", align_corners=False)[:, 0, :].T.contiguous()

    def to(self, device: torch.device) -> _Upscaler:
        self.rows = self.rows.to(device)
        self.cols = self.cols.to(device)
        return self

    def __call__(self, logits: torch.Tensor) -> torch.Tensor:
        """``N x L x L`` low-res logits -> ``N x H x W`` float32 logits at the original size.

        The result is a transposed view of a contiguous ``N x W x H`` buffer: column-major, the order that
        RLE encoding reads.
        """
        tmp = torch.matmul(self.rows, logits[:, : self.n_rows_used, :].float())  # N x H x L
        return torch.matmul(self.cols, tmp.transpose(1, 2)).transpose(1, 2)  # view of N x W x H


def _is_cancelled(cancel: Callable[[], bool] | Any | None) -> bool:
    if cancel is None:
        return False
    is_set = getattr(cancel, "is_set", None)
    if callable(is_set):
        return bool(is_set())
    return bool(cancel())


class AutomaticMaskGenerator:
    """Generates masks for a whole image from a grid of point prompts (upstream's parameters and records).

    ``predictor`` is a ``SamPredictor``-like object: ``set_image``, ``reset_image``,
    ``transform.apply_coords``,
    ``input_size``, ``original_size``, ``device``, ``model.mask_threshold``, ``model.image_size`` (the padded
    input side, default 1024) and ``decode_low_res(points, boxes, mask_input, *, multimask_output)`` (prompt
    encoder + decoder only), else ``predict_torch`` (slower: it upscales every mask). See ``generate`` for
    the records.
    """

    def __init__(
        self,
        predictor: Any,
        *,
        points_per_side: int | None = 32,
        points_per_batch: int = 64,
        pred_iou_thresh: float = 0.88,
        stability_score_thresh: float = 0.95,
        stability_score_offset: float = 1.0,
        box_nms_thresh: float = 0.7,
        crop_n_layers: int = 0,
        crop_nms_thresh: float = 0.7,
        crop_overlap_ratio: float = 512 / 1500,
        crop_n_points_downscale_factor: int = 1,
        point_grids: list[np.ndarray] | None = None,
        min_mask_region_area: int = 0,
        output_mode: OutputMode = "binary_mask",
        progress: ProgressCallback | None = None,
        cancel: Callable[[], bool] | Any | None = None,
    ) -> None:
        if (points_per_side is None) == (point_grids is None):
            raise ValueError("exactly one of points_per_side and point_grids must be given")
        if points_per_side is not None:
            if points_per_side < 1:
                raise ValueError(f"points_per_side must be >= 1, got {points_per_side}")
            self.point_grids = build_all_layer_point_grids(
                points_per_side, crop_n_layers, crop_n_points_downscale_factor
            )
        else:
            self.point_grids = [np.asarray(g, dtype=np.float64) for g in point_grids or []]
            if len(self.point_grids) != crop_n_layers + 1:
                raise ValueError(f"point_grids needs {crop_n_layers + 1} grids, got {len(self.point_grids)}")
        check_output_mode(output_mode)
        if points_per_batch < 1:
            raise ValueError(f"points_per_batch must be >= 1, got {points_per_batch}")
        self.predictor = predictor
        self.points_per_batch = points_per_batch
        self.pred_iou_thresh = pred_iou_thresh
        self.stability_score_thresh = stability_score_thresh
        self.stability_score_offset = stability_score_offset
        self.box_nms_thresh = box_nms_thresh
        self.crop_n_layers = crop_n_layers
        self.crop_nms_thresh = crop_nms_thresh
        self.crop_overlap_ratio = crop_overlap_ratio
        self.min_mask_region_area = min_mask_region_area
        self.output_mode: OutputMode = output_mode
        self.progress = progress
        self.cancel = cancel
        self.timings: dict[str, float] = {}
        """Seconds spent in the last ``generate``: ``encode`` (set_image), ``decode``, ``postprocess``."""

    @torch.inference_mode()
    def generate(self, image: np.ndarray) -> list[dict[str, Any]]:
        """Masks of ``image`` (``H x W x 3`` uint8 RGB) as upstream's records, best first within each crop.

        Each record: ``segmentation`` (``H x W`` bool array, uncompressed RLE or COCO RLE per
        ``output_mode``), ``area`` (pixels), ``bbox`` (``[x, y, w, h]``, inclusive-pixel box),
        ``predicted_iou``,
        ``point_coords`` (``[[x, y]]``, image pixels), ``stability_score``, ``crop_box`` (``[x, y, w, h]``).
        Raises ``GenerationCancelled`` when ``cancel`` fires between two batches.
        """
        check_image(image)
        self.timings = {"encode": 0.0, "decode": 0.0, "postprocess": 0.0}
        data = self._generate_masks(image)
        if "rles" not in data or len(data) == 0:
            return []
        start = time.perf_counter()
        if self.min_mask_region_area > 0 and len(data) > 0:
            data = self.postprocess_small_regions(
                data, self.min_mask_region_area, max(self.box_nms_thresh, self.crop_nms_thresh)
            )
        segmentations = [encode_segmentation(rle, self.output_mode) for rle in data["rles"]]
        records = []
        for i, segmentation in enumerate(segmentations):
            records.append(
                {
                    "segmentation": segmentation,
                    "area": area_from_rle(data["rles"][i]),
                    "bbox": box_xyxy_to_xywh(data["boxes"][i]).tolist(),
                    "predicted_iou": float(data["iou_preds"][i]),
                    "point_coords": [data["points"][i].tolist()],
                    "stability_score": float(data["stability_score"][i]),
                    "crop_box": box_xyxy_to_xywh(data["crop_boxes"][i]).tolist(),
                }
            )
        self.timings["postprocess"] += time.perf_counter() - start
        return records

    def _generate_masks(self, image: np.ndarray) -> MaskData:
        orig_size = (int(image.shape[0]), int(image.shape[1]))
        crop_boxes, layer_idxs = generate_crop_boxes(orig_size, self.crop_n_layers, self.crop_overlap_ratio)
        total = sum(len(self.point_grids[layer]) for layer in layer_idxs)
        done = [0, total]
        data = MaskData()
        for crop_box, layer in zip(crop_boxes, layer_idxs, strict=True):
            data.cat(self._process_crop(image, crop_box, layer, orig_size, done))
        if len(crop_boxes) > 1 and len(data) > 0:
            # Prefer masks from smaller crops.
            scores = 1.0 / box_area(data["crop_boxes"]).float()
            keep = batched_nms(data["boxes"].float(), scores, None, self.crop_nms_thresh)
            data.filter(keep)
        data.to_numpy()
        return data

    def _process_crop(
        self,
        image: np.ndarray,
        crop_box: list[int],
        layer: int,
        orig_size: tuple[int, int],
        done: list[int],
    ) -> MaskData:
        x0, y0, x1, y1 = crop_box
        cropped = np.ascontiguousarray(image[y0:y1, x0:x1, :])
        crop_size = (int(cropped.shape[0]), int(cropped.shape[1]))
        start = time.perf_counter()
        self.predictor.set_image(cropped)
        self.timings["encode"] += time.perf_counter() - start
        device = torch.device(self.predictor.device)
        model = self.predictor.model
        pad_size = int(
            getattr(model, "image_size", getattr(getattr(model, "image_encoder", None), "img_size", 1024))
        )
        upscaler: _Upscaler | None = None
        points_for_image = self.point_grids[layer] * np.array(crop_size)[None, ::-1]
        data = MaskData()
        for (points,) in batch_iterator(self.points_per_batch, points_for_image):
            if _is_cancelled(self.cancel):
                self.predictor.reset_image()
                raise GenerationCancelled("automatic mask generation cancelled")
            start = time.perf_counter()
            low_res, iou_preds, index = self._decode(points, crop_size, device)
            mid = time.perf_counter()
            if upscaler is None:
                if getattr(self.predictor, "low_res_frame", None) is LowResFrame.SQUARE:
                    # the logits cover the whole square-resized crop: one resize to the crop (SAM 2)
                    pad_size = low_res.shape[-1]
                    input_size = (pad_size, pad_size)
                else:
                    h_in, w_in = self.predictor.input_size
                    input_size = (int(h_in), int(w_in))
                upscaler = _Upscaler(low_res.shape[-1], pad_size, input_size, crop_size).to(low_res.device)
            data.cat(
                self._process_batch(points, low_res, iou_preds, index, upscaler, crop_box, orig_size, model)
            )
            self.timings["decode"] += mid - start
            self.timings["postprocess"] += time.perf_counter() - mid
            done[0] += len(points)
            if self.progress is not None:
                self.progress(done[0], done[1])
        self.predictor.reset_image()
        if len(data) == 0:
            return data
        start = time.perf_counter()
        keep = batched_nms(data["boxes"].float(), data["iou_preds"], None, self.box_nms_thresh)
        data.filter(keep)
        data["boxes"] = uncrop_boxes_xyxy(data["boxes"], crop_box)
        data["points"] = uncrop_points(data["points"], crop_box)
        data["crop_boxes"] = torch.tensor([crop_box] * len(data["rles"]), dtype=torch.int64).reshape(-1, 4)
        self.timings["postprocess"] += time.perf_counter() - start
        return data

    def _decode(
        self, points: np.ndarray, crop_size: tuple[int, int], device: torch.device
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Decode ``B`` single-point prompts and apply the predicted-IoU filter.

        Returns the low-res logits of the kept candidates ``M x L x L``, the IoU predictions ``B*C`` and the
        indices ``M`` of the kept candidates among the ``B*C``. With a predictor that has
        ``decode_low_res_filtered`` the masks of rejected prompts are never computed.
        """
        transformed = self.predictor.transform.apply_coords(points, crop_size)
        in_points = torch.as_tensor(transformed, dtype=torch.float32, device=device)[:, None, :]
        in_labels = torch.ones(in_points.shape[0], 1, dtype=torch.int64, device=device)
        filtered = getattr(self.predictor, "decode_low_res_filtered", None)
        if callable(filtered) and self.pred_iou_thresh > 0.0:
            low_res, iou_preds, keep = filtered(
                (in_points, in_labels), None, None, multimask_output=True, iou_threshold=self.pred_iou_thresh
            )
            return low_res, iou_preds.flatten(), keep.flatten().nonzero(as_tuple=True)[0]
        decode_low_res = getattr(self.predictor, "decode_low_res", None)
        if callable(decode_low_res):
            low_res, iou_preds = decode_low_res((in_points, in_labels), None, None, multimask_output=True)
        else:
            # Fallback: predict_torch also upscales every mask (the cost this module avoids); use its low-res.
            _, iou_preds, low_res = self.predictor.predict_torch(
                in_points, in_labels, multimask_output=True, return_logits=True
            )
        low_res, iou_preds = low_res.flatten(0, 1), iou_preds.flatten(0, 1)
        keep = iou_preds > self.pred_iou_thresh if self.pred_iou_thresh > 0.0 else torch.ones_like(iou_preds)
        index = keep.bool().nonzero(as_tuple=True)[0]
        return low_res[index], iou_preds, index

    def _process_batch(
        self,
        points: np.ndarray,
        low_res: torch.Tensor,
        iou_preds: torch.Tensor,
        index: torch.Tensor,
        upscaler: _Upscaler,
        crop_box: list[int],
        orig_size: tuple[int, int],
        model: Any,
    ) -> MaskData:
        """Stability, thresholding, boxes and the crop-edge filter for one batch, masks compressed to RLE at once.

        ``low_res`` (``M x L x L``) are the candidates that passed the IoU filter, ``index`` (``M``) their
        positions among the batch's ``B*C`` candidates, ``iou_preds`` (``B*C``) all IoU predictions.
        """
        n_out = iou_preds.shape[0] // len(points)
        pts = torch.as_tensor(np.repeat(points, n_out, axis=0))
        out = MaskData()
        h, w = upscaler.original_size
        chunk = max(1, _UPSCALE_BUDGET_BYTES // (4 * h * w))
        threshold = float(model.mask_threshold)
        orig_h, orig_w = orig_size
        for start in range(0, len(index), chunk):
            sel = index[start : start + chunk]
            logits = upscaler(low_res[start : start + chunk])
            stability = calculate_stability_score(logits, threshold, self.stability_score_offset)
            ok = (
                stability >= self.stability_score_thresh
                if self.stability_score_thresh > 0.0
                else torch.ones_like(stability, dtype=torch.bool)
            )
            masks = logits[ok] > threshold
            del logits
            boxes = batched_mask_to_box(masks)
            edge_ok = ~is_box_near_crop_edge(boxes, crop_box, [0, 0, orig_w, orig_h])
            masks, boxes = masks[edge_ok], boxes[edge_ok]
            final = sel[ok.nonzero(as_tuple=True)[0][edge_ok]]
            out.cat(
                MaskData(
                    rles=mask_to_rle_pytorch(uncrop_masks(masks, crop_box, orig_h, orig_w)),
                    boxes=boxes.cpu(),
                    iou_preds=iou_preds[final].float().cpu(),
                    points=pts[final.cpu()],
                    stability_score=stability[ok][edge_ok].cpu(),
                )
            )
        return out

    @staticmethod
    def postprocess_small_regions(mask_data: MaskData, min_area: int, nms_thresh: float) -> MaskData:
        """Remove holes and islands smaller than ``min_area`` px from every mask, then NMS again.

        Masks that changed lose to unchanged ones in that NMS (score 0 against 1); their RLE and box are
        recomputed. ``mask_data`` holds NumPy columns; a filtered ``MaskData`` is returned.
        """
        if len(mask_data["rles"]) == 0:
            return mask_data
        new_masks = []
        scores = []
        for rle in mask_data["rles"]:
            mask = rle_to_mask(rle)
            mask, changed_holes = remove_small_regions(mask, min_area, mode="holes")
            mask, changed_islands = remove_small_regions(mask, min_area, mode="islands")
            new_masks.append(torch.as_tensor(mask).unsqueeze(0))
            scores.append(float(not (changed_holes or changed_islands)))
        masks = torch.cat(new_masks, dim=0)
        boxes = batched_mask_to_box(masks)
        keep = batched_nms(boxes.float(), torch.as_tensor(scores), None, nms_thresh)
        for i in keep.tolist():
            if scores[i] == 0.0:
                mask_data["rles"][i] = mask_to_rle_pytorch(masks[i : i + 1])[0]
                mask_data["boxes"][i] = boxes[i].numpy()
        mask_data.filter(keep)
        return mask_data
