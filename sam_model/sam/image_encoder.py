"""The ViT image encoder: patch embedding, windowed and global attention blocks with decomposed relative
positions, and a convolutional neck to the 256-channel image embedding.

Attention adds SAM's decomposed relative-position term ``rel_h[q_row, k_row] + rel_w[q_col, k_col]`` to the
logits without the upstream ``B x heads x N x N`` float32 bias for all heads at once (805 MB per global
block for ViT-B); see ``docs/adr/0001-fused-relpos-attention.md`` for the measured options.
"""

from __future__ import annotations

from collections.abc import Generator

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sam_model.sam.common import LayerNorm2d, MLPBlock


class ImageEncoderViT(nn.Module):
    """ViT backbone of SAM.

    Input ``B x 3 x image_size x image_size`` (normalised, padded); output ``B x out_chans x G x G`` with
    ``G = image_size // patch_size`` (64 for 1024 / 16).
    """

    def __init__(
        self,
        *,
        img_size: int = 1024,
        patch_size: int = 16,
        in_chans: int = 3,
        embed_dim: int = 768,
        depth: int = 12,
        num_heads: int = 12,
        mlp_ratio: float = 4.0,
        out_chans: int = 256,
        window_size: int = 14,
        global_attn_indexes: tuple[int, ...] = (),
    ) -> None:
        super().__init__()
        self.img_size = img_size
        grid = img_size // patch_size
        self.patch_embed = _PatchEmbed(patch_size=patch_size, in_chans=in_chans, embed_dim=embed_dim)
        self.pos_embed = nn.Parameter(torch.zeros(1, grid, grid, embed_dim))
        self.blocks = nn.ModuleList(
            _Block(
                dim=embed_dim,
                num_heads=num_heads,
                mlp_ratio=mlp_ratio,
                window_size=0 if i in global_attn_indexes else window_size,
                input_size=(grid, grid),
            )
            for i in range(depth)
        )
        self.neck = nn.Sequential(
            nn.Conv2d(embed_dim, out_chans, kernel_size=1, bias=False),
            LayerNorm2d(out_chans),
            nn.Conv2d(out_chans, out_chans, kernel_size=3, padding=1, bias=False),
            LayerNorm2d(out_chans),
        )

    def forward(self, x: Tensor) -> Tensor:
        """``x``: ``B x 3 x S x S`` -> ``B x out_chans x S/16 x S/16``."""
        x = self.patch_embed(x) + self.pos_embed  # B x G x G x C (channels last throughout the blocks)
        for block in self.blocks:
            x = block(x)
        return self.neck(x.permute(0, 3, 1, 2))

    def forward_steps(self, x: Tensor) -> Generator[None, None, Tensor]:
        """:meth:`forward` in steps (patch embedding + position embedding, each block, neck), yielding between
        them; the generator's return value is the embedding, the same numbers as ``forward``. The caller
        chooses the grad mode of each step (e.g. ``inference_mode`` around each ``next``)."""
        x = self.patch_embed(x) + self.pos_embed
        yield
        for block in self.blocks:
            x = block(x)
            yield
        return self.neck(x.permute(0, 3, 1, 2))


