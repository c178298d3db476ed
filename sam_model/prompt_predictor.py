"""``PromptPredictor``: the prompt-decoding front that SAM / MobileSAM and SAM 2 predictors share.

Prompts in original-image pixels are checked, mapped to the model's input frame, encoded, decoded to low-res
logits and upscaled to the image (``predict``), or decoded in batches already in the input frame
(``predict_torch``, ``decode_low_res[_filtered]``, ``upscale_masks``: the automatic mask generator's path).
The family encodes images and fills in the hooks (how it holds features, checks prompts, heads masks, upscales).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from typing import ClassVar, Generic, Protocol, TypeVar

import numpy as np
import torch
from torch import Tensor

from sam_model.errors import NoImageError, PromptError
from sam_model.low_res import LowResFrame
from sam_model.protocol import Prediction
from sam_model.sam.first_block import ImageKeys, ImageKeysCache
from sam_model.sam.mask_decoder import MaskDecoder
from sam_model.sam.prompt_encoder import PromptEncoder
from sam_model.transforms import upscale_logits

FeaturesT = TypeVar("FeaturesT")
"""How a family holds an image's features: SAM a ``1 x 256 x 64 x 64`` tensor, SAM 2 ``Sam2Features``."""


class PromptModel(Protocol):
    """What the shared front reads from a model: where it lives and its mask threshold."""

    @property
    def device(self) -> torch.device: ...

    @property
    def mask_threshold(self) -> float: ...


class CoordinateTransform(Protocol):
    """Maps prompts in original-image pixels to the model's input frame (float64 copies)."""

    def apply_coords(self, coords: np.ndarray, original_size: tuple[int, int]) -> np.ndarray: ...

    def apply_boxes(self, boxes: np.ndarray, original_size: tuple[int, int]) -> np.ndarray: ...


