"""The click's fast paths give the plain arithmetic's numbers (float rounding aside), on small random modules:

- the final attention run for some output tokens only (``final_rows``; a multimask decode skips the prompt
  tokens and the single-mask token);
- the image-to-token attention with its residual and output bias inside its matrix product;
- the output upscaling as matrix products with the masks gathered into place, against the convolutions, with a
  non-square grid, a batch and fewer mask tokens than the decoder has (``first_token``).
"""

from __future__ import annotations

import pytest
import torch

from sam_model.sam.mask_decoder import MaskDecoder
from sam_model.sam.transformer import Attention, TwoWayTransformer
from sam_model.sam.upscaling import upscale_and_project, upscaling_layers

TOL = 1e-5


def _randomise(module: torch.nn.Module) -> torch.nn.Module:
    """Perturb every parameter (zero biases and unit norms would hide a dropped term)."""
    with torch.no_grad():
        for p in module.parameters():
            p.add_(torch.randn_like(p) * 0.2)
    return module.eval()


def _decoder(dim: int = 32) -> MaskDecoder:
    torch.manual_seed(0)
    transformer = TwoWayTransformer(depth=2, embedding_dim=dim, num_heads=2, mlp_dim=64)
    return _randomise(MaskDecoder(transformer_dim=dim, transformer=transformer))  # type: ignore[return-value]


def test_final_rows_are_the_same_rows_of_the_full_run() -> None:
    decoder = _decoder()
    b, h, w, dim = 2, 6, 5, 32
    image, pe = torch.randn(b, dim, h, w), torch.randn(1, dim, h, w)
    tokens = torch.randn(b, 7, dim)
    with torch.inference_mode():
        full, keys = decoder.transformer(image, pe.expand(b, -1, -1, -1), tokens)
        rows = [0, 2, 3, 4]
        part, part_keys = decoder.transformer(image, pe.expand(b, -1, -1, -1), tokens, final_rows=rows)
    assert part.shape == (b, 4, dim)
    assert (part - full[:, rows]).abs().max() <= TOL
    assert torch.equal(part_keys, keys)


def test_multimask_only_tokens_give_the_multimask_outputs() -> None:
    """``predict_tokens(multimask_only=True)`` + ``masks_from_tokens(first_token=1)`` equal the plain
    decoder's three multimask masks and scores."""
    decoder = _decoder()
    b, h, w, dim = 2, 4, 4, 32
    image, pe = torch.randn(1, dim, h, w), torch.randn(1, dim, h, w)
    sparse, dense = torch.randn(b, 2, dim), torch.randn(b, dim, h, w)
    with torch.inference_mode():
        plain_masks, plain_iou = decoder(image, pe, sparse, dense, True)
        iou, tokens, src, grid = decoder.predict_tokens(image, pe, sparse, dense, multimask_only=True)
        masks = decoder.masks_from_tokens(tokens, src, grid, first_token=1)
    assert tokens.shape == (b, 3, dim) and masks.shape == plain_masks.shape == (b, 3, 4 * h, 4 * w)
    assert (masks - plain_masks).abs().max() <= TOL
    assert (iou[:, 1:] - plain_iou).abs().max() <= TOL


@pytest.mark.parametrize("batch", [1, 3])
def test_image_to_token_residual_inside_the_product(batch: int) -> None:
    torch.manual_seed(1)
    attn = _randomise(Attention(embedding_dim=32, num_heads=4, downsample_rate=2))
    image, tokens = torch.randn(batch, 200, 32), torch.randn(batch, 3, 32)
    residual = torch.randn(batch, 200, 32)
    with torch.inference_mode():
        plain = _plain_attention(attn, image, tokens, tokens)
        fused = attn(image, tokens, tokens, residual=residual)
        without = attn(image, tokens, tokens)
    assert (without - plain).abs().max() <= TOL
    assert (fused - (residual + plain)).abs().max() <= TOL


def _plain_attention(attn: Attention, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Upstream's arithmetic: project, split heads, softmax, recombine, project out."""
    heads = attn.num_heads

    def split(x: torch.Tensor) -> torch.Tensor:
        return x.view(x.shape[0], x.shape[1], heads, -1).transpose(1, 2)

    qh, kh, vh = split(attn.q_proj(q)), split(attn.k_proj(k)), split(attn.v_proj(v))
    weights = torch.softmax(qh @ kh.transpose(-2, -1) / qh.shape[-1] ** 0.5, dim=-1)
    out = (weights @ vh).transpose(1, 2).reshape(q.shape[0], q.shape[1], -1)
    return attn.out_proj(out)


def test_upscale_and_project_equals_the_convolutions() -> None:
    decoder = _decoder()
    b, h, w, dim = 2, 3, 5, 32
    src_tokens = torch.randn(b, h * w, dim)
    hyper_in = torch.randn(b, 3, dim // 8)
    with torch.inference_mode():
        got = upscale_and_project(upscaling_layers(decoder.output_upscaling), src_tokens, hyper_in, (h, w))
        up = decoder.output_upscaling(src_tokens.transpose(1, 2).reshape(b, dim, h, w))  # B x D/8 x 4h x 4w
        want = torch.einsum("bkc,bchw->bkhw", hyper_in, up)
    assert got.shape == (b, 3, 4 * h, 4 * w)
    assert (got - want).abs().max() <= TOL * max(1.0, want.abs().max().item())


def test_gather_index_first_made_under_inference_mode_serves_autograd() -> None:
    """The cached gather index is a normal tensor: a decode with autograd after a click still runs."""
    decoder = _decoder()
    layers = upscaling_layers(decoder.output_upscaling)
    src_tokens, hyper_in = torch.randn(1, 2 * 7, 32), torch.randn(1, 2, 4)  # a grid no other test uses
    with torch.inference_mode():
        upscale_and_project(layers, src_tokens, hyper_in, (2, 7))
    out = upscale_and_project(layers, src_tokens, hyper_in, (2, 7))
    out.sum().backward()
    assert decoder.output_upscaling[0].weight.grad is not None


def test_batched_hypernetworks_equal_the_mlps_and_follow_the_weights() -> None:
    decoder = _decoder()
    tokens = torch.randn(2, 3, 32)

    def one_by_one() -> torch.Tensor:
        mlps = list(decoder.output_hypernetworks_mlps)[1:]
        return torch.stack([mlp(tokens[:, i]) for i, mlp in enumerate(mlps)], dim=1)

    with torch.inference_mode():
        batched = decoder.hypernetworks(tokens, first_token=1)
        assert batched.shape == (2, 3, 4)
        assert (batched - one_by_one()).abs().max() <= TOL
    with torch.no_grad():  # new weights in place: the stacked copy must not go stale
        decoder.output_hypernetworks_mlps[2].layers[0].weight.mul_(-1.5)
    with torch.inference_mode():
        assert (decoder.hypernetworks(tokens, first_token=1) - one_by_one()).abs().max() <= TOL
