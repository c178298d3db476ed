"""MobileSAM's image encoder: TinyViT (the 5M-parameter variant in the ``vit_t`` preset) with SAM's neck.

A convolutional stem (two stride-2 ``3 x 3`` convolutions, ``/4``), an MBConv stage, then attention stages made of
windowed self-attention with TinyViT's learned attention biases (one value per head and per ``(|dy|, |dx|)`` offset
inside a window), a depthwise "local" convolution and an MLP; patch merging between stages (stride 2, 2, then 1
for MobileSAM, so the last two stages both run at ``image_size / 16``). The neck maps the last stage to the
256-channel ``64 x 64`` image embedding that SAM's decoder expects.

Feature maps are kept in channels-last memory (``B x C x H x W`` tensors with NHWC strides): the depthwise and
pointwise convolutions run about twice as fast on the CPU that way, and the attention stages' ``B x H x W x C`` view
of them is a free permute.

Every convolution is followed by a BatchNorm (``c`` / ``bn`` in the state dict, as in the official checkpoint). In
eval mode with gradients off (inference) the BatchNorm is folded into the convolution, and each attention layer's
``heads x N x N`` bias table is gathered once; both are cached and rebuilt when a source tensor changes
(new weights, ``.to()``, in-place edits).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Generator, Sequence
from typing import cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sam_model.sam.common import LayerNorm2d


class TinyViT(nn.Module):
    """TinyViT image encoder of MobileSAM.

    Input ``B x 3 x S x S`` (normalised, padded, ``S = img_size``); output ``B x out_chans x G x G`` with
    ``G = S / (4 * prod(merge_strides))`` (64 for MobileSAM: ``1024 / (4 * 2 * 2 * 1)``).

    Args:
        img_size: side of the square input, in pixels.
        in_chans: input channels (3, RGB).
        embed_dims: channels of each stage (stage 0 is convolutional, the others attention stages).
        depths: blocks per stage.
        num_heads: attention heads per stage (the entry of stage 0 is unused).
        window_sizes: attention window side per stage, in tokens (the entry of stage 0 is unused).
        merge_strides: stride of the patch merging after each stage but the last (``len(embed_dims) - 1``).
        mlp_ratio: hidden width of the attention stages' MLP, relative to the stage width.
        mbconv_expand_ratio: hidden width of the MBConv blocks, relative to the stage width.
        local_conv_size: kernel side of the depthwise convolution between attention and MLP.
        out_chans: channels of the image embedding (SAM's prompt embedding width, 256).
        num_classes: outputs of TinyViT's classification head. MobileSAM never runs it; the module keeps it
            (``norm_head``, ``head``) only so the official checkpoint loads strictly. 0: no head.
    """

    def __init__(
        self,
        *,
        img_size: int = 1024,
        in_chans: int = 3,
        embed_dims: Sequence[int] = (64, 128, 160, 320),
        depths: Sequence[int] = (2, 2, 6, 2),
        num_heads: Sequence[int] = (2, 4, 5, 10),
        window_sizes: Sequence[int] = (7, 7, 14, 7),
        merge_strides: Sequence[int] = (2, 2, 1),
        mlp_ratio: float = 4.0,
        mbconv_expand_ratio: float = 4.0,
        local_conv_size: int = 3,
        out_chans: int = 256,
        num_classes: int = 1000,
    ) -> None:
        super().__init__()
        stages = len(embed_dims)
        if not (len(depths) == len(num_heads) == len(window_sizes) == stages >= 1):
            raise ValueError("embed_dims, depths, num_heads and window_sizes need one entry per stage")
        if len(merge_strides) != stages - 1:
            raise ValueError(
                f"merge_strides needs {stages - 1} entries (one per merge), got {len(merge_strides)}"
            )
        self.img_size = img_size
        self.patch_embed = _Stem(in_chans=in_chans, embed_dim=embed_dims[0])
        self.layers = nn.ModuleList()
        for i in range(stages):
            merge = None
            if i < stages - 1:
                merge = _PatchMerging(dim=embed_dims[i], out_dim=embed_dims[i + 1], stride=merge_strides[i])
            blocks: list[nn.Module]
            if i == 0:
                blocks = [
                    _MBConv(dim=embed_dims[0], expand_ratio=mbconv_expand_ratio) for _ in range(depths[0])
                ]
                self.layers.append(_Stage(blocks=blocks, downsample=merge, channels_last=False))
            else:
                blocks = [
                    _TinyViTBlock(
                        dim=embed_dims[i],
                        num_heads=num_heads[i],
                        window_size=window_sizes[i],
                        mlp_ratio=mlp_ratio,
                        local_conv_size=local_conv_size,
                    )
                    for _ in range(depths[i])
                ]
                self.layers.append(_Stage(blocks=blocks, downsample=merge, channels_last=True))
        if num_classes > 0:
            self.norm_head = nn.LayerNorm(embed_dims[-1])
            self.head = nn.Linear(embed_dims[-1], num_classes)
        self.neck = nn.Sequential(
            nn.Conv2d(embed_dims[-1], out_chans, kernel_size=1, bias=False),
            LayerNorm2d(out_chans),
            nn.Conv2d(out_chans, out_chans, kernel_size=3, padding=1, bias=False),
            LayerNorm2d(out_chans),
        )

    def forward(self, x: Tensor) -> Tensor:
        """``x``: ``B x 3 x S x S`` -> ``B x out_chans x G x G``."""
        x = self.patch_embed(x.contiguous(memory_format=torch.channels_last))
        for layer in self.layers:
            x = layer(x)
        return self.neck(x)

    def forward_steps(self, x: Tensor) -> Generator[None, None, Tensor]:
        """:meth:`forward` in small steps (stem, each block, each merge, neck), yielding between them; the
        generator's return value is the ``B x out_chans x G x G`` embedding, the same numbers as ``forward``.
        The caller chooses the grad mode of each step (e.g. ``inference_mode`` around each ``next``)."""
        x = self.patch_embed(x.contiguous(memory_format=torch.channels_last))
        yield
        for layer in self.layers:
            x = yield from cast(_Stage, layer).forward_steps(x)
        return self.neck(x)


class _Stage(nn.Module):
    """Blocks at one resolution, then an optional patch merging. ``B x C x H x W`` -> ``B x C' x H' x W'``.

    ``channels_last``: the blocks take ``B x H x W x C`` (attention stages) instead of ``B x C x H x W``.
    """

    def __init__(self, *, blocks: list[nn.Module], downsample: nn.Module | None, channels_last: bool) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(blocks)
        self.downsample = downsample
        self.channels_last = channels_last

    def forward(self, x: Tensor) -> Tensor:
        x = x.permute(0, 2, 3, 1) if self.channels_last else x
        for block in self.blocks:
            x = block(x)
        return self._leave(x)

    def forward_steps(self, x: Tensor) -> Generator[None, None, Tensor]:
        """Yields after each block (the merge runs with the next step's work); returns ``forward(x)``."""
        x = x.permute(0, 2, 3, 1) if self.channels_last else x
        for block in self.blocks:
            x = block(x)
            yield
        return self._leave(x)

    def _leave(self, x: Tensor) -> Tensor:
        x = x.permute(0, 3, 1, 2) if self.channels_last else x
        return x if self.downsample is None else self.downsample(x)


class _Stem(nn.Module):
    """Two ``3 x 3`` stride-2 conv + BN layers with a GELU between: ``B x 3 x S x S`` -> ``B x D x S/4 x S/4``."""

    def __init__(self, *, in_chans: int, embed_dim: int) -> None:
        super().__init__()
        self.seq = nn.Sequential(
            _ConvBN(in_chans, embed_dim // 2, kernel_size=3, stride=2, padding=1),
            nn.GELU(),
            _ConvBN(embed_dim // 2, embed_dim, kernel_size=3, stride=2, padding=1),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.seq(x)


class _MBConv(nn.Module):
    """Inverted residual: 1x1 expand, 3x3 depthwise, 1x1 project, each conv + BN, GELUs, residual then GELU.

    ``B x C x H x W`` -> ``B x C x H x W``.
    """

    def __init__(self, *, dim: int, expand_ratio: float) -> None:
        super().__init__()
        hidden = int(dim * expand_ratio)
        self.conv1 = _ConvBN(dim, hidden, kernel_size=1)
        self.conv2 = _ConvBN(hidden, hidden, kernel_size=3, padding=1, groups=hidden)
        self.conv3 = _ConvBN(hidden, dim, kernel_size=1)

    def forward(self, x: Tensor) -> Tensor:
        y = _gelu(self.conv1(x))
        y = _gelu(self.conv2(y))
        return _gelu(x + self.conv3(y))


class _PatchMerging(nn.Module):
    """1x1 conv to ``out_dim``, 3x3 depthwise conv with ``stride``, 1x1 conv (each + BN), GELUs between.

    ``B x C x H x W`` -> ``B x out_dim x ceil(H / stride) x ceil(W / stride)``.
    """

    def __init__(self, *, dim: int, out_dim: int, stride: int) -> None:
        super().__init__()
        self.conv1 = _ConvBN(dim, out_dim, kernel_size=1)
        self.conv2 = _ConvBN(out_dim, out_dim, kernel_size=3, stride=stride, padding=1, groups=out_dim)
        self.conv3 = _ConvBN(out_dim, out_dim, kernel_size=1)

    def forward(self, x: Tensor) -> Tensor:
        x = _gelu(self.conv1(x))
        return self.conv3(_gelu(self.conv2(x)))


class _TinyViTBlock(nn.Module):
    """Windowed attention (residual), depthwise local conv + BN, MLP (residual). ``B x H x W x C`` in and out.

    The grid is zero-padded bottom/right to whole windows *before* the attention's LayerNorm, as upstream does,
    so padded tokens take part as keys with the normalised value of a zero token.
    """

    def __init__(
        self, *, dim: int, num_heads: int, window_size: int, mlp_ratio: float, local_conv_size: int
    ) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"width {dim} is not a multiple of the head count {num_heads}")
        self.window_size = window_size
        self.attn = _WindowAttention(dim=dim, num_heads=num_heads, window_size=window_size)
        self.local_conv = _ConvBN(
            dim, dim, kernel_size=local_conv_size, padding=local_conv_size // 2, groups=dim
        )
        self.mlp = _Mlp(dim=dim, hidden_dim=int(dim * mlp_ratio))

    def forward(self, x: Tensor) -> Tensor:
        b, h, w, c = x.shape
        ws = self.window_size
        pad_b, pad_r = (-h) % ws, (-w) % ws
        y = F.pad(x, (0, 0, 0, pad_r, 0, pad_b)) if pad_b or pad_r else x
        nh, nw = (h + pad_b) // ws, (w + pad_r) // ws
        # all windows in one batch: (B * nh * nw) x (ws * ws) x C
        y = y.reshape(b, nh, ws, nw, ws, c).transpose(2, 3).reshape(b * nh * nw, ws * ws, c)
        y = self.attn(y)
        y = y.view(b, nh, nw, ws, ws, c).transpose(2, 3).reshape(b, nh * ws, nw * ws, c)
        x = x + y[:, :h, :w]
        x = self.local_conv(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)
        return x + self.mlp(x)


class _WindowAttention(nn.Module):
    """Pre-norm multi-head self-attention over windows of ``N = window_size ** 2`` tokens, with a learned bias
    per head and per ``(|dy|, |dx|)`` offset: ``attention_biases`` is ``heads x N`` (offset ``|dy| * ws + |dx|``).

    ``qkv`` lays out ``q, k, v`` head by head (``heads x 3 x head_dim``), as TinyViT's checkpoints do.
    """

    def __init__(self, *, dim: int, num_heads: int, window_size: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.window_size = window_size
        self.norm = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.attention_biases = nn.Parameter(torch.zeros(num_heads, window_size * window_size))
        self._cache = _EvalCache()

    def bias_table(self) -> Tensor:
        """The ``1 x heads x N x N`` additive logit bias (``N = window_size ** 2``), cached in inference.

        (4-D: with a 3-D mask the CPU's SDPA falls back to its unfused path, about 3x slower.)"""
        return self._cache.get(self, (self.attention_biases,), self._gather_biases)[0]

    def _gather_biases(self) -> tuple[Tensor]:
        ws = self.window_size
        pos = torch.arange(ws * ws, device=self.attention_biases.device)
        dy = (pos[:, None] // ws - pos[None, :] // ws).abs()
        dx = (pos[:, None] % ws - pos[None, :] % ws).abs()
        return (self.attention_biases[:, dy * ws + dx].unsqueeze(0),)

    def forward(self, x: Tensor) -> Tensor:
        """``x``: ``W x N x C`` (windows, tokens) -> ``W x N x C``."""
        n_win, n, c = x.shape
        qkv = self.qkv(self.norm(x)).view(n_win, n, self.num_heads, 3, c // self.num_heads)
        q, k, v = qkv.permute(3, 0, 2, 1, 4).unbind(0)  # each W x heads x N x head_dim
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=self.bias_table().to(q.dtype))
        return self.proj(out.transpose(1, 2).reshape(n_win, n, c))


class _Mlp(nn.Module):
    """``fc2(gelu(fc1(norm(x))))`` on ``... x dim`` (TinyViT's MLP carries its own LayerNorm)."""

    def __init__(self, *, dim: int, hidden_dim: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.fc1 = nn.Linear(dim, hidden_dim)
        self.fc2 = nn.Linear(hidden_dim, dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(F.gelu(self.fc1(self.norm(x))))


class _ConvBN(nn.Module):
    """A bias-free convolution ``c`` followed by BatchNorm ``bn``; ``B x Cin x H x W`` -> ``B x Cout x H' x W'``.

    In inference (eval mode, gradients off) it runs one convolution with the BatchNorm folded in:
    ``w' = w * g / sqrt(var + eps)``, ``b' = beta - mean * g / sqrt(var + eps)`` (exact up to float rounding,
    because eval-mode BatchNorm is that affine map).
    """

    def __init__(
        self,
        in_chans: int,
        out_chans: int,
        *,
        kernel_size: int,
        stride: int = 1,
        padding: int = 0,
        groups: int = 1,
    ) -> None:
        super().__init__()
        self.c = nn.Conv2d(in_chans, out_chans, kernel_size, stride, padding, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(out_chans)
        self._cache = _EvalCache()
        self._pointwise = kernel_size == 1 and stride == 1 and padding == 0 and groups == 1

    def forward(self, x: Tensor) -> Tensor:
        if self.training or torch.is_grad_enabled():
            return self.bn(self.c(x))
        weight, bias = self._cache.get(
            self,
            (
                self.c.weight,
                self.bn.weight,
                self.bn.bias,
                self._running(self.bn.running_mean),
                self._running(self.bn.running_var),
            ),
            self._fold,
        )
        if self._pointwise and x.is_contiguous(memory_format=torch.channels_last):
            # A 1x1 convolution is a matrix product over the pixels: on channels-last input one addmm on the
            # B*H*W x C view (the CPU otherwise takes the slow im2col path and a separate bias copy).
            n, _c, h, w = x.shape
            flat = x.permute(0, 2, 3, 1).reshape(n * h * w, -1)
            out = torch.addmm(bias, flat, weight.view(weight.shape[0], -1).t())
            return out.view(n, h, w, -1).permute(0, 3, 1, 2)
        return F.conv2d(x, weight, bias, self.c.stride, self.c.padding, self.c.dilation, self.c.groups)

    @staticmethod
    def _running(stat: Tensor | None) -> Tensor:
        """A batch norm's running statistic (always tracked here: the module is built with
        ``track_running_stats``)."""
        return cast(Tensor, stat)

    def _fold(self) -> tuple[Tensor, Tensor]:
        bn = self.bn
        mean, var = cast(Tensor, bn.running_mean), cast(Tensor, bn.running_var)  # running stats are tracked
        scale = bn.weight * torch.rsqrt(var + bn.eps)
        return self.c.weight * scale[:, None, None, None], bn.bias - mean * scale


class _EvalCache:
    """Inference-time cache of tensors derived from a module's parameters (folded convs, bias tables).

    Used only in eval mode with gradients off; otherwise the derived tensors are recomputed each call (so
    training and autograd see the parameters). The key is each source tensor's storage, version counter, dtype
    and device, so new weights (``load_state_dict``, ``.to()``) or in-place edits rebuild the entry.
    """

    def __init__(self) -> None:
        self._key: tuple[object, ...] | None = None
        self._value: tuple[Tensor, ...] = ()

    def get(
        self, module: nn.Module, sources: tuple[Tensor, ...], compute: Callable[[], tuple[Tensor, ...]]
    ) -> tuple[Tensor, ...]:
        if module.training or torch.is_grad_enabled():
            return compute()
        key = tuple((t.data_ptr(), 0 if t.is_inference() else t._version, t.dtype, t.device) for t in sources)
        if key != self._key:
            self._value = compute()
            self._key = key
        return self._value


def _gelu(x: Tensor) -> Tensor:
    """Exact GELU; in place on the fresh activations of inference (one large allocation less per call),
    out of place where autograd records the graph."""
    if torch.is_grad_enabled() and x.requires_grad:
        return F.gelu(x)
    return torch.ops.aten.gelu_(x)


def grid_size(img_size: int, merge_strides: Sequence[int]) -> int:
    """Side of TinyViT's output grid for an ``img_size`` input (stem ``/4``, then each merge's stride)."""
    side = math.ceil(math.ceil(img_size / 2) / 2)
    for stride in merge_strides:
        side = math.ceil(side / stride)
    return side


__all__ = ["TinyViT", "grid_size"]
