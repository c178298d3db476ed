"""Sine position encoding of a feature map (the DETR-style ``PositionEmbeddingSine`` of SAM 2's neck)."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


class PositionEmbeddingSine(nn.Module):
    """Fixed sine/cosine encoding of each cell's row and column.

    ``forward(x)``: ``B x * x H x W`` -> ``B x num_pos_feats x H x W`` in ``x``'s dtype; channels
    ``[0, num_pos_feats/2)`` encode the row, the rest the column, each as ``sin(a_0), cos(a_0), sin(a_1), ...``
    with ``a_k = p / temperature^(2k / (num_pos_feats/2))``. ``p`` is the 1-based row (column) index, or with
    ``normalize`` that index divided by the height (width) and multiplied by ``scale`` (default ``2*pi``).

    The result depends only on ``H``, ``W``, device and dtype and is cached: the returned tensor is a read-only
    broadcast view of the cache (clone it before writing in place). No parameters, no state-dict keys.
    """

    def __init__(
        self,
        *,
        num_pos_feats: int,
        temperature: float = 10000,
        normalize: bool = True,
        scale: float | None = None,
    ) -> None:
        super().__init__()
        self.num_pos_feats = num_pos_feats
        self.temperature = temperature
        self.normalize = normalize
        self.scale = 2 * math.pi if scale is None else scale
        self._cache: dict[tuple[int, int, torch.device, torch.dtype], Tensor] = {}

    def _axis(self, n: int, device: torch.device) -> Tensor:
        """``n x num_pos_feats/2`` encoding of positions ``1..n`` (float32)."""
        half = self.num_pos_feats // 2
        pos = torch.arange(1, n + 1, dtype=torch.float32, device=device)
        if self.normalize:
            pos = pos / (n + 1e-6) * self.scale
        exponent = 2 * (torch.arange(half, dtype=torch.float32, device=device) // 2) / half
        angles = pos[:, None] / self.temperature**exponent
        # Even channels take the sine, odd channels the cosine (pairs share a frequency).
        return torch.stack((angles[:, 0::2].sin(), angles[:, 1::2].cos()), dim=2).flatten(1)

    def encoding(self, h: int, w: int, device: torch.device, dtype: torch.dtype) -> Tensor:
        """The cached ``num_pos_feats x h x w`` encoding (contiguous)."""
        key = (h, w, device, dtype)
        cached = self._cache.get(key)
        if cached is None:
            half = self.num_pos_feats // 2
            rows = self._axis(h, device).t()[:, :, None].expand(half, h, w)
            cols = self._axis(w, device).t()[:, None, :].expand(half, h, w)
            cached = torch.cat((rows, cols), dim=0).to(dtype)
            self._cache[key] = cached
        return cached

    def forward(self, x: Tensor) -> Tensor:
        h, w = x.shape[-2:]
        return self.encoding(h, w, x.device, x.dtype)[None].expand(x.shape[0], -1, -1, -1)
