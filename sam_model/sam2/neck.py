"""FPN neck of the SAM 2 image encoder: project every trunk level to ``d_model`` channels, fuse top-down.

Upstream's ``FpnNeck``: a lateral convolution per level (``convs.N.conv``, ``N = 0`` for the coarsest level),
then from the coarsest level down, levels listed in ``fpn_top_down_levels`` add the coarser result upsampled 2x
(``fpn_interp_model``; computed in float32 as upstream does, the sum is cast back to the lateral's dtype) and the
other levels keep their lateral alone. Each output gets a sine position encoding.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sam_model.sam2.position_encoding import PositionEmbeddingSine

INTERP_MODES = ("nearest", "bilinear", "bicubic", "area", "nearest-exact")
FUSE_TYPES = ("sum", "avg")


@dataclass(frozen=True, kw_only=True)
class SineEncodingConfig:
    """``neck.position_encoding``: see ``PositionEmbeddingSine``."""

    num_pos_feats: int = 256
    temperature: float = 10000
    normalize: bool = True
    scale: float | None = None


@dataclass(frozen=True, kw_only=True)
class FpnNeckConfig:
    """Upstream ``FpnNeck`` arguments (``backbone_channel_list`` coarsest level first).

    ``fpn_top_down_levels``: level indexes (0 = finest) that receive the top-down path; ``None`` means all.
    """

    position_encoding: SineEncodingConfig
    d_model: int
    backbone_channel_list: tuple[int, ...]
    kernel_size: int = 1
    stride: int = 1
    padding: int = 0
    fpn_interp_model: str = "bilinear"
    fuse_type: str = "sum"
    fpn_top_down_levels: tuple[int, ...] | None = None


class _Lateral(nn.Module):
    """Holds ``conv`` (the key layout ``convs.N.conv.*`` of upstream's ``nn.Sequential``)."""

    def __init__(self, conv: nn.Conv2d) -> None:
        super().__init__()
        self.conv = conv

    def forward(self, x: Tensor) -> Tensor:
        """``B x C x H x W`` -> ``B x d_model x H' x W'`` (contiguous).

        Without autograd, a 1x1 convolution of a channels-last map is one matrix product per image written
        straight in ``B x d x H x W`` memory."""
        conv = self.conv
        b, c, h, w = x.shape
        pointwise = conv.kernel_size == (1, 1) and conv.stride == (1, 1) and conv.padding == (0, 0)
        channels_last = x.is_contiguous(memory_format=torch.channels_last)
        if pointwise and channels_last and conv.bias is not None and not torch.is_grad_enabled():
            tokens = x.permute(0, 2, 3, 1).reshape(b, h * w, c)  # a view of channels-last memory
            weight, bias = conv.weight.view(conv.out_channels, c), conv.bias.view(-1, 1)
            out = torch.empty((b, conv.out_channels, h * w), dtype=x.dtype, device=x.device)
            for i in range(b):  # one product per image, written in place (matmul would copy its result)
                torch.addmm(bias, weight, tokens[i].t(), out=out[i])
            return out.view(b, conv.out_channels, h, w)
        return conv(x).contiguous()


class FpnNeck(nn.Module):
    """``forward(xs)``: trunk levels finest first, level ``i`` ``B x C_i x H_i x W_i`` -> ``(features, pos)``,
    two lists finest first, each level ``B x d_model x H_i x W_i`` (``pos``: read-only views, see
    ``PositionEmbeddingSine``)."""

    def __init__(self, *, config: FpnNeckConfig) -> None:
        super().__init__()
        cfg = config
        self.config = cfg
        self.backbone_channel_list = list(cfg.backbone_channel_list)
        self.position_encoding = PositionEmbeddingSine(
            num_pos_feats=cfg.position_encoding.num_pos_feats,
            temperature=cfg.position_encoding.temperature,
            normalize=cfg.position_encoding.normalize,
            scale=cfg.position_encoding.scale,
        )
        self.convs = nn.ModuleList(
            _Lateral(
                nn.Conv2d(
                    dim,
                    cfg.d_model,
                    kernel_size=cfg.kernel_size,
                    stride=cfg.stride,
                    padding=cfg.padding,
                )
            )
            for dim in cfg.backbone_channel_list
        )
        levels = cfg.fpn_top_down_levels
        self.top_down_levels = set(range(len(self.convs)) if levels is None else levels)

    def forward(self, xs: Sequence[Tensor]) -> tuple[list[Tensor], list[Tensor]]:
        n = len(self.convs)
        features: list[Tensor] = [xs[0]] * n
        previous: Tensor | None = None
        for i in range(n - 1, -1, -1):  # coarsest level first
            lateral = self.convs[n - 1 - i](xs[i])
            if previous is not None and i in self.top_down_levels:
                mode = self.config.fpn_interp_model
                top_down = F.interpolate(
                    previous.float(),
                    scale_factor=2.0,
                    mode=mode,
                    align_corners=None if mode in ("nearest", "nearest-exact", "area") else False,
                )
                fused = lateral.add_(top_down) if lateral.dtype == top_down.dtype else lateral + top_down
                if self.config.fuse_type == "avg":
                    fused = fused / 2
                previous = fused.to(lateral.dtype)
            else:
                previous = lateral
            features[i] = previous
        pos = [self.position_encoding(f) for f in features]
        return features, pos
