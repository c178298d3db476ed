"""``Sam2Predictor``: the SAM 2 / SAM 2.1 image predictor behind the segmenter protocol (NumPy in and out).

A drop-in for :class:`sam_model.sam.predictor.SamPredictor`: the same ``set_image`` / ``predict`` /
``get_embedding`` / ``set_embedding`` semantics, and the batched ``predict_torch`` / ``decode_low_res`` /
``decode_low_res_filtered`` / ``upscale_masks`` that the automatic mask generator calls, with prompts in the
model's input frame (``transform.apply_coords``: SAM 2's square ``S x S`` frame, ``x * S / W``, ``y * S / H``).
SAM 2 specifics, as upstream's ``SAM2ImagePredictor``: a box is two points labelled 2 and 3 placed before the
clicked points; low-res masks are upscaled straight to the image size; returned low-res logits are clamped to
``[-32, 32]``; ``predict`` also takes ``B`` boxes (and ``B x N`` points) and then returns ``B x C x H x W``.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from sam_model.errors import EmbeddingError, NoImageError, PromptError
from sam_model.inputs import check_image
from sam_model.low_res import LowResFrame
from sam_model.protocol import EncodeSteps, ImageEmbedding, Prediction
from sam_model.sam.first_block import ImageKeysCache
from sam_model.sam2.mask_decoder import HighRes
from sam_model.sam2.model import Sam2Features, Sam2Model
from sam_model.sam2.prompts import check_boxes, check_mask_input, check_points, merge_points
from sam_model.sam2.transforms import Sam2Transforms
from sam_model.transforms import upscale_logits

EMBEDDING_ARRAYS = ("image_embed", "high_res_feats_0", "high_res_feats_1")
"""Names of the arrays of a SAM 2 :class:`ImageEmbedding` (the last two only with high-res features)."""

_LOW_RES_CLAMP = 32.0


class Sam2Predictor:
    """Compute an image's features once (``set_image``), then decode masks for prompts quickly (``predict``).

    Attributes:
        model: the :class:`Sam2Model`. transform: :class:`Sam2Transforms` (square resize, coordinate mapping).
        features: the current image's :class:`Sam2Features`, or ``None``.
        original_size: ``(H, W)`` of the current image; input_size: ``(S, S)``, the square encoder input.
    """

    decode_chunk: int | None = None
    """Prompts decoded at a time (``None``: 4 on the CPU, where large batches fall out of the caches)."""

    def __init__(
        self, model: Sam2Model, *, model_id: str, decoder_dtype: torch.dtype = torch.float32
    ) -> None:
        """``decoder_dtype``: precision of the prompt encoder and decoder arithmetic (autocast; outputs float32)."""
        self.model = model
        self.transform = Sam2Transforms(model.image_size)
        self._model_id = model_id
        self.decoder_dtype = decoder_dtype
        self.features: Sam2Features | None = None
        self._high_res: HighRes | None = None
        self._image_keys = ImageKeysCache()
        self.original_size: tuple[int, int] | None = None
        self.input_size: tuple[int, int] | None = None

    @property
    def model_id(self) -> str:
        """Preset and weights checksum, e.g. ``sam2.1_hiera_tiny-0123456789abcdef``."""
        return self._model_id

    @property
    def low_res_frame(self) -> LowResFrame:
        """SAM 2's logits cover the whole square-resized image."""
        return LowResFrame.SQUARE

    @property
    def device(self) -> torch.device:
        """Where the model (and the cached features) live."""
        return self.model.device

    @property
    def is_image_set(self) -> bool:
        return self.features is not None

    # --- image ---

    def set_image(self, image: np.ndarray) -> None:
        """Encode an ``H x W x 3`` uint8 RGB image (the slow step). Raises ``ImageError`` on a bad array."""
        image = check_image(image)
        with torch.inference_mode():
            features = self.model.forward_image(self.transform.prepare_image(image, self.device))
        self._set_state(features, (int(image.shape[0]), int(image.shape[1])))

    def encode_steps(self, image: np.ndarray) -> EncodeSteps:
        """Encode ``image`` one encoder step per ``next()``; the generator returns its :class:`ImageEmbedding`.

        The current image (``features``) is neither read nor changed: a worker can prefetch the next image
        between clicks on this one. Raises ``ImageError`` at once on a bad array. Inference mode is on only
        while a step runs, never across a ``yield``.
        """
        image = check_image(image)
        with torch.inference_mode():
            sample = self.transform.prepare_image(image, self.device)
        return self._encode_steps(sample, (int(image.shape[0]), int(image.shape[1])))

    def _encode_steps(self, sample: Tensor, original_size: tuple[int, int]) -> EncodeSteps:
        steps = self.model.forward_image_steps(sample)
        while True:
            with torch.inference_mode():
                try:
                    next(steps)
                except StopIteration as stop:
                    features: Sam2Features = stop.value
                    break
            yield
        return self._embedding_of(features, original_size)

    def _set_state(self, features: Sam2Features, original_size: tuple[int, int]) -> None:
        self.features = features
        self._high_res = None
        self._image_keys.clear()
        self.original_size = (int(original_size[0]), int(original_size[1]))
        self.input_size = self.transform.input_size

    def reset_image(self) -> None:
        """Forget the current image and its features."""
        self.features = None
        self._high_res = None
        self._image_keys.clear()
        self.original_size = None
        self.input_size = None

    def get_image_embedding(self) -> Tensor:
        """The current ``1 x D x 64 x 64`` image embedding (``no_mem_embed`` added); ``NoImageError`` without one."""
        if self.features is None:
            raise NoImageError("no image is set: call set_image first")
        return self.features.image_embed

    def _high_res_layout(self) -> HighRes | None:
        """The fine levels in the decoder's layout and precision, upscaling biases folded in, once per image."""
        if self.features is None:
            raise NoImageError("no image is set: call set_image first")
        if not self.features.high_res_feats:
            return None
        if self._high_res is None:
            with torch.inference_mode():
                s0, s1 = self.model.sam_mask_decoder.prepare_high_res(
                    *self.features.high_res_feats, with_bias=True
                )
            self._high_res = (s0.to(self.decoder_dtype), s1.to(self.decoder_dtype))
        return self._high_res

    def get_embedding(self) -> ImageEmbedding:
        """The current image's state as NumPy arrays (:data:`EMBEDDING_ARRAYS`), for :meth:`set_embedding`."""
        if self.features is None or self.original_size is None:
            raise NoImageError("no image is set: call set_image first")
        return self._embedding_of(self.features, self.original_size)

    def _embedding_of(self, features: Sam2Features, original_size: tuple[int, int]) -> ImageEmbedding:
        tensors = (features.image_embed, *features.high_res_feats)
        return ImageEmbedding(
            model_id=self.model_id,
            original_size=original_size,
            input_size=self.transform.input_size,
            arrays={
                name: t.detach().float().cpu().numpy().astype(np.float32, copy=True)
                for name, t in zip(EMBEDDING_ARRAYS, tensors, strict=False)
            },
        )

    def _expected_shapes(self) -> dict[str, tuple[int, ...]]:
        dim = self.model.sam_prompt_encoder.embed_dim
        g = self.model.sam_prompt_encoder.image_embedding_size[0]
        shapes: dict[str, tuple[int, ...]] = {"image_embed": (1, dim, g, g)}
        if self.model.sam_mask_decoder.use_high_res_features:
            shapes["high_res_feats_0"] = (1, dim // 8, 4 * g, 4 * g)
            shapes["high_res_feats_1"] = (1, dim // 4, 2 * g, 2 * g)
        return shapes

    def set_embedding(self, embedding: ImageEmbedding) -> None:
        """Restore a state from :meth:`get_embedding` (this model only) without re-encoding.

        Raises ``EmbeddingError`` for another model's embedding, missing / extra / misshapen arrays or sizes
        that are not this model's square input and a positive image size.
        """
        if embedding.model_id != self.model_id:
            raise EmbeddingError(
                f"embedding of model {embedding.model_id!r} cannot be used by {self.model_id!r}"
            )
        expected = self._expected_shapes()
        got = {name: tuple(np.shape(a)) for name, a in embedding.arrays.items()}
        if got != expected:
            raise EmbeddingError(f"SAM 2 embedding arrays must be {expected}, got {got}")
        big_h, big_w = (int(v) for v in embedding.original_size)
        if min(big_h, big_w) <= 0 or tuple(int(v) for v in embedding.input_size) != self.transform.input_size:
            raise EmbeddingError(
                f"bad embedding sizes: input {embedding.input_size}, image {embedding.original_size}"
            )
        tensors = [
            torch.as_tensor(np.asarray(embedding.arrays[name], dtype=np.float32), device=self.device).clone()
            for name in expected
        ]
        self._set_state(
            Sam2Features(image_embed=tensors[0], high_res_feats=tuple(tensors[1:])), (big_h, big_w)
        )

    # --- prompts ---

    def predict(
        self,
        point_coords: np.ndarray | None = None,
        point_labels: np.ndarray | None = None,
        box: np.ndarray | None = None,
        mask_input: np.ndarray | None = None,
        multimask_output: bool = True,
        return_logits: bool = False,
    ) -> Prediction:
        """Decode masks for prompts in original-image pixels (see :mod:`sam_model.protocol`).

        ``point_coords`` ``N x 2`` (or ``B x N x 2``), ``point_labels`` ``N`` (or ``B x N``; 1 positive,
        0 negative, -1 ignored, 2 / 3 box corners), ``box`` ``4`` (or ``B x 4``), ``mask_input``
        ``1 x 256 x 256`` (or ``B x 1 x 256 x 256``). Returns ``(masks C x H x W, scores C, low-res logits
        C x 256 x 256)``; with a batch ``B > 1`` each gains a leading ``B`` axis, as upstream's.
        """
        if self.features is None or self.original_size is None:
            raise NoImageError("no image is set: call set_image first")
        coords_t = labels_t = box_t = mask_t = None
        if point_coords is not None or point_labels is not None:
            coords, labels = check_points(point_coords, point_labels)
            coords = self.transform.apply_coords(coords, self.original_size)
            coords_t = torch.as_tensor(coords, dtype=torch.float32, device=self.device)
            labels_t = torch.as_tensor(labels, dtype=torch.int64, device=self.device)
        if box is not None:
            box_t = torch.as_tensor(
                self.transform.apply_boxes(check_boxes(box), self.original_size), dtype=torch.float32
            ).to(self.device)
        if mask_input is not None:
            mask_t = torch.as_tensor(check_mask_input(mask_input), device=self.device)
        masks, scores, low_res = self.predict_torch(
            coords_t, labels_t, box_t, mask_t, multimask_output=multimask_output, return_logits=return_logits
        )
        if masks.shape[0] == 1:
            masks, scores, low_res = masks[0], scores[0], low_res[0]
        return masks.cpu().numpy(), scores.float().cpu().numpy(), low_res.float().cpu().numpy()

    @torch.inference_mode()
    def predict_torch(
        self,
        point_coords: Tensor | None,
        point_labels: Tensor | None,
        boxes: Tensor | None = None,
        mask_input: Tensor | None = None,
        multimask_output: bool = True,
        return_logits: bool = False,
    ) -> tuple[Tensor, Tensor, Tensor]:
        """Batched decoding with prompts already in the input frame (``transform.apply_coords``).

        Args:
            point_coords: ``B x N x 2``; point_labels: ``B x N``; boxes: ``B x 4``;
            mask_input: ``B x 1 x 256 x 256`` (or ``1 x ...``, shared by the batch).
        Returns:
            masks ``B x C x H x W`` (bool, or float logits with ``return_logits``), scores ``B x C``,
            low-res logits ``B x C x 256 x 256`` clamped to ``[-32, 32]``.
        """
        if (point_coords is None) != (point_labels is None):
            raise PromptError("point_coords and point_labels must be given together")
        points = None if point_coords is None or point_labels is None else (point_coords, point_labels)
        low_res, iou = self.decode_low_res(points, boxes, mask_input, multimask_output=multimask_output)
        masks = self._upscale(low_res, None if return_logits else self.model.mask_threshold)
        return masks, iou, low_res.clamp_(-_LOW_RES_CLAMP, _LOW_RES_CLAMP)

    @torch.inference_mode()
    def decode_low_res(
        self,
        points: tuple[Tensor, Tensor] | None,
        boxes: Tensor | None,
        mask_input: Tensor | None,
        *,
        multimask_output: bool,
    ) -> tuple[Tensor, Tensor]:
        """Prompt encoder + mask decoder only: low-res logits ``B x C x 256 x 256`` and scores ``B x C``.

        ``points`` in the input frame (labels 2 / 3: box corners); ``boxes`` ``B x 4`` become such corners,
        placed before the points.
        """
        decoder = self.model.sam_mask_decoder
        parts = []
        with self._decoder_precision():
            image_keys = self._image_keys.get(
                self.model.sam_mask_decoder.transformer,
                self.model.sam_prompt_encoder,
                self.get_image_embedding(),
                mask_input,
                self.decoder_dtype,
            )
            for sparse, dense in self._prompt_chunks(merge_points(points, boxes), mask_input):
                iou, tokens, src, grid = decoder.predict_tokens(
                    self.get_image_embedding(),
                    self.model.sam_prompt_encoder.get_dense_pe(),
                    sparse,
                    dense,
                    image_keys=image_keys,
                    multimask_only=multimask_output,
                )
                masks = decoder.masks_from_tokens(
                    tokens,
                    src,
                    grid,
                    high_res=self._high_res_layout(),
                    high_res_with_bias=True,
                    first_token=1 if multimask_output else 0,
                )
                if multimask_output:  # only the multimask candidates were decoded
                    parts.append((masks, iou[:, 1:]))
                else:
                    parts.append(decoder.select_outputs(masks, iou, multimask_output))
        if len(parts) == 1:  # one chunk (a click): no copy
            return parts[0][0].float(), parts[0][1].float()
        return torch.cat([p[0] for p in parts]).float(), torch.cat([p[1] for p in parts]).float()

    @torch.inference_mode()
    def decode_low_res_filtered(
        self,
        points: tuple[Tensor, Tensor] | None,
        boxes: Tensor | None,
        mask_input: Tensor | None,
        *,
        multimask_output: bool,
        iou_threshold: float,
    ) -> tuple[Tensor, Tensor, Tensor]:
        """Like :meth:`decode_low_res`, but computes multimask candidates' masks only for prompts with a
        predicted score above ``iou_threshold`` (the automatic mask generator's first filter).

        Returns kept low-res logits ``M x 256 x 256`` (row-major order of ``keep``), scores ``B x C`` and
        ``keep`` ``B x C`` bool (``score > iou_threshold``).
        """
        if not multimask_output:  # the stability choice needs every mask
            low_res, iou = self.decode_low_res(points, boxes, mask_input, multimask_output=False)
            keep = iou > iou_threshold
            return low_res[keep], iou, keep
        decoder = self.model.sam_mask_decoder
        kept: list[Tensor] = []
        ious: list[Tensor] = []
        keeps: list[Tensor] = []
        with self._decoder_precision():
            image_keys = self._image_keys.get(
                self.model.sam_mask_decoder.transformer,
                self.model.sam_prompt_encoder,
                self.get_image_embedding(),
                mask_input,
                self.decoder_dtype,
            )
            for sparse, dense in self._prompt_chunks(merge_points(points, boxes), mask_input):
                iou, tokens, src, grid = decoder.predict_tokens(
                    self.get_image_embedding(),
                    self.model.sam_prompt_encoder.get_dense_pe(),
                    sparse,
                    dense,
                    image_keys=image_keys,
                    multimask_only=True,
                )
                iou = iou[:, 1:].float()
                keep = iou > iou_threshold
                rows = keep.any(dim=1).nonzero(as_tuple=True)[0]
                if len(rows):
                    masks = decoder.masks_from_tokens(
                        tokens[rows],
                        src[rows],
                        grid,
                        high_res=self._high_res_layout(),
                        high_res_with_bias=True,
                        first_token=1,
                    )
                    kept.append(masks[keep[rows]].float())
                ious.append(iou)
                keeps.append(keep)
        side = 4 * self.model.sam_prompt_encoder.image_embedding_size[0]
        low_res = torch.cat(kept) if kept else self.get_image_embedding().new_zeros((0, side, side))
        return low_res, torch.cat(ious), torch.cat(keeps)

    def _decoder_precision(self) -> torch.autocast:
        """Autocast to ``decoder_dtype`` (disabled for float32)."""
        return torch.autocast(
            self.device.type, dtype=self.decoder_dtype, enabled=self.decoder_dtype != torch.float32
        )

    def _prompt_chunks(
        self, points: tuple[Tensor, Tensor] | None, mask_input: Tensor | None
    ) -> list[tuple[Tensor, Tensor]]:
        """Prompt embeddings ``(sparse B' x M x D, dense)`` for consecutive chunks of the batch."""
        self.get_image_embedding()
        encoder = self.model.sam_prompt_encoder
        batch = len(points[0]) if points is not None else (len(mask_input) if mask_input is not None else 1)
        if mask_input is not None and len(mask_input) not in (1, batch):
            raise PromptError(f"mask_input batch {len(mask_input)} does not match the prompts' {batch}")
        chunk = self.decode_chunk or (4 if self.device.type == "cpu" else batch)
        out = []
        for start in range(0, batch, chunk):
            part = slice(start, start + chunk)
            pts = None if points is None else (points[0][part], points[1][part])
            masks = mask_input if mask_input is None or len(mask_input) == 1 else mask_input[part]
            out.append(encoder(pts, None, masks))
        return out

    def upscale_masks(self, low_res: Tensor) -> Tensor:
        """``B x C x L x L`` logits -> ``B x C x H x W`` float32 logits on the original image.

        Upstream's bilinear resize straight to ``(H, W)`` (half-pixel centres, no antialiasing); on the CPU
        done by OpenCV (equal to PyTorch's ``interpolate`` up to float rounding).
        """
        return self._upscale(low_res, None)

    def _upscale(self, low_res: Tensor, threshold: float | None) -> Tensor:
        """:meth:`upscale_masks`, then ``> threshold`` when one is given (bool masks; on the CPU thresholded
        before the channels-first copy)."""
        if self.original_size is None:
            raise NoImageError("no image is set: call set_image first")
        if low_res.device.type != "cpu":
            up_t = F.interpolate(low_res.float(), self.original_size, mode="bilinear", align_corners=False)
            return up_t if threshold is None else up_t > threshold
        b, c, side = low_res.shape[0], low_res.shape[1], low_res.shape[-1]
        flat = low_res.detach().float().reshape(b * c, side, side).numpy()
        up = upscale_logits(flat, side, (side, side), self.original_size, threshold=threshold)
        return torch.from_numpy(up).view(b, c, *self.original_size)
