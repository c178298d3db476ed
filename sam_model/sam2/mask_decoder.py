"""SAM 2's mask decoder: SAM's two-way decoder plus high-resolution features, an object-score head, a sigmoid
IoU head and the stability-based choice of the single-mask output."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from sam_model.sam.common import MLP
from sam_model.sam.mask_decoder import MaskDecoder
from sam_model.sam.transformer import TwoWayTransformer
from sam_model.sam.upscaling import upscale_and_project, upscaling_layers

HighRes = tuple[Tensor, Tensor]
"""The two finer FPN levels after ``conv_s0`` / ``conv_s1``, in the decoder's sub-pixel layout
(see :meth:`Sam2MaskDecoder.prepare_high_res`)."""


class Sam2MaskDecoder(MaskDecoder):
    """SAM's :class:`MaskDecoder` with SAM 2's additions (state-dict keys as upstream's ``sam_mask_decoder``).

    Args:
        transformer_dim / transformer / num_multimask_outputs / iou_head_depth / iou_head_hidden_dim: as SAM's.
        use_high_res_features: ``conv_s0`` (``D -> D/8``) and ``conv_s1`` (``D -> D/4``) project the 4x and 2x
            finer FPN levels, which are added after the first and the second upscaling step.
        iou_prediction_use_sigmoid: the IoU head ends in a sigmoid.
        pred_obj_scores: an object-score token (first of the output tokens) and ``pred_obj_score_head``, a
            3-layer MLP with ``pred_obj_scores_mlp`` else a linear layer, giving an object-presence logit.
        dynamic_multimask_via_stability: single-mask output keeps token 0's mask only if its stability score
            (area above ``+delta`` over area above ``-delta``) is at least ``stability_thresh``; otherwise it
            takes the multimask candidate with the highest predicted IoU.
    """

    def __init__(
        self,
        *,
        transformer_dim: int,
        transformer: TwoWayTransformer,
        num_multimask_outputs: int = 3,
        iou_head_depth: int = 3,
        iou_head_hidden_dim: int = 256,
        use_high_res_features: bool = False,
        iou_prediction_use_sigmoid: bool = False,
        pred_obj_scores: bool = False,
        pred_obj_scores_mlp: bool = False,
        dynamic_multimask_via_stability: bool = False,
        dynamic_multimask_stability_delta: float = 0.05,
        dynamic_multimask_stability_thresh: float = 0.98,
    ) -> None:
        super().__init__(
            transformer_dim=transformer_dim,
            transformer=transformer,
            num_multimask_outputs=num_multimask_outputs,
            iou_head_depth=iou_head_depth,
            iou_head_hidden_dim=iou_head_hidden_dim,
        )
        self.iou_prediction_head.sigmoid_output = iou_prediction_use_sigmoid
        self.pred_obj_scores = pred_obj_scores
        if pred_obj_scores:
            self.obj_score_token = nn.Embedding(1, transformer_dim)
            self.pred_obj_score_head: nn.Module = (
                MLP(input_dim=transformer_dim, hidden_dim=transformer_dim, output_dim=1, num_layers=3)
                if pred_obj_scores_mlp
                else nn.Linear(transformer_dim, 1)
            )
        self.use_high_res_features = use_high_res_features
        if use_high_res_features:
            self.conv_s0 = nn.Conv2d(transformer_dim, transformer_dim // 8, kernel_size=1)
            self.conv_s1 = nn.Conv2d(transformer_dim, transformer_dim // 4, kernel_size=1)
        self.dynamic_multimask_via_stability = dynamic_multimask_via_stability
        self.stability_delta = dynamic_multimask_stability_delta
        self.stability_thresh = dynamic_multimask_stability_thresh

    # --- full decode ---

    def forward(
        self,
        image_embeddings: Tensor,
        image_pe: Tensor,
        sparse_prompt_embeddings: Tensor,
        dense_prompt_embeddings: Tensor,
        multimask_output: bool,
        *,
        high_res: HighRes | None = None,
        attn_sim: Tensor | None = None,
        target_embedding: Tensor | None = None,
    ) -> tuple[Tensor, Tensor]:
        """Decode masks (upstream's output selection, the object score aside: see :meth:`object_scores`).

        Args:
            image_embeddings: ``1 x D x h x w`` (shared by all prompts) or ``B x D x h x w``.
            image_pe: ``1 x D x h x w``. sparse_prompt_embeddings: ``B x M x D``; dense: ``B x D x h x w``.
            multimask_output: the 3 multimask candidates; else one mask (chosen by stability when enabled).
            high_res: from :meth:`prepare_high_res`; required with ``use_high_res_features``.
            attn_sim / target_embedding: PerSAM options of the two-way transformer (``None``: plain decoding).
        Returns:
            low-res mask logits ``B x C x 4h x 4w`` and predicted IoU ``B x C`` (``C`` = 3 or 1).
        """
        iou_pred, mask_tokens, src_tokens, grid = self.predict_tokens(
            image_embeddings,
            image_pe,
            sparse_prompt_embeddings,
            dense_prompt_embeddings,
            attn_sim=attn_sim,
            target_embedding=target_embedding,
        )
        masks = self.masks_from_tokens(mask_tokens, src_tokens, grid, high_res=high_res)
        return self.select_outputs(masks, iou_pred, multimask_output)

    def select_outputs(
        self, masks: Tensor, iou_pred: Tensor, multimask_output: bool
    ) -> tuple[Tensor, Tensor]:
        """From all ``K`` outputs (``B x K x H x W``, ``B x K``) to the ``C`` returned ones (as upstream)."""
        if multimask_output:
            return masks[:, 1:], iou_pred[:, 1:]
        if not self.dynamic_multimask_via_stability or self.training:
            return masks[:, :1], iou_pred[:, :1]
        best = iou_pred[:, 1:].argmax(dim=-1) + 1  # B
        rows = torch.arange(masks.shape[0], device=masks.device)
        single = masks[:, 0].flatten(1)
        area_i = (single > self.stability_delta).sum(dim=-1).float()
        area_u = (single > -self.stability_delta).sum(dim=-1).float()
        stability = torch.where(area_u > 0, area_i / area_u.clamp(min=1.0), 1.0)
        pick = torch.where(stability >= self.stability_thresh, torch.zeros_like(best), best)
        return masks[rows, pick].unsqueeze(1), iou_pred[rows, pick].unsqueeze(1)

    # --- stages ---

    def _output_tokens(self) -> Tensor:
        """``(1 +) 1 + K`` learned output tokens: [object score,] IoU, masks."""
        parts = [self.iou_token.weight, self.mask_tokens.weight]
        if self.pred_obj_scores:
            parts.insert(0, self.obj_score_token.weight)
        return torch.cat(parts, dim=0)

    @property
    def _token_offset(self) -> int:  # type: ignore[override]
        """The object-score token, when there is one, comes before the IoU token."""
        return 1 if self.pred_obj_scores else 0

    def object_scores(self, hs: Tensor) -> Tensor:
        """Object-presence logits ``B x 1`` from :meth:`run_transformer`'s output tokens (upstream: ``+10``,
        i.e. always present, without an object-score head)."""
        if not self.pred_obj_scores:
            return hs.new_full((hs.shape[0], 1), 10.0)
        return self.pred_obj_score_head(hs[:, 0])

    def prepare_high_res(self, feat_s0: Tensor, feat_s1: Tensor, *, with_bias: bool = False) -> HighRes:
        """Reorder the projected fine levels to the sub-pixel layout :meth:`masks_from_tokens` adds them in.

        ``with_bias``: add the biases of the two upscaling convolutions (``s1`` gets the first's, ``s0`` the
        second's), for ``masks_from_tokens(..., high_res_with_bias=True)``, which then adds each level inside
        its matrix product: image-constant work done once per image.

        Args:
            feat_s0: ``N x D/8 x 4h x 4w`` (after ``conv_s0``); feat_s1: ``N x D/4 x 2h x 2w`` (after ``conv_s1``).
        Returns:
            ``(s0 N x 4hw x 4 x D/8, s1 N x hw x 4 x D/4)``: pixel ``(4i + 2di + ei, 4j + 2dj + ej)`` of ``s0`` at
            ``[(i w + j) 4 + 2di + dj, 2ei + ej]``, pixel ``(2i + di, 2j + dj)`` of ``s1`` at ``[i w + j, 2di + dj]``.
        """
        n, c1, h2, w2 = feat_s1.shape
        h, w = h2 // 2, w2 // 2
        s1 = feat_s1.view(n, c1, h, 2, w, 2).permute(0, 2, 4, 3, 5, 1).reshape(n, h * w, 4, c1)
        c0 = feat_s0.shape[1]
        s0 = feat_s0.view(n, c0, h, 2, 2, w, 2, 2).permute(0, 2, 5, 3, 6, 4, 7, 1)
        s0 = s0.reshape(n, h * w * 4, 4, c0)
        up1, _, _, up2, _ = upscaling_layers(self.output_upscaling)
        if with_bias and up1.bias is not None and up2.bias is not None:
            return s0 + up2.bias, s1 + up1.bias
        if with_bias:
            raise ValueError("with_bias needs upscaling convolutions with biases")
        return s0.contiguous(), s1.contiguous()

    def masks_from_tokens(
        self,
        mask_tokens_out: Tensor,
        src_tokens: Tensor,
        grid: tuple[int, int],
        *,
        high_res: HighRes | None = None,
        high_res_with_bias: bool = False,
        first_token: int = 0,
    ) -> Tensor:
        """Hypernetworks + upscaling (+ high-res features): ``B x K' x D`` (mask tokens ``first_token ..``),
        ``B x hw x D`` -> ``B x K' x 4h x 4w``.

        The transposed convolutions run as matrix products on channels-last tokens (see SAM's decoder); the
        high-res levels, already in that layout, are added before the layer norm and before the last GELU.
        """
        if self.use_high_res_features and high_res is None:
            raise ValueError("this decoder uses high-resolution features: pass high_res")
        hyper_in = self.hypernetworks(mask_tokens_out, first_token)  # B x K' x D/8
        return upscale_and_project(
            upscaling_layers(self.output_upscaling),
            src_tokens,
            hyper_in,
            grid,
            high_res=high_res,
            high_res_with_bias=high_res_with_bias,
        )
