"""Hiera trunk of the SAM 2 image encoder (hierarchical ViT with windowed attention and query pooling).

Tokens travel as ``B x H x W x C`` channels-last tensors. A 7x7 stride-4 convolution embeds the image (1024 ->
a 256x256 grid); a windowed position embedding (a small ``pos_embed`` resized bicubically to the grid, plus a
``pos_embed_window`` tiled once per window) is added; then ``sum(stages)`` blocks run. The first block of each
later stage max-pools its queries and its shortcut by ``q_stride`` (halving the grid) and widens the channels by
``dim_mul`` and the heads by ``head_mul``. Blocks attend inside square windows (``window_spec`` per stage, one
block late: a stage's first block keeps the previous stage's window) or globally (``global_att_blocks``); a window
that does not divide the grid pads the grid with zeros after ``norm1`` (padded tokens take part as keys).
Attention is ``F.scaled_dot_product_attention`` over all windows at once.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from typing import cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sam_model.errors import SamModelError


@dataclass(frozen=True, kw_only=True)
class HieraConfig:
    """Hiera trunk settings; field names and defaults are upstream's ``Hiera`` arguments.

    Attributes:
        embed_dim: channels of the first stage (96 for tiny/small, 112 base+, 144 large).
        num_heads: attention heads of the first stage.
        drop_path_rate: stochastic depth for training; no effect at inference.
        q_pool: how many stage changes pool (at most ``len(stages) - 1``).
        q_stride: pooling stride (rows, columns) at those stage changes.
        stages: blocks per stage.
        dim_mul / head_mul: channel and head factors at each stage change.
        window_pos_embed_bkg_spatial_size: side (rows, columns) of the background position embedding.
        window_spec: window side per stage, in tokens; 0 means global attention for the whole stage.
        global_att_blocks: indexes of the blocks with global attention.
    """

    embed_dim: int = 96
    num_heads: int = 1
    drop_path_rate: float = 0.0
    q_pool: int = 3
    q_stride: tuple[int, int] = (2, 2)
    stages: tuple[int, ...] = (2, 3, 16, 3)
    dim_mul: float = 2.0
    head_mul: float = 2.0
    window_pos_embed_bkg_spatial_size: tuple[int, int] = (14, 14)
    window_spec: tuple[int, ...] = (8, 4, 14, 7)
    global_att_blocks: tuple[int, ...] = (12, 16, 20)


def max_pool_tokens(x: Tensor, stride: tuple[int, int]) -> Tensor:
    """Max-pool ``N x H x W x C`` tokens with kernel = stride (floor: trailing rows/columns dropped), giving
    ``N x H//sh x W//sw x C`` (contiguous). Same numbers as ``nn.MaxPool2d(stride, stride)`` (NaN included),
    as element-wise maxima of strided views, about twice as fast on channels-last tokens."""
    sh, sw = stride
    h2, w2 = x.shape[1] // sh, x.shape[2] // sw
    x = x[:, : h2 * sh, : w2 * sw]
    rows = x[:, 0::sh] if sh == 1 else torch.maximum(x[:, 0::sh], x[:, 1::sh])
    for i in range(2, sh):
        torch.maximum(rows, x[:, i::sh], out=rows)
    if sw == 1:
        return rows.contiguous()
    out = torch.maximum(rows[:, :, 0::sw], rows[:, :, 1::sw])
    for i in range(2, sw):
        torch.maximum(out, rows[:, :, i::sw], out=out)
    return out


class MultiScaleAttention(nn.Module):
    """Multi-head self-attention on token windows, with optional max pooling of the queries.

    ``forward``: ``N x h x w x dim`` -> ``N x h' x w' x dim_out`` (``h' = h // sh`` when pooling, else ``h``).
    """

    def __init__(self, *, dim: int, dim_out: int, num_heads: int, q_stride: tuple[int, int] | None) -> None:
        super().__init__()
        self.dim_out = dim_out
        self.num_heads = num_heads
        self.q_stride = q_stride
        self.qkv = nn.Linear(dim, dim_out * 3)
        self.proj = nn.Linear(dim_out, dim_out)

    def forward(self, x: Tensor) -> Tensor:
        n, h, w, _ = x.shape
        d, heads = self.dim_out, self.num_heads
        qkv = self.qkv(x)  # N x h x w x 3*dim_out, channels [q | k | v], each head-major
        q, k, v = qkv[..., :d], qkv[..., d : 2 * d], qkv[..., 2 * d :]
        if self.q_stride is not None:
            q = max_pool_tokens(q, self.q_stride)
        hq, wq = q.shape[1], q.shape[2]
        # Strided views N x heads x L x d/heads; SDPA reads them without copies.
        q = q.reshape(n, hq * wq, heads, -1).transpose(1, 2)
        k = k.reshape(n, h * w, heads, -1).transpose(1, 2)
        v = v.reshape(n, h * w, heads, -1).transpose(1, 2)
        out = F.scaled_dot_product_attention(q, k, v)  # N x heads x hq*wq x d/heads
        out = out.transpose(1, 2).reshape(n, hq, wq, d)
        return self.proj(out)


class _Mlp(nn.Module):
    """``layers.0`` (dim -> hidden), GELU, ``layers.1`` (hidden -> dim); names as upstream's ``MLP``."""

    def __init__(self, *, dim: int, hidden: int) -> None:
        super().__init__()
        self.layers = nn.ModuleList([nn.Linear(dim, hidden), nn.Linear(hidden, dim)])

    def add_to(self, x: Tensor, residual: Tensor) -> Tensor:
        """``residual + mlp(x)``. ``x``, ``residual``: ``... x dim``, contiguous.

        Without autograd, GELU runs in place and the second layer accumulates into ``residual`` (which must be a
        tensor the caller owns): two large allocations fewer per block, same numbers."""
        fc1, fc2 = cast(tuple[nn.Linear, nn.Linear], tuple(self.layers))
        if torch.is_grad_enabled() or not residual.is_contiguous():
            return residual + fc2(F.gelu(fc1(x)))
        hidden = torch.ops.aten.gelu_(fc1(x))
        if hidden.dtype != residual.dtype:
            return residual + fc2(hidden)
        flat = residual.view(-1, residual.shape[-1])
        flat.addmm_(hidden.view(-1, hidden.shape[-1]), fc2.weight.t())
        flat.add_(fc2.bias)
        return residual


class MultiScaleBlock(nn.Module):
    """One Hiera block: ``x + attn(norm1(x))`` (windowed or global, queries pooled at a stage change; the
    shortcut then is ``pool(proj(norm1(x)))``), then ``+ mlp(norm2(.))``.

    ``forward``: ``B x H x W x dim`` -> ``B x H' x W' x dim_out`` (``H' = H // sh`` when pooling).
    """

    def __init__(
        self,
        *,
        dim: int,
        dim_out: int,
        num_heads: int,
        q_stride: tuple[int, int] | None,
        window_size: int,
        mlp_ratio: float = 4.0,
    ) -> None:
        super().__init__()
        self.dim, self.dim_out = dim, dim_out
        self.window_size = window_size
        self.q_stride = q_stride
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = MultiScaleAttention(dim=dim, dim_out=dim_out, num_heads=num_heads, q_stride=q_stride)
        self.norm2 = nn.LayerNorm(dim_out, eps=1e-6)
        self.mlp = _Mlp(dim=dim_out, hidden=int(dim_out * mlp_ratio))
        self.proj = nn.Linear(dim, dim_out) if dim != dim_out else None

    def forward(self, x: Tensor) -> Tensor:
        b, h, w, _ = x.shape
        normed = self.norm1(x)
        shortcut = x
        if self.proj is not None:
            shortcut = self.proj(normed)
        if self.q_stride is not None:
            shortcut = max_pool_tokens(shortcut, self.q_stride)
        ws = self.window_size
        if ws > 0:
            grid_h, grid_w = -(-h // ws), -(-w // ws)  # windows per column / row
            pad_h, pad_w = grid_h * ws - h, grid_w * ws - w
            if pad_h or pad_w:
                normed = F.pad(normed, (0, 0, 0, pad_w, 0, pad_h))
            windows = (
                normed.view(b, grid_h, ws, grid_w, ws, self.dim)
                .permute(0, 1, 3, 2, 4, 5)
                .reshape(b * grid_h * grid_w, ws, ws, self.dim)
            )
            attended = self.attn(windows)  # (B * windows) x ws' x ws' x dim_out
            x = _add_unpartitioned(shortcut, attended, grid_h, grid_w)
        else:
            x = shortcut + self.attn(normed)
        return self.mlp.add_to(self.norm2(x), x)


def _add_unpartitioned(shortcut: Tensor, windows: Tensor, grid_h: int, grid_w: int) -> Tensor:
    """``shortcut + windows`` put back on the grid (padding cropped), as a new contiguous tensor.

    ``shortcut``: ``B x H x W x C``; ``windows``: ``(B * grid_h * grid_w) x sh x sw x C``, row-major windows.
    """
    b, h, w, c = shortcut.shape
    sh, sw = windows.shape[1], windows.shape[2]
    tiled = windows.view(b, grid_h, grid_w, sh, sw, c).permute(0, 1, 3, 2, 4, 5)  # B x gh x sh x gw x sw x C
    if grid_h * sh == h and grid_w * sw == w and not torch.is_grad_enabled():
        out = torch.empty((b, h, w, c), dtype=torch.result_type(shortcut, windows), device=shortcut.device)
        grid = (b, grid_h, sh, grid_w, sw, c)
        torch.add(shortcut.view(grid), tiled, out=out.view(grid))
        return out
    return shortcut + tiled.reshape(b, grid_h * sh, grid_w * sw, c)[:, :h, :w]


class _PatchEmbed(nn.Module):
    """``proj``: 7x7 convolution, stride 4, padding 3: ``B x 3 x H x W`` -> ``B x H/4 x W/4 x C`` tokens."""

    def __init__(self, *, embed_dim: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(3, embed_dim, kernel_size=7, stride=4, padding=3)

    def forward(self, x: Tensor) -> Tensor:
        # Channels-last input makes the convolution write B x H x W x C memory order: the permute is free.
        return self.proj(x.contiguous(memory_format=torch.channels_last)).permute(0, 2, 3, 1)


class Hiera(nn.Module):
    """The Hiera trunk.

    ``forward``: ``B x 3 x S x S`` normalised image -> one feature map per stage, finest first, stage ``i``
    ``B x C_i x S/(4*2^i) x S/(4*2^i)`` (channels-last memory), ``C_i = embed_dim * dim_mul^i`` (with the
    default three pooling stages). ``channel_list`` gives the ``C_i`` coarsest first, as upstream's neck lists
    them (``backbone_channel_list``).
    """

    def __init__(self, *, config: HieraConfig) -> None:
        super().__init__()
        cfg = config
        if len(cfg.stages) != len(cfg.window_spec):
            raise SamModelError(
                f"Hiera: stages has {len(cfg.stages)} entries but window_spec has {len(cfg.window_spec)}"
            )
        if not 0 <= cfg.q_pool <= len(cfg.stages) - 1:
            raise SamModelError(
                f"Hiera: q_pool must be between 0 and {len(cfg.stages) - 1}, got {cfg.q_pool}"
            )
        self.config = cfg
        self.stage_ends = [sum(cfg.stages[: i + 1]) - 1 for i in range(len(cfg.stages))]
        pool_blocks = {end + 1 for end in self.stage_ends[:-1][: cfg.q_pool]}
        self.patch_embed = _PatchEmbed(embed_dim=cfg.embed_dim)
        self.pos_embed = nn.Parameter(torch.zeros(1, cfg.embed_dim, *cfg.window_pos_embed_bkg_spatial_size))
        first_window = cfg.window_spec[0]
        self.pos_embed_window = nn.Parameter(torch.zeros(1, cfg.embed_dim, first_window, first_window))
        blocks: list[MultiScaleBlock] = []
        dim, heads, stage = cfg.embed_dim, cfg.num_heads, 0
        for i in range(sum(cfg.stages)):
            # The window lags one block: a stage's first block keeps the previous stage's window.
            window = 0 if i in cfg.global_att_blocks else cfg.window_spec[stage]
            dim_out = dim
            if i - 1 in self.stage_ends:
                dim_out, heads, stage = int(dim * cfg.dim_mul), int(heads * cfg.head_mul), stage + 1
            if heads < 1 or dim_out % heads:
                raise SamModelError(f"Hiera block {i}: {dim_out} channels do not split into {heads} heads")
            blocks.append(
                MultiScaleBlock(
                    dim=dim,
                    dim_out=dim_out,
                    num_heads=heads,
                    q_stride=(cfg.q_stride[0], cfg.q_stride[1]) if i in pool_blocks else None,
                    window_size=window,
                )
            )
            dim = dim_out
        self.blocks = nn.ModuleList(blocks)
        self.channel_list = [blocks[end].dim_out for end in reversed(self.stage_ends)]
        self._pos_cache: tuple[tuple[object, ...], Tensor] | None = None

    def position_embedding(self, h: int, w: int) -> Tensor:
        """``1 x h x w x C`` (contiguous): ``pos_embed`` resized bicubically to ``h x w`` plus the window part
        tiled over the grid. Without autograd the result is cached until the parameters change."""
        params = (self.pos_embed, self.pos_embed_window)
        key = (h, w, *((p.data_ptr(), p._version, p.dtype, p.device) for p in params))
        cached = self._pos_cache
        if cached is not None and cached[0] == key and not torch.is_grad_enabled():
            return cached[1]
        pos = F.interpolate(self.pos_embed, size=(h, w), mode="bicubic")
        win = self.pos_embed_window
        wh, ww = win.shape[-2:]
        if h % wh or w % ww:
            raise SamModelError(f"Hiera: a {h}x{w} token grid is not a whole number of {wh}x{ww} windows")
        c = pos.shape[1]
        pos = (pos.view(1, c, h // wh, wh, w // ww, ww) + win.view(1, c, 1, wh, 1, ww)).view(1, c, h, w)
        pos = pos.permute(0, 2, 3, 1).contiguous()
        if not torch.is_grad_enabled():
            self._pos_cache = (key, pos)
        return pos

    def embed(self, sample: Tensor) -> Tensor:
        """Patch embedding plus position embedding: ``B x 3 x S x S`` -> ``B x S/4 x S/4 x C`` tokens."""
        x = self.patch_embed(sample)
        pos = self.position_embedding(x.shape[1], x.shape[2]).to(x.dtype)
        if x.is_contiguous() and not torch.is_grad_enabled():
            return x.add_(pos)  # x is the convolution's fresh output
        return (x + pos).contiguous()

    def forward_steps(self, sample: Tensor) -> Generator[None, None, list[Tensor]]:
        """Generator form of ``forward``: yields after the embedding and after each block; returns the features.

        Grad mode is thread-local: wrap each ``next()`` in ``torch.inference_mode()`` rather than the generator.
        """
        x = self.embed(sample)
        yield
        outputs: list[Tensor] = []
        for i, block in enumerate(self.blocks):
            x = block(x)
            if i in self.stage_ends:
                outputs.append(x.permute(0, 3, 1, 2))
            yield
        return outputs

    def forward(self, sample: Tensor) -> list[Tensor]:
        x = self.embed(sample)
        outputs: list[Tensor] = []
        for i, block in enumerate(self.blocks):
            x = block(x)
            if i in self.stage_ends:
                outputs.append(x.permute(0, 3, 1, 2))
        return outputs
