"""The decoder's first two-way block with its image side computed once per image (:class:`ImageKeys`).

Without a mask prompt the dense prompt embedding is the constant ``no_mask_embed``, so what the first block of
:class:`~sam_model.sam.transformer.TwoWayTransformer` reads from the image (the image tokens, their positional
encoding and the projections of both cross-attentions on that side) is the same for every click on an image. A
predictor computes it once (:func:`prepare_image_keys`, about 0.4 GMAC for SAM's ``64 x 64 x 256`` grid) and
:func:`run_first_block` then projects only the prompt tokens: the token-to-image attention costs
``O(heads Nq hw d)`` instead of ``O(hw D d_int)``, and the image-to-token attention no longer projects the
image queries. Same arithmetic as the block's ``forward`` (float rounding aside, about 1e-6).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

import torch
from torch import Tensor

if TYPE_CHECKING:
    from sam_model.sam.prompt_encoder import PromptEncoder
    from sam_model.sam.transformer import Attention, TwoWayTransformer, _TwoWayAttentionBlock


@dataclass(frozen=True, eq=False)
class ImageKeys:
    """Image-constant inputs of the first block for one image (batch 1, broadcast over the prompts).

    Attributes:
        keys: ``1 x hw x D`` image tokens (image embedding + ``no_mask_embed``).
        key_pe: ``1 x hw x D`` positional encoding of the grid, token layout.
        k: ``1 x hw x D``, ``keys + key_pe`` (the keys of both cross-attentions of the first block).
        t2i_k: ``heads x d x hw`` projected keys of the token-to-image attention, times ``d ** -0.5``;
            t2i_v: ``heads x hw x d`` its projected values.
        i2t_q: ``heads x d x hw`` projected queries of the image-to-token attention, times ``d ** -0.5``.
        grid: ``(h, w)`` of the embedding grid.
    """

    keys: Tensor
    key_pe: Tensor
    k: Tensor
    t2i_k: Tensor
    t2i_v: Tensor
    i2t_q: Tensor
    grid: tuple[int, int]


def first_layer(transformer: TwoWayTransformer) -> _TwoWayAttentionBlock:
    """The transformer's first two-way block (typed)."""
    return cast("_TwoWayAttentionBlock", transformer.layers[0])


def _heads(attn: Attention, x: Tensor) -> Tensor:
    """``1 x n x d_int`` -> ``heads x n x d`` (contiguous)."""
    n = x.shape[1]
    return x.view(n, attn.num_heads, -1).transpose(0, 1).contiguous()


