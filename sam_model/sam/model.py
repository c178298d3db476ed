"""The ``Sam`` module: image encoder + prompt encoder + mask decoder, with pre- and post-processing."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sam_model.sam.image_encoder import ImageEncoderViT
from sam_model.sam.mask_decoder import MaskDecoder
from sam_model.sam.prompt_encoder import PromptEncoder
from sam_model.sam.tiny_vit import TinyViT

PIXEL_MEAN: tuple[float, float, float] = (123.675, 116.28, 103.53)
"""Per-channel RGB mean on the 0..255 scale (ImageNet)."""
PIXEL_STD: tuple[float, float, float] = (58.395, 57.12, 57.375)
"""Per-channel RGB standard deviation on the 0..255 scale (ImageNet)."""


class Sam(nn.Module):
    """Segment Anything.

    ``pixel_mean`` / ``pixel_std`` are ``3 x 1 x 1`` non-persistent buffers (not in the checkpoints).
    """

    mask_threshold: float = 0.0
    pixel_mean: Tensor
    pixel_std: Tensor

    def __init__(
        self,
        *,
        image_encoder: ImageEncoderViT | TinyViT,
        prompt_encoder: PromptEncoder,
        mask_decoder: MaskDecoder,
        pixel_mean: tuple[float, float, float] = PIXEL_MEAN,
        pixel_std: tuple[float, float, float] = PIXEL_STD,
        mask_threshold: float = 0.0,
    ) -> None:
        super().__init__()
        self.image_encoder = image_encoder
        self.prompt_encoder = prompt_encoder
        self.mask_decoder = mask_decoder
        self.mask_threshold = mask_threshold
        self.register_buffer("pixel_mean", torch.tensor(pixel_mean).view(-1, 1, 1), persistent=False)
        self.register_buffer("pixel_std", torch.tensor(pixel_std).view(-1, 1, 1), persistent=False)

    @property
    def device(self) -> torch.device:
        """Device of the decoder's weights (where prompts and features must live)."""
        return self.mask_decoder.iou_token.weight.device

    @property
    def image_size(self) -> int:
        """Side of the square encoder input (1024)."""
        return self.image_encoder.img_size

    def preprocess(self, x: Tensor) -> Tensor:
        """Normalise and zero-pad bottom/right to a square encoder input.

        ``x``: ``B x 3 x h x w`` float RGB on the 0..255 scale, longest side already ``image_size``.
        Returns ``B x 3 x S x S`` float32 with ``S = image_size``.
        """
        x = (x.float() - self.pixel_mean) / self.pixel_std
        h, w = x.shape[-2:]
        return F.pad(x, (0, self.image_size - w, 0, self.image_size - h))

    def postprocess_masks(
        self, masks: Tensor, input_size: tuple[int, int], original_size: tuple[int, int]
    ) -> Tensor:
        """Low-res logits to the original image like upstream: bilinear to ``S x S``, crop, bilinear again.

        ``masks``: ``B x C x 256 x 256``; ``input_size``: ``(h, w)`` after resize; ``original_size``:
        ``(H, W)``.
        Returns ``B x C x H x W`` logits. (``SamPredictor`` uses an equivalent, cheaper separable form.)
        """
        s = self.image_size
        masks = F.interpolate(masks, (s, s), mode="bilinear", align_corners=False)
        masks = masks[..., : input_size[0], : input_size[1]]
        return F.interpolate(masks, original_size, mode="bilinear", align_corners=False)

    @torch.inference_mode()
    def forward(self, batched_input: list[dict[str, Any]], multimask_output: bool) -> list[dict[str, Tensor]]:
        """Upstream-style batched inference over several images.

        Each input dict has ``image`` (``3 x h x w`` float 0..255, already resized), ``original_size``
        ``(H, W)`` and optionally ``point_coords`` ``B x N x 2``, ``point_labels`` ``B x N``,
        ``boxes`` ``B x 4``, ``mask_inputs`` ``B x 1 x 256 x 256`` (all in the resized frame).
        Each output dict has ``masks`` ``B x C x H x W`` bool, ``iou_predictions`` ``B x C`` and
        ``low_res_logits`` ``B x C x 256 x 256``.
        """
        images = torch.stack([self.preprocess(rec["image"][None])[0] for rec in batched_input])
        embeddings = self.image_encoder(images)
        outputs = []
        for rec, emb in zip(batched_input, embeddings, strict=True):
            points = (rec["point_coords"], rec["point_labels"]) if "point_coords" in rec else None
            sparse, dense = self.prompt_encoder(points, rec.get("boxes"), rec.get("mask_inputs"))
            low_res, iou = self.mask_decoder(
                emb.unsqueeze(0), self.prompt_encoder.get_dense_pe(), sparse, dense, multimask_output
            )
            masks = self.postprocess_masks(
                low_res, tuple(rec["image"].shape[-2:]), tuple(rec["original_size"])
            )
            outputs.append(
                {"masks": masks > self.mask_threshold, "iou_predictions": iou, "low_res_logits": low_res}
            )
        return outputs
