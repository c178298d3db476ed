"""The prompt encoder: points, boxes and a low-resolution mask to sparse and dense prompt embeddings."""

from __future__ import annotations

import math
from typing import cast

import torch
from torch import Tensor, nn

from sam_model.sam.common import LayerNorm2d


class PromptEncoder(nn.Module):
    """Embeds prompts for the mask decoder.

    Args:
        embed_dim: prompt embedding width ``D`` (256).
        image_embedding_size: ``(h, w)`` of the image embedding grid (64, 64).
        input_image_size: ``(H, W)`` of the padded encoder input in pixels (1024, 1024); point
            coordinates are in this frame.
        mask_in_chans: hidden channels of the mask downscaler (16).
    """

    def __init__(
        self,
        *,
        embed_dim: int,
        image_embedding_size: tuple[int, int],
        input_image_size: tuple[int, int],
        mask_in_chans: int,
    ) -> None:
        super().__init__()
        self.embed_dim = embed_dim
        self.image_embedding_size = image_embedding_size
        self.input_image_size = input_image_size
        self.pe_layer = PositionEmbeddingRandom(num_pos_feats=embed_dim // 2)
        # 0: negative point, 1: positive point, 2: box top-left, 3: box bottom-right
        self.point_embeddings = nn.ModuleList(nn.Embedding(1, embed_dim) for _ in range(4))
        self.not_a_point_embed = nn.Embedding(1, embed_dim)
        self.mask_input_size = (4 * image_embedding_size[0], 4 * image_embedding_size[1])
        self.mask_downscaling = nn.Sequential(
            nn.Conv2d(1, mask_in_chans // 4, kernel_size=2, stride=2),
            LayerNorm2d(mask_in_chans // 4),
            nn.GELU(),
            nn.Conv2d(mask_in_chans // 4, mask_in_chans, kernel_size=2, stride=2),
            LayerNorm2d(mask_in_chans),
            nn.GELU(),
            nn.Conv2d(mask_in_chans, embed_dim, kernel_size=1),
        )
        self.no_mask_embed = nn.Embedding(1, embed_dim)
        self._dense_pe_cache: tuple[tuple[object, ...], Tensor] | None = None

    def get_dense_pe(self) -> Tensor:
        """Positional encoding of the image-embedding grid, ``1 x D x h x w``.

        Computed once and cached; the cache is keyed on the Gaussian matrix's storage, version, device and
        dtype, so loading new weights (in place or by assignment) or moving the module recomputes it.
        """
        gauss = self.pe_layer.positional_encoding_gaussian_matrix
        key = (gauss.device, gauss.dtype, gauss.data_ptr(), gauss._version, self.image_embedding_size)
        if self._dense_pe_cache is None or self._dense_pe_cache[0] != key or gauss.is_meta:
            with torch.no_grad():
                pe = self.pe_layer(self.image_embedding_size).unsqueeze(0)
            self._dense_pe_cache = (key, pe)
        return self._dense_pe_cache[1]

    def forward(
        self,
        points: tuple[Tensor, Tensor] | None,
        boxes: Tensor | None,
        masks: Tensor | None,
    ) -> tuple[Tensor, Tensor]:
        """Embed the prompts.

        Args:
            points: ``(coords B x N x 2, labels B x N)``, coords ``(x, y)`` in input-frame pixels, labels 1
                positive, 0 negative, -1 padding.
            boxes: ``B x 4`` xyxy in input-frame pixels.
            masks: ``B x 1 x 4h x 4w`` low-resolution logits (256 x 256).
        Returns:
            sparse ``B x M x D`` (points, then box corners) and dense ``B x D x h x w`` embeddings.
        """
        bs = self._batch_size(points, boxes, masks)
        device = self.no_mask_embed.weight.device
        parts: list[Tensor] = []
        if points is not None:
            coords, labels = points
            parts.append(self._embed_points(coords, labels, pad=boxes is None))
        if boxes is not None:
            parts.append(self._embed_boxes(boxes))
        if parts:
            sparse = torch.cat(parts, dim=1) if len(parts) > 1 else parts[0]
        else:
            sparse = torch.empty(
                (bs, 0, self.embed_dim), device=device, dtype=self.no_mask_embed.weight.dtype
            )
        if masks is not None:
            dense = self.mask_downscaling(masks)
        else:
            h, w = self.image_embedding_size
            dense = self.no_mask_embed.weight.reshape(1, -1, 1, 1).expand(bs, -1, h, w)
        return sparse, dense

    @staticmethod
    def _batch_size(points: tuple[Tensor, Tensor] | None, boxes: Tensor | None, masks: Tensor | None) -> int:
        if points is not None:
            return points[0].shape[0]
        if boxes is not None:
            return boxes.shape[0]
        if masks is not None:
            return masks.shape[0]
        return 1

    def _embed_points(self, coords: Tensor, labels: Tensor, *, pad: bool) -> Tensor:
        """``B x N x 2`` coords, ``B x N`` labels -> ``B x (N + pad) x D``.

        Labels: 1 positive, 0 negative, -1 padding, 2 / 3 a box's top-left / bottom-right corner (how SAM 2's
        predictor passes boxes: the same embedding as :meth:`_embed_boxes`).
        """
        coords = coords + 0.5  # shift to the pixel centre
        if pad:
            coords = torch.cat([coords, coords.new_zeros((coords.shape[0], 1, 2))], dim=1)
            labels = torch.cat([labels, -labels.new_ones((labels.shape[0], 1))], dim=1)
        emb = self.pe_layer.forward_with_coords(coords, self.input_image_size)
        labels = labels.unsqueeze(-1)
        emb = torch.where(labels == -1, self.not_a_point_embed.weight, emb)
        emb = emb + torch.where(labels == 0, self._point_weight(0), 0.0)
        emb = emb + torch.where(labels == 1, self._point_weight(1), 0.0)
        if bool((labels >= 2).any()):  # box corners given as points (SAM 2's predictor)
            emb = emb + torch.where(labels == 2, self._point_weight(2), 0.0)
            emb = emb + torch.where(labels == 3, self._point_weight(3), 0.0)
        return emb

    def _point_weight(self, label: int) -> Tensor:
        """The ``1 x D`` embedding of point label ``label`` (0..3)."""
        return cast(nn.Embedding, self.point_embeddings[label]).weight

    def _embed_boxes(self, boxes: Tensor) -> Tensor:
        """``B x 4`` xyxy -> ``B x 2 x D`` (two corner tokens)."""
        corners = (boxes + 0.5).reshape(-1, 2, 2)
        emb = self.pe_layer.forward_with_coords(corners, self.input_image_size)
        corner_embed = torch.cat([self._point_weight(2), self._point_weight(3)], dim=0)
        return emb + corner_embed


class PositionEmbeddingRandom(nn.Module):
    """Positional encoding with random spatial frequencies (Fourier features).

    ``positional_encoding_gaussian_matrix``: ``2 x F`` buffer of ``scale * N(0, 1)`` frequencies; an encoding
    has ``2F`` channels (sin, cos).
    """

    positional_encoding_gaussian_matrix: Tensor

    def __init__(self, *, num_pos_feats: int = 64, scale: float | None = None) -> None:
        super().__init__()
        scale = 1.0 if scale is None or scale <= 0.0 else scale
        self.register_buffer("positional_encoding_gaussian_matrix", scale * torch.randn((2, num_pos_feats)))

    def _pe_encoding(self, coords: Tensor) -> Tensor:
        """``... x 2`` coords normalised to [0, 1] -> ``... x 2F``."""
        coords = 2 * coords - 1
        coords = coords @ self.positional_encoding_gaussian_matrix.to(coords.dtype)
        coords = 2 * math.pi * coords
        return torch.cat([torch.sin(coords), torch.cos(coords)], dim=-1)

    def forward(self, size: tuple[int, int]) -> Tensor:
        """Encoding of every cell centre of an ``h x w`` grid: ``2F x h x w``."""
        h, w = size
        gauss = self.positional_encoding_gaussian_matrix
        y = (torch.arange(h, device=gauss.device, dtype=gauss.dtype) + 0.5) / h
        x = (torch.arange(w, device=gauss.device, dtype=gauss.dtype) + 0.5) / w
        grid = torch.stack([x[None, :].expand(h, w), y[:, None].expand(h, w)], dim=-1)
        return self._pe_encoding(grid).permute(2, 0, 1)

    def forward_with_coords(self, coords: Tensor, image_size: tuple[int, int]) -> Tensor:
        """``B x N x 2`` pixel coords ``(x, y)`` in an ``(H, W)`` image -> ``B x N x 2F``."""
        size_xy = torch.tensor([image_size[1], image_size[0]], dtype=torch.float32, device=coords.device)
        return self._pe_encoding(coords.float() / size_xy)