class _PatchEmbed(nn.Module):
    """Non-overlapping ``patch_size`` convolution; ``B x 3 x S x S`` -> ``B x S/p x S/p x embed_dim``."""

    def __init__(self, *, patch_size: int, in_chans: int, embed_dim: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(in_chans, embed_dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, x: Tensor) -> Tensor:
        return self.proj(x).permute(0, 2, 3, 1)


class _Block(nn.Module):
    """Pre-norm transformer block; windowed attention when ``window_size > 0``, else global.

    ``B x H x W x C`` -> ``B x H x W x C``.
    """

    def __init__(
        self, *, dim: int, num_heads: int, mlp_ratio: float, window_size: int, input_size: tuple[int, int]
    ) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        attn_size = (window_size, window_size) if window_size > 0 else input_size
        self.attn = _Attention(dim=dim, num_heads=num_heads, input_size=attn_size)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = MLPBlock(embedding_dim=dim, mlp_dim=int(dim * mlp_ratio), act=nn.GELU)
        self.window_size = window_size

    def forward(self, x: Tensor) -> Tensor:
        h, w = x.shape[1], x.shape[2]
        y = self.norm1(x)
        if self.window_size > 0:
            windows, padded_hw = _window_partition(y, self.window_size)
            y = _window_unpartition(self.attn(windows), self.window_size, padded_hw, (h, w))
        else:
            y = self.attn(y)
        x = x + y
        return x + self.mlp(self.norm2(x))


class _Attention(nn.Module):
    """Multi-head self-attention with decomposed relative positions over an ``H x W`` token grid.

    ``rel_pos_h`` / ``rel_pos_w``: ``(2H - 1) x head_dim`` / ``(2W - 1) x head_dim`` learned tables.
    """

    def __init__(self, *, dim: int, num_heads: int, input_size: tuple[int, int]) -> None:
        super().__init__()
        self.num_heads = num_heads
        head_dim = dim // num_heads
        self.scale = head_dim**-0.5
        self.qkv = nn.Linear(dim, dim * 3, bias=True)
        self.proj = nn.Linear(dim, dim)
        self.rel_pos_h = nn.Parameter(torch.zeros(2 * input_size[0] - 1, head_dim))
        self.rel_pos_w = nn.Parameter(torch.zeros(2 * input_size[1] - 1, head_dim))

    def forward(self, x: Tensor) -> Tensor:
        """``x``: ``B x H x W x C`` -> ``B x H x W x C``."""
        b, h, w, c = x.shape
        qkv = self.qkv(x).view(b, h * w, 3, self.num_heads, c // self.num_heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)  # each B x heads x N x head_dim
        rel_h, rel_w = _decomposed_rel_pos(q, self.rel_pos_h, self.rel_pos_w, (h, w))
        out = _attention_with_rel_pos(q, k, v, rel_h, rel_w, self.scale)
        return self.proj(out.transpose(1, 2).reshape(b, h, w, c))


def _attention_with_rel_pos(
    q: Tensor, k: Tensor, v: Tensor, rel_h: Tensor, rel_w: Tensor, scale: float
) -> Tensor:
    """softmax(scale * q k^T + rel_h[q, row(k)] + rel_w[q, col(k)]) v, in cache-sized pieces.

    Args:
        q, k, v: ``B x heads x N x d`` with ``N = H * W`` tokens in row-major order.
        rel_h: ``B x heads x H x W x H`` (query row, query col, key row); rel_w: ``B x heads x H x W x W``.
        scale: logit scale for ``q k^T`` (not applied to the relative terms).
    Returns:
        ``B x heads x N x d``.

    The relative-position bias is only ever built for a slice of at most :data:`_BIAS_BUDGET` elements:
    windows go a few at a time with all heads; a global block goes head by head and a few query rows at a
    time. Each slice is attended by :func:`_sdpa_with_bias`, except in reduced precision with heads of at
    least :data:`_MIN_GEMM_HEAD_DIM` channels, where :func:`_matmul_attention` is faster (ADR 0001 has the
    measurements behind both choices).
    """
    b, heads, n, _ = q.shape
    hh, ww = rel_h.shape[2], rel_h.shape[3]
    low_precision = q.dtype in (torch.bfloat16, torch.float16)
    attend = _matmul_attention if low_precision and q.shape[-1] >= _MIN_GEMM_HEAD_DIM else _sdpa_with_bias
    per_row = ww * n  # bias elements of one query row of the grid, one head
    out = torch.empty_like(q)
    if heads * hh * per_row <= _BIAS_BUDGET:
        step = max(1, _BIAS_BUDGET // (heads * hh * per_row))
        for s in range(0, b, step):
            e = min(b, s + step)
            out[s:e] = attend(q[s:e], k[s:e], v[s:e], rel_h[s:e], rel_w[s:e], scale)
        return out
    rows = max(1, _BIAS_BUDGET // per_row)
    for i in range(b):
        for h in range(heads):
            sl = (slice(i, i + 1), slice(h, h + 1))
            for r0 in range(0, hh, rows):
                r1 = min(hh, r0 + rows)
                qs = slice(r0 * ww, r1 * ww)
                out[sl][:, :, qs] = attend(
                    q[sl][:, :, qs], k[sl], v[sl], rel_h[sl][:, :, r0:r1], rel_w[sl][:, :, r0:r1], scale
                )
    return out


def _sdpa_with_bias(q: Tensor, k: Tensor, v: Tensor, rel_h: Tensor, rel_w: Tensor, scale: float) -> Tensor:
    """One slice through ``scaled_dot_product_attention`` with the bias as ``attn_mask`` (float32 path).

    ``q``: ``b x h x (R*W) x d`` (R query rows); ``k``, ``v``: ``b x h x N x d``;
    ``rel_h``: ``b x h x R x W x H``;
    ``rel_w``: ``b x h x R x W x W``. Returns ``b x h x (R*W) x d``.
    """
    b, heads, r, w, kh = rel_h.shape
    bias = (rel_h.unsqueeze(-1) + rel_w.unsqueeze(-2)).reshape(b, heads, r * w, kh * rel_w.shape[-1])
    return F.scaled_dot_product_attention(q, k, v, attn_mask=bias, scale=scale)


def _matmul_attention(q: Tensor, k: Tensor, v: Tensor, rel_h: Tensor, rel_w: Tensor, scale: float) -> Tensor:
    """The same slice with explicit matrix products (bfloat16 path): ``q k^T`` and ``P v`` run as bf16 GEMMs,
    which the CPU's bf16 dot-product units make much faster than SDPA's kernel; the bias and the softmax are
    computed in float32. Shapes as in :func:`_sdpa_with_bias`."""
    b, heads, r, w, kh = rel_h.shape
    kw = rel_w.shape[-1]
    logits = torch.matmul(q * scale, k.transpose(-2, -1)).float().view(b, heads, r, w, kh, kw)
    logits += rel_h.unsqueeze(-1).float()
    logits += rel_w.unsqueeze(-2).float()
    probs = torch.softmax(logits.view(b, heads, r * w, kh * kw), dim=-1)
    return torch.matmul(probs.to(q.dtype), v)


_MIN_GEMM_HEAD_DIM = 48
"""Head width from which bf16 GEMMs beat SDPA (ViT-B/L/H: 64/64/80 use them; a 24-wide test model not)."""

_BIAS_BUDGET = 1 << 21
"""Largest attention-bias slice built at once, in elements (8 MiB in float32): it stays in cache."""


def _decomposed_rel_pos(
    q: Tensor, rel_pos_h: Tensor, rel_pos_w: Tensor, size: tuple[int, int]
) -> tuple[Tensor, Tensor]:
    """The per-query relative-position logits along rows and columns.

    Args:
        q: ``B x heads x (H*W) x d`` unscaled queries.
        rel_pos_h / rel_pos_w: learned tables, resized to ``2H - 1`` / ``2W - 1`` rows when needed.
        size: ``(H, W)`` of the (square-symmetric) query and key grid.
    Returns:
        ``rel_h``: ``B x heads x H x W x H`` (query row, query col, key row), and
        ``rel_w``: ``B x heads x H x W x W`` (query row, query col, key col).
    """
    h, w = size
    b, heads, _, d = q.shape
    r_h = _get_rel_pos(h, h, rel_pos_h)  # H(q) x H(k) x d
    r_w = _get_rel_pos(w, w, rel_pos_w)  # W(q) x W(k) x d
    r_q = q.reshape(b, heads, h, w, d)
    rel_h = torch.einsum("bnhwc,hkc->bnhwk", r_q, r_h)
    rel_w = torch.einsum("bnhwc,wkc->bnhwk", r_q, r_w)
    return rel_h, rel_w


def _get_rel_pos(q_size: int, k_size: int, rel_pos: Tensor) -> Tensor:
    """Relative-position embeddings for every (query, key) pair along one axis.

    Args:
        q_size, k_size: number of query / key positions along the axis.
        rel_pos: ``L x d`` table; linearly resized to ``2 * max(q_size, k_size) - 1`` rows if ``L`` differs.
    Returns:
        ``q_size x k_size x d``.
    """
    max_rel_dist = 2 * max(q_size, k_size) - 1
    if rel_pos.shape[0] != max_rel_dist:
        resized = F.interpolate(rel_pos.t().unsqueeze(0), size=max_rel_dist, mode="linear")
        rel_pos = resized.squeeze(0).t()
    q_coords = torch.arange(q_size, device=rel_pos.device)[:, None] * max(k_size / q_size, 1.0)
    k_coords = torch.arange(k_size, device=rel_pos.device)[None, :] * max(q_size / k_size, 1.0)
    relative = (q_coords - k_coords) + (k_size - 1) * max(q_size / k_size, 1.0)
    return rel_pos[relative.long()]


def _window_partition(x: Tensor, window_size: int) -> tuple[Tensor, tuple[int, int]]:
    """Split ``B x H x W x C`` into ``(B * nW) x ws x ws x C`` windows, zero-padding bottom/right first.

    Returns the windows and the padded ``(Hp, Wp)``.
    """
    b, h, w, c = x.shape
    pad_h = (window_size - h % window_size) % window_size
    pad_w = (window_size - w % window_size) % window_size
    if pad_h or pad_w:
        x = F.pad(x, (0, 0, 0, pad_w, 0, pad_h))
    hp, wp = h + pad_h, w + pad_w
    x = x.view(b, hp // window_size, window_size, wp // window_size, window_size, c)
    windows = x.permute(0, 1, 3, 2, 4, 5).reshape(-1, window_size, window_size, c)
    return windows, (hp, wp)


def _window_unpartition(
    windows: Tensor, window_size: int, padded_hw: tuple[int, int], hw: tuple[int, int]
) -> Tensor:
    """Inverse of :func:`_window_partition`: ``(B * nW) x ws x ws x C`` -> ``B x H x W x C``, unpadded."""
    hp, wp = padded_hw
    h, w = hw
    b = windows.shape[0] // ((hp // window_size) * (wp // window_size))
    x = windows.view(b, hp // window_size, wp // window_size, window_size, window_size, -1)
    x = x.permute(0, 1, 3, 2, 4, 5).reshape(b, hp, wp, -1)
    return x[:, :h, :w, :] if (hp > h or wp > w) else x


__all__ = ["ImageEncoderViT"]
