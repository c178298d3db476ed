"""``Sam2Model``: the image path of SAM 2 (encoder, prompt encoder, mask decoder, ``no_mem_embed``)."""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

from sam_model.sam.prompt_encoder import PromptEncoder
from sam_model.sam2.mask_decoder import Sam2MaskDecoder

if TYPE_CHECKING:
    from sam_model.sam2.image_encoder import EncoderOutput, ImageEncoder


@dataclass(frozen=True)
class Sam2Features:
    """One image's features as the decoder consumes them (float32).

    Attributes:
        image_embed: ``1 x D x g x g`` coarsest FPN level (``g = image_size / 16``, 64), ``no_mem_embed`` added.
        high_res_feats: ``(1 x D/8 x 4g x 4g, 1 x D/4 x 2g x 2g)``: the two finer levels after ``conv_s0`` /
            ``conv_s1``; empty for a model without high-resolution features.
    """

    image_embed: Tensor
    high_res_feats: tuple[Tensor, ...]


class Sam2Model(nn.Module):
    """SAM 2's image path, with upstream ``SAM2Base``'s names for state-dict compatibility.

    Args:
        image_encoder: Hiera trunk + FPN neck (keys ``image_encoder.trunk.*`` / ``image_encoder.neck.*``).
        sam_prompt_encoder: SAM's prompt encoder (points labelled 2 / 3 are box corners).
        sam_mask_decoder: :class:`Sam2MaskDecoder`.
        image_size: side of the square encoder input (1024).
        directly_add_no_mem_embed: add ``no_mem_embed`` (``1 x 1 x D``) to the coarsest level.
        mask_threshold: logit threshold of a binary mask (0.0).
    """

    def __init__(
        self,
        *,
        image_encoder: ImageEncoder,
        sam_prompt_encoder: PromptEncoder,
        sam_mask_decoder: Sam2MaskDecoder,
        image_size: int,
        directly_add_no_mem_embed: bool,
        mask_threshold: float = 0.0,
    ) -> None:
        super().__init__()
        self.image_encoder = image_encoder
        self.sam_prompt_encoder = sam_prompt_encoder
        self.sam_mask_decoder = sam_mask_decoder
        self.no_mem_embed = nn.Parameter(torch.zeros(1, 1, sam_prompt_encoder.embed_dim))
        self.image_size = image_size
        self.directly_add_no_mem_embed = directly_add_no_mem_embed
        self.mask_threshold = mask_threshold
        self.encoder_dtype = torch.float32
        """Precision of the image encoder's weights; its input is cast to it, its output back to float32."""

    @property
    def device(self) -> torch.device:
        """Where the weights live."""
        return self.no_mem_embed.device

    @property
    def prompt_encoder(self) -> PromptEncoder:
        """Alias of ``sam_prompt_encoder`` (SAM's name)."""
        return self.sam_prompt_encoder

    @property
    def mask_decoder(self) -> Sam2MaskDecoder:
        """Alias of ``sam_mask_decoder`` (SAM's name)."""
        return self.sam_mask_decoder

    def forward_image(self, sample: Tensor) -> Sam2Features:
        """Encode ``1 x 3 x S x S`` normalised pixels (see :mod:`sam_model.sam2.transforms`)."""
        return self.features_from(self.image_encoder(sample.to(self.encoder_dtype)))

    def forward_image_steps(self, sample: Tensor) -> Generator[None, None, Sam2Features]:
        """:meth:`forward_image` one encoder step at a time (yields between steps, returns the features)."""
        out = yield from self.image_encoder.forward_steps(sample.to(self.encoder_dtype))
        return self.features_from(out)

    def features_from(self, out: EncoderOutput) -> Sam2Features:
        """The decoder's inputs from the encoder's FPN levels (finest first)."""
        levels = [level.float() for level in out.backbone_fpn]
        embed = levels[-1]
        if self.directly_add_no_mem_embed:
            embed = embed + self.no_mem_embed.view(1, -1, 1, 1)
        high_res: tuple[Tensor, ...] = ()
        if self.sam_mask_decoder.use_high_res_features:
            decoder = self.sam_mask_decoder
            high_res = (decoder.conv_s0(levels[0]), decoder.conv_s1(levels[1]))
        return Sam2Features(image_embed=embed, high_res_feats=high_res)