class PromptPredictor(ABC, Generic[FeaturesT]):
    """Decode masks for prompts on the current image's features; the family sets and encodes images.

    Not thread-safe: one worker owns it.

    Attributes:
        model: the family's model. transform: its coordinate mapping to the input frame.
        original_size: ``(H, W)`` of the current image; input_size: ``(h, w)`` of its resized encoder input.
        features: the current image's features (the family's type), or ``None``.
        decoder_dtype: precision of the prompt encoder and mask decoder's arithmetic (autocast; outputs are
            float32 either way).
    """

    decode_chunk: int | None = None
    """Prompts decoded at a time (``None``: the whole batch, but 4 on the CPU, where each prompt carries its own
    copy of the ``64 x 64 x 256`` image tokens and large batches fall out of the caches)."""

    frame: ClassVar[LowResFrame]
    """The family's low-res frame (:attr:`low_res_frame`)."""

    low_res_clamp: ClassVar[float | None] = None
    """``predict_torch`` clamps its low-res logits to ``[-c, c]`` in place (SAM 2, as upstream), or not."""

    broadcast_mask_input: ClassVar[bool] = False
    """A single ``1 x 1 x 256 x 256`` ``mask_input`` is shared by every prompt of a batch (SAM 2)."""

    single_needs_every_mask: ClassVar[bool] = False
    """Choosing the single output needs every candidate's mask (SAM 2's stability choice), so the filtered
    decode cannot skip prompts when ``multimask_output`` is off."""

    model: PromptModel
    transform: CoordinateTransform

    def __init__(self, *, model_id: str, decoder_dtype: torch.dtype) -> None:
        """The family sets ``model`` and ``transform`` (before or after this)."""
        self._model_id = model_id
        self.decoder_dtype = decoder_dtype
        self.features: FeaturesT | None = None
        self.original_size: tuple[int, int] | None = None
        self.input_size: tuple[int, int] | None = None
        self._image_keys = ImageKeysCache()

    @property
    def model_id(self) -> str:
        """Architecture preset and weights checksum, e.g. ``vit_b-01ec64d29a2fca3f``."""
        return self._model_id

    @property
    def low_res_frame(self) -> LowResFrame:
        """The frame of the low-res logits: SAM's cover the image resized to its longest side and padded
        bottom/right, SAM 2's the whole square-resized image."""
        return self.frame

    @property
    def device(self) -> torch.device:
        """Where the model (and the cached features) live."""
        return self.model.device

    @property
    def is_image_set(self) -> bool:
        return self.features is not None

    def reset_image(self) -> None:
        """Forget the current image and its features."""
        self._image_keys.clear()
        self.features = None
        self.original_size = None
        self.input_size = None

    # --- family hooks ---

    @abstractmethod
    def get_image_embedding(self) -> Tensor:
        """The current ``1 x D x 64 x 64`` image embedding; ``NoImageError`` without an image."""

    @property
    @abstractmethod
    def _mask_decoder(self) -> MaskDecoder:
        """The model's mask decoder."""

    @property
    @abstractmethod
    def _prompt_encoder(self) -> PromptEncoder:
        """The model's prompt encoder."""

    @abstractmethod
    def _checked_points(self, point_coords: object, point_labels: object) -> tuple[np.ndarray, np.ndarray]:
        """Checked points: ``B x N x 2`` float64 and ``B x N`` int64, or ``PromptError``."""

    @abstractmethod
    def _checked_boxes(self, box: object) -> np.ndarray:
        """Checked xyxy boxes ``B x 4`` float64, or ``PromptError``."""

    @abstractmethod
    def _checked_masks(self, mask_input: object) -> np.ndarray:
        """Checked low-res logits ``B x 1 x 256 x 256`` float32, or ``PromptError``."""

    def _merge_boxes(
        self, points: tuple[Tensor, Tensor] | None, boxes: Tensor | None
    ) -> tuple[tuple[Tensor, Tensor] | None, Tensor | None]:
        """The ``(points, boxes)`` the prompt encoder gets (SAM 2 turns boxes into corner points)."""
        return points, boxes

    @abstractmethod
    def _masks_from_tokens(
        self, tokens: Tensor, src: Tensor, grid: tuple[int, int], first_token: int
    ) -> Tensor:
        """The decoder's mask head: mask tokens ``B x K' x D`` (``first_token ..``), image tokens ``B x hw x D``
        -> ``B x K' x 256 x 256`` low-res logits."""

    @abstractmethod
    def _single_output(
        self, iou: Tensor, tokens: Tensor, src: Tensor, grid: tuple[int, int]
    ) -> tuple[Tensor, Tensor]:
        """``multimask_output=False``: from all ``K`` IoU predictions ``B x K`` and mask tokens ``B x K x D`` to
        the one returned output (``B x 1 x 256 x 256``, ``B x 1``)."""

    @abstractmethod
    def _upscale_on_device(
        self, low_res: Tensor, input_size: tuple[int, int], original_size: tuple[int, int]
    ) -> Tensor:
        """Off the CPU: ``B x C x L x L`` logits -> ``B x C x H x W`` float32 logits (``original_size``), as
        upstream; ``input_size``: ``(h, w)`` of the resized encoder input."""

    @abstractmethod
    def _logit_frame(self, side: int, input_size: tuple[int, int]) -> tuple[int, tuple[int, int]]:
        """For low-res logits of ``side x side``: ``(S, (h, w))``, the square frame they stretch over and the
        top-left part of it that the image covers (``upscale_logits``'s ``image_size`` / ``input_size``)."""

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
        """Decode masks for prompts in original-image pixels (see :mod:`sam_model.protocol` for the shapes).

        Returns ``(masks C x H x W bool or float32 logits, scores C float32, low_res_logits C x 256 x 256)``;
        with a batch ``B > 1`` of prompts (SAM 2 only) each gains a leading ``B`` axis.
        """
        if self.features is None or self.original_size is None:
            raise NoImageError("no image is set: call set_image first")
        coords_t = labels_t = box_t = mask_t = None
        if point_coords is not None or point_labels is not None:
            coords, labels = self._checked_points(point_coords, point_labels)
            coords = self.transform.apply_coords(coords, self.original_size)
            coords_t = torch.as_tensor(coords, dtype=torch.float32, device=self.device)
            labels_t = torch.as_tensor(labels, dtype=torch.int64, device=self.device)
        if box is not None:
            box_t = torch.as_tensor(
                self.transform.apply_boxes(self._checked_boxes(box), self.original_size), dtype=torch.float32
            ).to(self.device)
        if mask_input is not None:
            mask_t = torch.as_tensor(self._checked_masks(mask_input), device=self.device)
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
            mask_input: ``B x 1 x 256 x 256`` (SAM 2: or ``1 x ...``, shared by the batch).
        Returns:
            masks ``B x C x H x W`` (bool, or float logits with ``return_logits``), IoU ``B x C``,
            low-res logits ``B x C x 256 x 256`` (SAM 2: clamped to ``[-32, 32]``).
        """
        if self.features is None:
            raise NoImageError("no image is set: call set_image first")
        if (point_coords is None) != (point_labels is None):
            raise PromptError("point_coords and point_labels must be given together")
        points = None if point_coords is None or point_labels is None else (point_coords, point_labels)
        low_res, iou = self.decode_low_res(points, boxes, mask_input, multimask_output=multimask_output)
        masks = self._upscale(low_res, None if return_logits else self.model.mask_threshold)
        if self.low_res_clamp is not None:
            low_res.clamp_(-self.low_res_clamp, self.low_res_clamp)
        return masks, iou, low_res

    @torch.inference_mode()
    def decode_low_res(
        self,
        points: tuple[Tensor, Tensor] | None,
        boxes: Tensor | None,
        mask_input: Tensor | None,
        *,
        multimask_output: bool,
    ) -> tuple[Tensor, Tensor]:
        """Prompt encoder + mask decoder only: low-res logits ``B x C x 256 x 256`` and IoU ``B x C`` (float32).

        ``points`` (``B x N x 2``, ``B x N``) and ``boxes`` (``B x 4``) in the input frame. On the CPU a batch
        is decoded ``decode_chunk`` prompts at a time (measured for SAM: 27 ms per prompt in chunks of 4, 55 ms
        in one batch of 64).
        """
        parts = []
        for iou, tokens, src, grid in self._decoded_chunks(points, boxes, mask_input, multimask_output):
            if multimask_output:  # only the multimask candidates were decoded
                parts.append((self._masks_from_tokens(tokens, src, grid, 1), iou[:, 1:]))
            else:
                parts.append(self._single_output(iou, tokens, src, grid))
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
        """Like :meth:`decode_low_res`, but computes masks only for candidates with predicted IoU above
        ``iou_threshold`` (the automatic mask generator's first filter).

        The IoU head runs before the masks' upscaling, which is about 40 % of a decode, so a prompt none of
        whose candidates passes skips it. The kept logits are those :meth:`decode_low_res` gives, up to float
        rounding.

        Returns:
            kept low-res logits ``M x 256 x 256`` (in the row-major order of ``keep``), IoU ``B x C`` and
            ``keep`` ``B x C`` bool (``iou > iou_threshold``).
        """
        if not multimask_output and self.single_needs_every_mask:
            low_res, iou = self.decode_low_res(points, boxes, mask_input, multimask_output=False)
            keep = iou > iou_threshold
            return low_res[keep], iou, keep
        sel = slice(1, None) if multimask_output else slice(0, 1)
        kept: list[Tensor] = []
        ious: list[Tensor] = []
        keeps: list[Tensor] = []
        for iou, tokens, src, grid in self._decoded_chunks(points, boxes, mask_input, multimask_output):
            if not multimask_output:
                tokens = tokens[:, :1]
            iou = iou[:, sel].float()
            keep = iou > iou_threshold
            rows = keep.any(dim=1).nonzero(as_tuple=True)[0]
            if len(rows):
                masks = self._masks_from_tokens(tokens[rows], src[rows], grid, sel.start)
                kept.append(masks[keep[rows]].float())
            ious.append(iou)
            keeps.append(keep)
        side = 4 * self._prompt_encoder.image_embedding_size[0]
        low_res = torch.cat(kept) if kept else self.get_image_embedding().new_zeros((0, side, side))
        return low_res, torch.cat(ious), torch.cat(keeps)

    def _decoded_chunks(
        self,
        points: tuple[Tensor, Tensor] | None,
        boxes: Tensor | None,
        mask_input: Tensor | None,
        multimask_output: bool,
    ) -> Iterator[tuple[Tensor, Tensor, Tensor, tuple[int, int]]]:
        """The transformer and IoU head for each chunk of prompts (:meth:`_prompt_chunks`), under the decoder's
        precision (still in force while the caller heads the masks of a chunk): ``(iou B x K, mask tokens,
        image tokens, grid)`` as :meth:`MaskDecoder.predict_tokens` gives them (only the multimask candidates'
        tokens with ``multimask_output``)."""
        decoder = self._mask_decoder
        with self._decoder_precision():
            image_keys = self._cached_image_keys(decoder, mask_input)
            for sparse, dense in self._prompt_chunks(points, boxes, mask_input):
                yield decoder.predict_tokens(
                    self.get_image_embedding(),
                    self._prompt_encoder.get_dense_pe(),
                    sparse,
                    dense,
                    image_keys=image_keys,
                    multimask_only=multimask_output,
                )

    def _cached_image_keys(self, decoder: MaskDecoder, mask_input: Tensor | None) -> ImageKeys | None:
        """The current image's keys for the decoder's first block (computed once per image and precision;
        ``None`` with a ``mask_input``, see :class:`ImageKeysCache`)."""
        return self._image_keys.get(
            decoder.transformer,
            self._prompt_encoder,
            self.get_image_embedding(),
            mask_input,
            self.decoder_dtype,
        )

    def _decoder_precision(self) -> torch.autocast:
        """Autocast to ``decoder_dtype`` (disabled for float32)."""
        return torch.autocast(
            self.device.type, dtype=self.decoder_dtype, enabled=self.decoder_dtype != torch.float32
        )

    def _prompt_chunks(
        self, points: tuple[Tensor, Tensor] | None, boxes: Tensor | None, mask_input: Tensor | None
    ) -> list[tuple[Tensor, Tensor]]:
        """Prompt embeddings ``(sparse B' x M x D, dense B' x D x h x w)`` for consecutive chunks of the batch."""
        self.get_image_embedding()
        encoder = self._prompt_encoder
        points, boxes = self._merge_boxes(points, boxes)
        batch = next((len(t) for t in (points[0] if points else None, boxes, mask_input) if t is not None), 1)
        shared = mask_input is None
        if mask_input is not None and self.broadcast_mask_input:
            if len(mask_input) not in (1, batch):
                raise PromptError(f"mask_input batch {len(mask_input)} does not match the prompts' {batch}")
            shared = len(mask_input) == 1
        chunk = self.decode_chunk or (4 if self.device.type == "cpu" else batch)
        out = []
        for start in range(0, batch, chunk):
            part = slice(start, start + chunk)
            out.append(
                encoder(
                    None if points is None else (points[0][part], points[1][part]),
                    None if boxes is None else boxes[part],
                    mask_input if shared or mask_input is None else mask_input[part],
                )
            )
        return out

    def upscale_masks(self, low_res: Tensor) -> Tensor:
        """``B x C x L x L`` logits -> ``B x C x H x W`` float32 logits on the original image.

        As upstream (SAM: bilinear to the padded square, crop, bilinear again; SAM 2: bilinear straight to
        ``(H, W)``) up to float rounding; on the CPU done by OpenCV, far cheaper than PyTorch's ``1024 x 1024``
        intermediate.
        """
        return self._upscale(low_res, None)

    def _upscale(self, low_res: Tensor, threshold: float | None) -> Tensor:
        """:meth:`upscale_masks`, then ``> threshold`` when one is given (bool masks; on the CPU thresholded
        before the channels-first copy)."""
        if self.original_size is None or self.input_size is None:
            raise NoImageError("no image is set: call set_image first")
        if low_res.device.type != "cpu":
            up_t = self._upscale_on_device(low_res, self.input_size, self.original_size)
            return up_t if threshold is None else up_t > threshold
        b, c, side = low_res.shape[0], low_res.shape[1], low_res.shape[-1]
        flat = low_res.detach().float().reshape(b * c, low_res.shape[-2], side).numpy()
        frame, covered = self._logit_frame(side, self.input_size)
        up = upscale_logits(flat, frame, covered, self.original_size, threshold=threshold)
        return torch.from_numpy(up).view(b, c, *self.original_size)
