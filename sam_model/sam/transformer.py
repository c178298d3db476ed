"""The two-way transformer of the mask decoder: tokens attend to the image and the image attends to tokens.

PerSAM hooks (both off by default, see ``docs`` of :meth:`TwoWayTransformer.forward`):

* ``attn_sim`` (target-guided attention): a ``B x 1 x T x HW`` term added to the token-to-image attention
  weights after their softmax, followed by a second softmax, in every block (not in the final attention);
* ``target_embedding`` (target-semantic prompting): a ``B x 1 x D`` vector added to the query tokens.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sam_model.sam.common import MLP, MLPBlock
from sam_model.sam.first_block import ImageKeys, first_layer, run_first_block


class TwoWayTransformer(nn.Module):
    """``depth`` two-way attention blocks followed by a final token-to-image attention.

    Args:
        depth: number of blocks (2). embedding_dim: token / image channel width ``D`` (256).
        num_heads: attention heads (8). mlp_dim: hidden width of the token MLP (2048).
        attention_downsample_rate: the cross-attentions project to ``D / rate`` channels (2).
        mlp_keys: state-dict layout of the token MLPs: ``"lin"`` (SAM: ``mlp.lin1`` / ``mlp.lin2``) or
            ``"layers"`` (SAM 2: ``mlp.layers.0`` / ``mlp.layers.1``, ReLU only); the arithmetic is the same.
    """

    def __init__(
        self,
        *,
        depth: int,
        embedding_dim: int,
        num_heads: int,
        mlp_dim: int,
        activation: type[nn.Module] = nn.ReLU,
        attention_downsample_rate: int = 2,
        mlp_keys: str = "lin",
    ) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            _TwoWayAttentionBlock(
                embedding_dim=embedding_dim,
                num_heads=num_heads,
                mlp_dim=mlp_dim,
                activation=activation,
                attention_downsample_rate=attention_downsample_rate,
                skip_first_layer_pe=(i == 0),
                mlp_keys=mlp_keys,
            )
            for i in range(depth)
        )
        self.final_attn_token_to_image = Attention(
            embedding_dim=embedding_dim, num_heads=num_heads, downsample_rate=attention_downsample_rate
        )
        self.norm_final_attn = nn.LayerNorm(embedding_dim)

    def forward(
        self,
        image_embedding: Tensor,
        image_pe: Tensor,
        point_embedding: Tensor,
        *,
        attn_sim: Tensor | None = None,
        target_embedding: Tensor | None = None,
        image_keys: ImageKeys | None = None,
        final_rows: list[int] | None = None,
    ) -> tuple[Tensor, Tensor]:
        """Run the blocks.

        Args:
            image_embedding: ``B x D x h x w``. image_pe: ``B x D x h x w`` (or ``1 x ...``, broadcast).
            point_embedding: ``B x T x D`` tokens (output tokens then prompt tokens).
            attn_sim: PerSAM target-guided attention, ``B x 1 x T x hw`` (or broadcastable), or ``None``.
            target_embedding: PerSAM target-semantic prompt, ``B x 1 x D`` (or ``1 x 1 x D``), or ``None``.
                With ``t`` = target_embedding and ``P = point_embedding + t``: ``P`` is the first block's
                queries and every block's query positional encoding; later blocks' queries get ``+ t``; the
                final attention's query is ``queries + P + t`` (the arithmetic of upstream PerSAM).
            image_keys: the first block's image side computed once (:mod:`sam_model.sam.first_block`) for
                ``image_embedding`` and ``image_pe`` (the image tensors are then not read); not with PerSAM's
                options.
            final_rows: the query rows the caller reads (``None``: all). The final attention is per query, so
                the others are skipped there (the prompt tokens' outputs, unused outputs): same numbers.
        Returns:
            queries ``B x T x D`` (``B x len(final_rows) x D``, in that order, with ``final_rows``) and keys
            ``B x hw x D`` (the updated image tokens).
        """
        query_pe = point_embedding if target_embedding is None else point_embedding + target_embedding
        queries = query_pe
        layers = list(self.layers)
        if image_keys is not None and attn_sim is None and target_embedding is None:
            key_pe = image_keys.key_pe
            queries, keys = run_first_block(first_layer(self), queries, query_pe, image_keys)
            layers = layers[1:]
        else:
            keys = image_embedding.flatten(2).transpose(1, 2).contiguous()
            key_pe = image_pe.flatten(2).transpose(1, 2).contiguous()
        for i, layer in enumerate(layers, start=len(self.layers) - len(layers)):
            if target_embedding is not None and i > 0:
                queries = queries + target_embedding
            queries, keys = layer(queries, keys, query_pe=query_pe, key_pe=key_pe, attn_sim=attn_sim)
        if final_rows is not None:
            queries, query_pe = queries[:, final_rows], query_pe[:, final_rows]
        q = queries + query_pe
        if target_embedding is not None:
            q = q + target_embedding
        queries = queries + self.final_attn_token_to_image(q, keys + key_pe, keys)
        return self.norm_final_attn(queries), keys


class _TwoWayAttentionBlock(nn.Module):
    """Token self-attention, token-to-image cross-attention, token MLP, image-to-token cross-attention."""

    def __init__(
        self,
        *,
        embedding_dim: int,
        num_heads: int,
        mlp_dim: int,
        activation: type[nn.Module],
        attention_downsample_rate: int,
        skip_first_layer_pe: bool,
        mlp_keys: str = "lin",
    ) -> None:
        super().__init__()
        self.self_attn = Attention(embedding_dim=embedding_dim, num_heads=num_heads)
        self.norm1 = nn.LayerNorm(embedding_dim)
        self.cross_attn_token_to_image = Attention(
            embedding_dim=embedding_dim, num_heads=num_heads, downsample_rate=attention_downsample_rate
        )
        self.norm2 = nn.LayerNorm(embedding_dim)
        if mlp_keys == "lin":
            self.mlp: nn.Module = MLPBlock(embedding_dim=embedding_dim, mlp_dim=mlp_dim, act=activation)
        elif mlp_keys == "layers" and activation is nn.ReLU:
            self.mlp = MLP(
                input_dim=embedding_dim, hidden_dim=mlp_dim, output_dim=embedding_dim, num_layers=2
            )
        else:
            raise ValueError(f"mlp_keys must be 'lin' or 'layers' (ReLU only), got {mlp_keys!r}")
        self.norm3 = nn.LayerNorm(embedding_dim)
        self.norm4 = nn.LayerNorm(embedding_dim)
        self.cross_attn_image_to_token = Attention(
            embedding_dim=embedding_dim, num_heads=num_heads, downsample_rate=attention_downsample_rate
        )
        self.skip_first_layer_pe = skip_first_layer_pe

    def forward(
        self,
        queries: Tensor,
        keys: Tensor,
        *,
        query_pe: Tensor,
        key_pe: Tensor,
        attn_sim: Tensor | None = None,
    ) -> tuple[Tensor, Tensor]:
        """queries ``B x T x D``, keys ``B x hw x D`` (with their positional encodings) -> updated pair."""
        if self.skip_first_layer_pe:
            queries = self.self_attn(queries, queries, queries)
        else:
            q = queries + query_pe
            queries = queries + self.self_attn(q, q, queries)
        queries = self.norm1(queries)

        q = queries + query_pe
        k = keys + key_pe
        queries = self.norm2(queries + self.cross_attn_token_to_image(q, k, keys, attn_sim=attn_sim))
        queries = self.norm3(queries + self.mlp(queries))

        q = queries + query_pe
        keys = self.norm4(self.cross_attn_image_to_token(k, q, queries, residual=keys))
        return queries, keys


class Attention(nn.Module):
    """Multi-head attention with optional down-projection of the internal width to ``D / downsample_rate``."""

    def __init__(self, *, embedding_dim: int, num_heads: int, downsample_rate: int = 1) -> None:
        super().__init__()
        self.internal_dim = embedding_dim // downsample_rate
        self.num_heads = num_heads
        if self.internal_dim % num_heads != 0:
            raise ValueError(f"num_heads {num_heads} must divide the internal dim {self.internal_dim}")
        self.q_proj = nn.Linear(embedding_dim, self.internal_dim)
        self.k_proj = nn.Linear(embedding_dim, self.internal_dim)
        self.v_proj = nn.Linear(embedding_dim, self.internal_dim)
        self.out_proj = nn.Linear(self.internal_dim, embedding_dim)

    def _split(self, x: Tensor) -> Tensor:
        b, n, c = x.shape
        return x.view(b, n, self.num_heads, c // self.num_heads).transpose(1, 2)

    def forward(
        self,
        q: Tensor,
        k: Tensor,
        v: Tensor,
        *,
        attn_sim: Tensor | None = None,
        residual: Tensor | None = None,
    ) -> Tensor:
        """q ``B x Nq x D``, k / v ``B x Nk x D`` -> ``B x Nq x D`` (plus ``residual``, ``B x Nq x D``, when
        given: for the image attending to a few tokens, it is added inside the output's matrix product).

        ``attn_sim`` (``B x 1 x Nq x Nk``, broadcast over heads): PerSAM's target-guided attention; when
        given, it is added to the softmaxed weights and a second softmax follows.

        When one side is a handful of prompt tokens and the other the ``64 x 64`` image, the projections of
        the image side are folded into the token side (exact algebra, float rounding aside), which halves the
        work of the decoder's cross-attentions: see :meth:`_few_queries` and :meth:`_few_keys`.
        """
        if self.num_heads * q.shape[1] < self.internal_dim and k.shape[1] > self.internal_dim:
            return self._few_queries(q, k, v, attn_sim=attn_sim)
        few_keys = self.num_heads * k.shape[1] < self.internal_dim and q.shape[1] > self.internal_dim
        if attn_sim is None and few_keys:
            return self._few_keys(q, k, v, residual=residual)
        q, k, v = self._split(self.q_proj(q)), self._split(self.k_proj(k)), self._split(self.v_proj(v))
        if attn_sim is None:
            out = F.scaled_dot_product_attention(q, k, v)
        else:
            weights = torch.softmax((q @ k.transpose(-2, -1)) * q.shape[-1] ** -0.5, dim=-1)
            out = torch.softmax(weights + attn_sim, dim=-1) @ v
        b, _, nq, _ = out.shape
        out = self.out_proj(out.transpose(1, 2).reshape(b, nq, self.internal_dim))
        return out if residual is None else residual + out

    def _few_queries(self, q: Tensor, k: Tensor, v: Tensor, *, attn_sim: Tensor | None = None) -> Tensor:
        """Tokens attending to the image without projecting the ``Nk`` image keys and values.

        Per head ``h``: ``q_h (k W_kh^T + b_kh)^T = (q_h W_kh) k^T + q_h . b_kh`` and
        ``P_h (v W_vh^T + b_vh) = (P_h v) W_vh^T + b_vh`` (softmax rows sum to 1): ``O(h Nq D Nk)`` instead of
        ``O(Nk D d_int)``. PerSAM's ``attn_sim`` (second softmax) keeps rows summing to 1, so it folds too.
        """
        b, nq, dim = q.shape
        heads, hd = self.num_heads, self.internal_dim // self.num_heads
        qh = self._split(self.q_proj(q))  # B x h x Nq x d
        wk = self.k_proj.weight.view(heads, hd, dim)
        qh = qh * hd**-0.5  # the softmax scale, applied to the small side
        q_k = torch.einsum("bhqd,hdc->bhqc", qh, wk).reshape(b, heads * nq, dim)
        bias = (qh * self.k_proj.bias.view(1, heads, 1, hd)).sum(-1).reshape(b, heads * nq, 1)
        logits = torch.baddbmm(bias, q_k, k.transpose(1, 2))  # B x hNq x Nk
        probs = torch.softmax(logits, dim=-1)
        if attn_sim is not None:
            guided = probs.view(b, heads, nq, -1) + attn_sim
            probs = torch.softmax(guided, dim=-1).view(b, heads * nq, -1)
        pv = (probs @ v).view(b, heads, nq, dim)  # B x h x Nq x D
        out = torch.einsum("bhqc,hdc->bqhd", pv, self.v_proj.weight.view(heads, hd, dim))
        out = out + self.v_proj.bias.view(heads, hd)
        return self.out_proj(out.reshape(b, nq, self.internal_dim))

    def _few_keys(self, q: Tensor, k: Tensor, v: Tensor, *, residual: Tensor | None = None) -> Tensor:
        """The image attending to a few tokens without projecting the ``Nq`` image queries or outputs.

        Per head ``h``: ``(q W_qh^T + b_qh) K_h^T = q (W_qh^T K_h^T) + b_qh K_h^T`` and the output projection
        ``sum_h P_h V_h W_oh^T = P (V W_o^T)`` is applied to the ``Nk`` values before mixing (see
        :meth:`values_out`, which also folds in the output bias).
        """
        b, nq, dim = q.shape
        heads, hd = self.num_heads, self.internal_dim // self.num_heads
        kh = self._split(self.k_proj(k)) * hd**-0.5  # B x h x Nk x d, with the softmax scale
        nk = kh.shape[2]
        wq = self.q_proj.weight.view(heads, hd, dim)
        k_q = torch.einsum("bhkd,hdc->bhkc", kh, wq).reshape(b, heads * nk, dim)
        bias = torch.einsum("bhkd,hd->bhk", kh, self.q_proj.bias.view(heads, hd)).reshape(b, heads * nk, 1)
        # logits laid out keys-first (B x hNk x Nq) so the softmax over the few keys runs along a long axis
        logits = torch.baddbmm(bias, k_q, q.transpose(1, 2)).view(b, heads, nk, nq)
        probs = torch.softmax(logits, dim=2).view(b, heads * nk, nq)
        v_out = self.values_out(self.v_proj(v))
        if residual is None:
            return torch.bmm(probs.transpose(1, 2), v_out)
        return torch.baddbmm(residual.expand(b, -1, -1), probs.transpose(1, 2), v_out)

    def values_out(self, values: Tensor) -> Tensor:
        """Projected values ``B x Nk x d_int`` -> ``B x hNk x D``: each head's values through its slice of the
        output projection, plus ``bias / heads``. Weights that sum to 1 over each head's ``Nk`` keys
        (``B x Nq x hNk``) times this give the attention's output, bias included."""
        b, nk, _ = values.shape
        heads, dim = self.num_heads, self.out_proj.out_features
        wo = self.out_proj.weight.view(dim, heads, -1)
        v_out = torch.einsum("bkhd,chd->bhkc", values.view(b, nk, heads, -1), wo)
        return v_out.add_(self.out_proj.bias / heads).reshape(b, heads * nk, dim)
