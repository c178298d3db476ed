"""Small building blocks shared by the SAM components: channel-first LayerNorm and MLPs.

State-dict names follow the official checkpoints (``lin1``/``lin2`` for :class:`MLPBlock`, ``layers.i`` for
:class:`MLP`, ``weight``/``bias`` for :class:`LayerNorm2d`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class LayerNorm2d(nn.Module):
    """LayerNorm over the channels of a ``B x C x H x W`` tensor (per pixel, as ``nn.LayerNorm`` on NHWC)."""

    def __init__(self, num_channels: int, *, eps: float = 1e-6) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(num_channels))
        self.bias = nn.Parameter(torch.zeros(num_channels))
        self.eps = eps

    def forward(self, x: Tensor) -> Tensor:
        """``x``: ``B x C x H x W`` -> ``B x C x H x W``, normalised over ``C``."""
        mean = x.mean(1, keepdim=True)
        var = (x - mean).pow(2).mean(1, keepdim=True)
        x = (x - mean) * torch.rsqrt(var + self.eps)
        return x * self.weight[:, None, None] + self.bias[:, None, None]

    def forward_channels_last(self, x: Tensor) -> Tensor:
        """The same normalisation for channels-last input ``... x C`` (one fused layer-norm pass)."""
        return F.layer_norm(x, (x.shape[-1],), self.weight, self.bias, self.eps)


class MLPBlock(nn.Module):
    """Two-layer feed-forward block ``lin2(act(lin1(x)))`` used in the ViT and the two-way transformer."""

    def __init__(self, *, embedding_dim: int, mlp_dim: int, act: type[nn.Module] = nn.GELU) -> None:
        super().__init__()
        self.lin1 = nn.Linear(embedding_dim, mlp_dim)
        self.lin2 = nn.Linear(mlp_dim, embedding_dim)
        self.act = act()

    def forward(self, x: Tensor) -> Tensor:
        """``x``: ``... x embedding_dim`` -> same shape."""
        return self.lin2(self.act(self.lin1(x)))


class MLP(nn.Module):
    """``num_layers`` linear layers with ReLU between them (the decoder's hypernetworks and IoU head)."""

    def __init__(
        self,
        *,
        input_dim: int,
        hidden_dim: int,
        output_dim: int,
        num_layers: int,
        sigmoid_output: bool = False,
    ) -> None:
        super().__init__()
        dims_in = [input_dim] + [hidden_dim] * (num_layers - 1)
        dims_out = [hidden_dim] * (num_layers - 1) + [output_dim]
        self.layers = nn.ModuleList(nn.Linear(i, o) for i, o in zip(dims_in, dims_out, strict=True))
        self.sigmoid_output = sigmoid_output

    def forward(self, x: Tensor) -> Tensor:
        """``x``: ``... x input_dim`` -> ``... x output_dim``."""
        last = len(self.layers) - 1
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < last:
                x = F.relu(x)
        return torch.sigmoid(x) if self.sigmoid_output else x
