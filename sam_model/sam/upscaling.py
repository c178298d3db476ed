"""The mask decoder's output upscaling and hypernetwork product, as matrix products on channels-last pixels.

A 2x2, stride-2 ``ConvTranspose2d`` is a per-pixel linear map to 4 sub-pixels, so both upscaling steps are
matrix products on the ``hw`` image tokens (the ``LayerNorm2d`` becomes a plain layer norm over the last axis),
and only the final ``K``-channel masks are rearranged into the ``4h x 4w`` image, by a gather with a
precomputed index (a fifth of the time of the 8-axis permuted copy it replaces). Same numbers as the
convolutions (float rounding aside).
"""

from __future__ import annotations

from typing import cast

import torch
from torch import Tensor, nn

from sam_model.sam.common import LayerNorm2d

UpscalingLayers = tuple[nn.ConvTranspose2d, LayerNorm2d, nn.Module, nn.ConvTranspose2d, nn.Module]


def upscaling_layers(output_upscaling: nn.Sequential) -> UpscalingLayers:
    """The five layers of a decoder's ``output_upscaling`` (up-conv, norm, activation, up-conv, activation)."""
    return cast(UpscalingLayers, tuple(output_upscaling))


def activate_(act: nn.Module, x: Tensor) -> Tensor:
    """``act(x)``; without autograd, GELU and ReLU run in place on ``x`` (a fresh tensor the caller owns): the
    same numbers, one large allocation fewer."""
    if not torch.is_grad_enabled():
        if type(act) is nn.GELU:
            return torch.ops.aten.gelu_(x, approximate=act.approximate)
        if type(act) is nn.ReLU:
            return torch.relu_(x)
    return act(x)


def subpixel_weight(conv: nn.ConvTranspose2d) -> tuple[Tensor, Tensor | None]:
    """A 2x2, stride-2 ``ConvTranspose2d`` as ``(weight Cin x 4Cout, bias 4Cout or None)``: sub-pixel
    ``(di, dj)`` of output channel ``co`` is column ``(2 di + dj) Cout + co``."""
    cin = conv.weight.shape[0]
    weight = conv.weight.permute(0, 2, 3, 1).reshape(cin, -1)
    return weight, None if conv.bias is None else conv.bias.repeat(4)


def _subpixel(x: Tensor, weight: Tensor, bias: Tensor | None, plus: Tensor | None) -> Tensor:
    """``B x P x Cin`` -> ``B x P x 4 x Cout``; ``plus`` (``1 x P x 4 x Cout`` or ``B x ...``) is added instead
    of the bias (it must already hold it), in the same matrix product."""
    b, p, cin = x.shape
    if plus is not None:
        addend = plus.reshape(plus.shape[0], p, -1).expand(b, -1, -1)
        out = torch.baddbmm(addend, x, weight.unsqueeze(0).expand(b, -1, -1))
    elif bias is None:
        out = x.reshape(b * p, cin) @ weight
    else:
        out = torch.addmm(bias, x.reshape(b * p, cin), weight)
    return out.view(b, p, 4, -1)


_SHUFFLE_CACHE: dict[tuple[int, int, int, torch.device], Tensor] = {}


def _shuffle_index(h: int, w: int, k: int, device: torch.device) -> Tensor:
    """For the ``16hw x K`` masks of one prompt, pixel index ``(i, j, di, dj, ei, ej)``: the flat source index of
    each element of the ``K x 4h x 4w`` image (row ``4i + 2di + ei``, column ``4j + 2dj + ej``)."""
    key = (h, w, k, device)
    index = _SHUFFLE_CACHE.get(key)
    if index is None:
        # a normal tensor even when first asked for under inference mode: autograd may save it later
        with torch.inference_mode(False):
            flat = torch.arange(16 * h * w * k, device=device).view(h, w, 2, 2, 2, 2, k)
            index = flat.permute(6, 0, 2, 4, 1, 3, 5).reshape(-1).contiguous()
        _SHUFFLE_CACHE[key] = index
    return index


def upscale_and_project(
    layers: UpscalingLayers,
    src_tokens: Tensor,
    hyper_in: Tensor,
    grid: tuple[int, int],
    *,
    high_res: tuple[Tensor, Tensor] | None = None,
    high_res_with_bias: bool = False,
) -> Tensor:
    """``output_upscaling`` then the hypernetwork product: ``B x hw x D`` image tokens, ``B x K x D/8``
    hypernetwork outputs -> ``B x K x 4h x 4w`` mask logits.

    ``high_res``: SAM 2's fine levels ``(s0 N x 4hw x 4 x D/8, s1 N x hw x 4 x D/4)`` in the sub-pixel layout
    (:meth:`~sam_model.sam2.mask_decoder.Sam2MaskDecoder.prepare_high_res`), added after the first / second
    product; ``high_res_with_bias``: they hold the convolutions' biases and are added inside the products.
    """
    up1, norm, act1, up2, act2 = layers
    w1, b1 = subpixel_weight(up1)
    w2, b2 = subpixel_weight(up2)
    folded = high_res is not None and high_res_with_bias
    if folded:
        b1 = b2 = None
    s0, s1 = (None, None) if high_res is None else high_res
    b, hw, _ = src_tokens.shape
    x = _subpixel(src_tokens, w1, b1, s1.to(src_tokens.dtype) if s1 is not None and folded else None)
    if s1 is not None and not folded:
        x = x + s1.to(x.dtype)
    x = activate_(act1, norm.forward_channels_last(x))  # B x hw x 4 x D/4
    x = _subpixel(x.reshape(b, 4 * hw, -1), w2, b2, s0.to(x.dtype) if s0 is not None and folded else None)
    if s0 is not None and not folded:
        x = x + s0.to(x.dtype)
    x = activate_(act2, x)  # B x 4hw x 4 x D/8
    masks = torch.bmm(x.reshape(b, 16 * hw, -1), hyper_in.transpose(1, 2).to(x.dtype))  # B x 16hw x K
    k = masks.shape[-1]
    h, w = grid
    index = _shuffle_index(h, w, k, masks.device)
    return torch.index_select(masks.reshape(b, -1), 1, index).view(b, k, 4 * h, 4 * w)