def prepare_image_keys(transformer: TwoWayTransformer, src: Tensor, image_pe: Tensor) -> ImageKeys:
    """The first block's image side for ``src`` (``1 x D x h x w``: image embedding plus the no-mask dense
    embedding) and ``image_pe`` (``1 x D x h x w``). Run it under the precision the decoder will run in."""
    if src.shape[0] != 1 or image_pe.shape[0] != 1:
        raise ValueError(
            f"image keys are computed for one image, got batches {src.shape[0]}, {image_pe.shape[0]}"
        )
    block = first_layer(transformer)
    t2i, i2t = block.cross_attn_token_to_image, block.cross_attn_image_to_token
    keys = src.flatten(2).transpose(1, 2).contiguous()
    key_pe = image_pe.flatten(2).transpose(1, 2).contiguous()
    k = keys + key_pe
    head_dim = i2t.internal_dim // i2t.num_heads
    return ImageKeys(
        keys=keys,
        key_pe=key_pe,
        k=k,
        t2i_k=(_heads(t2i, t2i.k_proj(k)) * (t2i.internal_dim // t2i.num_heads) ** -0.5)
        .transpose(1, 2)
        .contiguous(),
        t2i_v=_heads(t2i, t2i.v_proj(keys)),
        i2t_q=(_heads(i2t, i2t.q_proj(k)) * head_dim**-0.5).transpose(1, 2).contiguous(),
        grid=(int(src.shape[-2]), int(src.shape[-1])),
    )


def _token_to_image(attn: Attention, q: Tensor, image: ImageKeys) -> Tensor:
    """Prompt tokens ``B x Nq x D`` attending to the cached image keys / values -> ``B x Nq x D``."""
    b, nq, _ = q.shape
    heads = attn.num_heads
    # All prompts' queries in one sequence: the keys and values are shared.
    qh = attn.q_proj(q).view(b * nq, heads, -1).transpose(0, 1)  # h x B*Nq x d
    probs = torch.softmax(torch.bmm(qh, image.t2i_k), dim=-1)  # h x B*Nq x hw
    out = torch.bmm(probs, image.t2i_v)  # h x B*Nq x d
    return attn.out_proj(out.transpose(0, 1).reshape(b, nq, attn.internal_dim))


def _image_to_token(attn: Attention, k: Tensor, v: Tensor, image: ImageKeys) -> Tensor:
    """The cached image queries attending to the prompt tokens (keys ``k``, values ``v``: ``B x Nk x D``),
    plus the residual ``image.keys`` -> ``B x hw x D``; the output projection is applied to the ``Nk`` values
    before mixing, and the residual and the output bias are added inside the same matrix product."""
    b, nk, _ = k.shape
    heads, hw = attn.num_heads, image.i2t_q.shape[2]
    kh = attn.k_proj(k).view(b * nk, heads, -1).transpose(0, 1)  # h x B*Nk x d
    # keys-first logits (h x B*Nk x hw), so that the softmax over the few keys runs along a long axis
    logits = torch.bmm(kh, image.i2t_q).view(heads, b, nk, hw)
    probs = torch.softmax(logits, dim=2).transpose(0, 1).reshape(b, heads * nk, hw)
    v_out = attn.values_out(attn.v_proj(v))  # B x hNk x D
    return torch.baddbmm(image.keys.expand(b, -1, -1), probs.transpose(1, 2), v_out)


def run_first_block(
    block: _TwoWayAttentionBlock, queries: Tensor, query_pe: Tensor, image: ImageKeys
) -> tuple[Tensor, Tensor]:
    """The first block's ``forward`` with the image side from ``image``: queries ``B x T x D`` (with their
    positional encoding ``query_pe``) -> updated queries ``B x T x D`` and image tokens ``B x hw x D``."""
    if block.skip_first_layer_pe:
        queries = block.self_attn(queries, queries, queries)
    else:
        q = queries + query_pe
        queries = queries + block.self_attn(q, q, queries)
    queries = block.norm1(queries)
    q = queries + query_pe
    queries = block.norm2(queries + _token_to_image(block.cross_attn_token_to_image, q, image))
    queries = block.norm3(queries + block.mlp(queries))
    q = queries + query_pe
    keys = block.norm4(_image_to_token(block.cross_attn_image_to_token, q, queries, image))
    return queries, keys


class ImageKeysCache:
    """Holds one image's :class:`ImageKeys` for a predictor; recomputed when the features tensor, the weights
    it depends on (their storage or version) or the decoder precision change."""

    def __init__(self) -> None:
        self._features: Tensor | None = None
        self._stamp: tuple[object, ...] = ()
        self._value: ImageKeys | None = None

    def clear(self) -> None:
        """Forget the cached image (a new image was set)."""
        self._features, self._stamp, self._value = None, (), None

    def get(
        self,
        transformer: TwoWayTransformer,
        prompt_encoder: PromptEncoder,
        features: Tensor,
        mask_input: Tensor | None,
        dtype: torch.dtype,
    ) -> ImageKeys | None:
        """The image keys of ``features`` (``1 x D x h x w``) for prompts without a mask (``mask_input is None``;
        with one: ``None``, the plain path), from ``prompt_encoder``'s no-mask embedding and grid encoding.
        Call it under the decoder's precision; ``dtype`` (that precision) is part of the cache key."""
        if mask_input is not None:
            return None
        image_pe, no_mask = prompt_encoder.get_dense_pe(), prompt_encoder.no_mask_embed.weight
        block = first_layer(transformer)
        t2i, i2t = block.cross_attn_token_to_image, block.cross_attn_image_to_token
        tensors: list[Tensor] = [image_pe, no_mask, features, i2t.q_proj.weight, i2t.q_proj.bias]
        tensors += [t2i.k_proj.weight, t2i.k_proj.bias, t2i.v_proj.weight, t2i.v_proj.bias]
        stamp = (dtype, *(tensor_stamp(t) for t in tensors))
        if self._value is None or self._features is not features or self._stamp != stamp:
            src = features + no_mask.reshape(1, -1, 1, 1).to(features.dtype)
            self._value = prepare_image_keys(transformer, src, image_pe)
            self._features, self._stamp = features, stamp
        return self._value


def tensor_stamp(t: Tensor) -> tuple[object, ...]:
    """What identifies a tensor's current values cheaply: storage, version (inference tensors have none),
    dtype, device."""
    return (t.data_ptr(), None if t.is_inference() else t._version, t.dtype, t.device)
