"""The mask decoder: a two-way transformer over image and prompt tokens, then hypernetwork mask heads."""

from __future__ import annotations

from typing import cast

import torch
from torch import Tensor, nn

from sam_model.sam.common import MLP, LayerNorm2d
from sam_model.sam.first_block import ImageKeys, tensor_stamp
from sam_model.sam.transformer import TwoWayTransformer
from sam_model.sam.upscaling import upscale_and_project, upscaling_layers


class MaskDecoder(nn.Module):
    """Predicts masks and their IoU from an image embedding and prompt embeddings.

    Args:
        transformer_dim: channel width ``D`` (256).
        transformer: the :class:`TwoWayTransformer`.
        num_multimask_outputs: masks in multimask mode (3); one more token gives the single-mask output.
        iou_head_depth / iou_head_hidden_dim: the IoU prediction MLP.
    """

    def __init__(
        self,
        *,
        transformer_dim: int,
        transformer: TwoWayTransformer,
        num_multimask_outputs: int = 3,
        activation: type[nn.Module] = nn.GELU,
        iou_head_depth: int = 3,
        iou_head_hidden_dim: int = 256,
    ) -> None:
        super().__init__()
        self.transformer_dim = transformer_dim
        self.transformer = transformer
        self.num_multimask_outputs = num_multimask_outputs
        self.num_mask_tokens = num_multimask_outputs + 1
        self.iou_token = nn.Embedding(1, transformer_dim)
        self.mask_tokens = nn.Embedding(self.num_mask_tokens, transformer_dim)
        self.output_upscaling = nn.Sequential(
            nn.ConvTranspose2d(transformer_dim, transformer_dim // 4, kernel_size=2, stride=2),
            LayerNorm2d(transformer_dim // 4),
            activation(),
            nn.ConvTranspose2d(transformer_dim // 4, transformer_dim // 8, kernel_size=2, stride=2),
            activation(),
        )
        self.output_hypernetworks_mlps = nn.ModuleList(
            MLP(
                input_dim=transformer_dim,
                hidden_dim=transformer_dim,
                output_dim=transformer_dim // 8,
                num_layers=3,
            )
            for _ in range(self.num_mask_tokens)
        )
        self.iou_prediction_head = MLP(
            input_dim=transformer_dim,
            hidden_dim=iou_head_hidden_dim,
            output_dim=self.num_mask_tokens,
            num_layers=iou_head_depth,
        )

    def forward(
        self,
        image_embeddings: Tensor,
        image_pe: Tensor,
        sparse_prompt_embeddings: Tensor,
        dense_prompt_embeddings: Tensor,
        multimask_output: bool,
        *,
        attn_sim: Tensor | None = None,
        target_embedding: Tensor | None = None,
    ) -> tuple[Tensor, Tensor]:
        """Decode masks.

        Args:
            image_embeddings: ``1 x D x h x w`` (shared by all prompts) or ``B x D x h x w``.
            image_pe: ``1 x D x h x w`` positional encoding of the grid.
            sparse_prompt_embeddings: ``B x M x D``. dense_prompt_embeddings: ``B x D x h x w``.
            multimask_output: return the 3 multimask outputs instead of the single-mask one.
            attn_sim / target_embedding: PerSAM options (see :meth:`TwoWayTransformer.forward`); ``None``:
                plain SAM.
        Returns:
            low-res mask logits ``B x C x 4h x 4w`` and predicted IoU ``B x C`` (``C`` = 3 or 1).
        """
        iou_pred, mask_tokens_out, src_tokens, grid = self.predict_tokens(
            image_embeddings,
            image_pe,
            sparse_prompt_embeddings,
            dense_prompt_embeddings,
            attn_sim=attn_sim,
            target_embedding=target_embedding,
        )
        masks = self.masks_from_tokens(mask_tokens_out, src_tokens, grid)
        sel = slice(1, None) if multimask_output else slice(0, 1)
        return masks[:, sel], iou_pred[:, sel]

    def _upscale_and_project(self, src_tokens: Tensor, hyper_in: Tensor, grid: tuple[int, int]) -> Tensor:
        """``output_upscaling`` then the hypernetwork product (:func:`~sam_model.sam.upscaling.upscale_and_project`).

        Args:
            src_tokens: ``B x hw x D`` image tokens from the transformer; hyper_in: ``B x K x D/8``.
        Returns:
            ``B x K x 4h x 4w`` mask logits (equal to upstream's conv path up to float rounding).
        """
        return upscale_and_project(upscaling_layers(self.output_upscaling), src_tokens, hyper_in, grid)

    _token_offset = 0
    """Output tokens before the IoU token (SAM 2 puts its object-score token first)."""

    def _output_tokens(self) -> Tensor:
        """``1 + K`` learned output tokens ``(1 + K) x D``: IoU, masks."""
        return torch.cat([self.iou_token.weight, self.mask_tokens.weight], dim=0)

    def run_transformer(
        self,
        image_embeddings: Tensor,
        image_pe: Tensor,
        sparse_prompt_embeddings: Tensor,
        dense_prompt_embeddings: Tensor,
        *,
        attn_sim: Tensor | None = None,
        target_embedding: Tensor | None = None,
        image_keys: ImageKeys | None = None,
        final_rows: list[int] | None = None,
    ) -> tuple[Tensor, Tensor, tuple[int, int]]:
        """The two-way transformer: output tokens ``B x T x D``, image tokens ``B x hw x D``, grid ``(h, w)``.

        ``image_keys``: :func:`~sam_model.sam.first_block.prepare_image_keys` of ``image_embeddings`` plus the
        no-mask dense embedding; when given (and no PerSAM option), the image tensors and ``dense_prompt_embeddings``
        are not read. ``final_rows``: only these output tokens, in this order (see :class:`TwoWayTransformer`).
        """
        b = sparse_prompt_embeddings.shape[0]
        output_tokens = (
            self._output_tokens().unsqueeze(0).expand(b, -1, -1).to(sparse_prompt_embeddings.dtype)
        )
        tokens = torch.cat([output_tokens, sparse_prompt_embeddings], dim=1)
        if image_keys is not None and attn_sim is None and target_embedding is None:
            hs, src_tokens = self.transformer(
                image_embeddings, image_pe, tokens, image_keys=image_keys, final_rows=final_rows
            )
            return hs, src_tokens, image_keys.grid

        if image_embeddings.shape[0] not in (1, b):
            raise ValueError(f"image embeddings batch {image_embeddings.shape[0]} does not match prompts {b}")
        src = image_embeddings + dense_prompt_embeddings  # broadcasts a single image over the prompt batch
        if src.shape[0] != b:
            src = src.expand(b, -1, -1, -1)
        pos_src = image_pe.expand(b, -1, -1, -1)
        h, w = src.shape[-2:]

        hs, src_tokens = self.transformer(
            src,
            pos_src,
            tokens,
            attn_sim=attn_sim,
            target_embedding=target_embedding,
            final_rows=final_rows,
        )
        return hs, src_tokens, (int(h), int(w))

    def predict_tokens(
        self,
        image_embeddings: Tensor,
        image_pe: Tensor,
        sparse_prompt_embeddings: Tensor,
        dense_prompt_embeddings: Tensor,
        *,
        attn_sim: Tensor | None = None,
        target_embedding: Tensor | None = None,
        image_keys: ImageKeys | None = None,
        multimask_only: bool = False,
    ) -> tuple[Tensor, Tensor, Tensor, tuple[int, int]]:
        """The two-way transformer and the IoU head: everything but the masks.

        Callers that drop candidates by predicted IoU (the automatic mask generator) call
        :meth:`masks_from_tokens` only for the prompts they keep; :meth:`forward` runs both. ``image_keys``: see
        :meth:`run_transformer`. ``multimask_only``: the caller wants the multimask outputs alone; the final
        attention then runs for the IoU token and mask tokens ``1..K-1`` only, and only those mask tokens are
        returned (pass ``first_token=1`` to :meth:`masks_from_tokens`).

        Returns:
            IoU predictions ``B x K``, mask tokens ``B x K x D`` (``B x (K-1) x D`` with ``multimask_only``),
            image tokens ``B x hw x D``, grid ``(h, w)``.
        """
        s = self._token_offset
        rows = [s, *range(s + 2, s + 1 + self.num_mask_tokens)] if multimask_only else None
        hs, src_tokens, grid = self.run_transformer(
            image_embeddings,
            image_pe,
            sparse_prompt_embeddings,
            dense_prompt_embeddings,
            attn_sim=attn_sim,
            target_embedding=target_embedding,
            image_keys=image_keys,
            final_rows=rows,
        )
        if rows is not None:
            return self.iou_prediction_head(hs[:, 0, :]), hs[:, 1:, :], src_tokens, grid
        iou_pred = self.iou_prediction_head(hs[:, s, :])
        return iou_pred, hs[:, s + 1 : s + 1 + self.num_mask_tokens, :], src_tokens, grid

    def masks_from_tokens(
        self, mask_tokens_out: Tensor, src_tokens: Tensor, grid: tuple[int, int], *, first_token: int = 0
    ) -> Tensor:
        """Hypernetwork heads + upscaling: mask tokens ``B x K' x D`` (tokens ``first_token ..`` of the ``K``)
        and image tokens ``B x hw x D`` -> ``B x K' x 4h x 4w`` low-res mask logits."""
        return self._upscale_and_project(src_tokens, self.hypernetworks(mask_tokens_out, first_token), grid)

    def hypernetworks(self, mask_tokens_out: Tensor, first_token: int = 0) -> Tensor:
        """Mask tokens ``B x K' x D`` (tokens ``first_token ..``) -> their hypernetwork outputs ``B x K' x D/8``.

        Without autograd, the ``K'`` MLPs run as one batched product per layer, on weights stacked once and
        kept while they are unchanged (:meth:`_stacked_hypernetworks`): the same arithmetic in a quarter of the
        calls.
        """
        count = mask_tokens_out.shape[1]
        mlps = list(self.output_hypernetworks_mlps)[first_token : first_token + count]
        if torch.is_grad_enabled() or count < 2 or any(m.sigmoid_output for m in mlps):
            return torch.stack([mlp(mask_tokens_out[:, i, :]) for i, mlp in enumerate(mlps)], dim=1)
        layers = self._stacked_hypernetworks(first_token, count)
        x = mask_tokens_out.transpose(0, 1)  # K' x B x D
        for i, (weight, bias) in enumerate(layers):
            x = torch.baddbmm(bias, x, weight)
            if i < len(layers) - 1:
                x = torch.relu_(x)
        return x.transpose(0, 1)

    def _stacked_hypernetworks(self, first_token: int, count: int) -> list[tuple[Tensor, Tensor]]:
        """Per layer of hypernetworks ``first_token .. first_token + count``: ``(weights K' x in x out,
        biases K' x 1 x out)``, cached under the weights' storage, version, dtype and device."""
        mlps = list(self.output_hypernetworks_mlps)[first_token : first_token + count]
        linears = [list(cast(MLP, mlp).layers) for mlp in mlps]
        stamp = (
            first_token,
            count,
            *(tensor_stamp(p) for layer in linears for lin in layer for p in lin.parameters()),
        )
        cached = self.__dict__.get("_hyper_cache")
        if cached is None or cached[0] != stamp:
            with torch.no_grad():
                layers = [
                    (
                        torch.stack([cast(nn.Linear, per[j]).weight.t() for per in linears]),
                        torch.stack([cast(nn.Linear, per[j]).bias for per in linears]).unsqueeze(1),
                    )
                    for j in range(len(linears[0]))
                ]
            cached = (stamp, layers)
            self.__dict__["_hyper_cache"] = cached
        return cached[1]
