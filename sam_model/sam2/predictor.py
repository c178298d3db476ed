"""``Sam2Predictor``: the SAM 2 / SAM 2.1 image predictor behind the segmenter protocol (NumPy in and out).

A drop-in for :class:`sam_model.sam.predictor.SamPredictor`: the same ``set_image`` / ``predict`` /
``get_embedding`` / ``set_embedding`` semantics, and the batched ``predict_torch`` / ``decode_low_res`` /
``decode_low_res_filtered`` / ``upscale_masks`` that the automatic mask generator calls, with prompts in the
model's input frame (``transform.apply_coords``: SAM 2's square ``S x S`` frame, ``x * S / W``, ``y * S / H``).
SAM 2 specifics, as upstream's ``SAM2ImagePredictor``: a box is two points labelled 2 and 3 placed before the
clicked points; low-res masks are upscaled straight to the image size; returned low-res logits are clamped to
``[-32, 32]``; ``predict`` also takes ``B`` boxes (and ``B x N`` points) and then returns ``B x C x H x W``.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from sam_model.errors import EmbeddingError, NoImageError
from sam_model.inputs import check_image
from sam_model.low_res import LowResFrame
from sam_model.prompt_predictor import PromptPredictor
from sam_model.protocol import EncodeSteps, ImageEmbedding
from sam_model.sam.prompt_encoder import PromptEncoder
from sam_model.sam2.mask_decoder import HighRes, Sam2MaskDecoder
from sam_model.sam2.model import Sam2Features, Sam2Model
from sam_model.sam2.prompts import check_boxes, check_mask_input, check_points, merge_points
from sam_model.sam2.transforms import Sam2Transforms

EMBEDDING_ARRAYS = ("image_embed", "high_res_feats_0", "high_res_feats_1")
"""Names of the arrays of a SAM 2 :class:`ImageEmbedding` (the last two only with high-res features)."""


class Sam2Predictor(PromptPredictor[Sam2Features]):
    """Compute an image's features once (``set_image``), then decode masks for prompts quickly (``predict``).

    The prompt side (``predict``, ``predict_torch``, ``decode_low_res``, ``upscale_masks``) is
    :class:`~sam_model.prompt_predictor.PromptPredictor`'s, with SAM 2's hooks below.

    Attributes:
        model: the :class:`Sam2Model`. transform: :class:`Sam2Transforms` (square resize, coordinate mapping).
        features: the current image's :class:`Sam2Features`, or ``None``.
        original_size: ``(H, W)`` of the current image; input_size: ``(S, S)``, the square encoder input.
    """

    frame = LowResFrame.SQUARE
    low_res_clamp = 32.0
    broadcast_mask_input = True
    single_needs_every_mask = True
    model: Sam2Model
    transform: Sam2Transforms

    def __init__(
        self, model: Sam2Model, *, model_id: str, decoder_dtype: torch.dtype = torch.float32
    ) -> None:
        """``decoder_dtype``: precision of the prompt encoder and decoder arithmetic (autocast; outputs float32)."""
        super().__init__(model_id=model_id, decoder_dtype=decoder_dtype)
        self.model = model
        self.transform = Sam2Transforms(model.image_size)
        self._high_res: HighRes | None = None

    # --- image ---

    def set_image(self, image: np.ndarray) -> None:
        """Encode an ``H x W x 3`` uint8 RGB image (the slow step). Raises ``ImageError`` on a bad array."""
        image = check_image(image)
        with torch.inference_mode():
            features = self.model.forward_image(self.transform.prepare_image(image, self.device))
        self._set_state(features, (int(image.shape[0]), int(image.shape[1])))

    def encode_steps(self, image: np.ndarray) -> EncodeSteps:
        """Encode ``image`` one encoder step per ``next()``; the generator returns its :class:`ImageEmbedding`.

        The current image (``features``) is neither read nor changed: a worker can prefetch the next image
        between clicks on this one. Raises ``ImageError`` at once on a bad array. Inference mode is on only
        while a step runs, never across a ``yield``.
        """
        image = check_image(image)
        with torch.inference_mode():
            sample = self.transform.prepare_image(image, self.device)
        return self._encode_steps(sample, (int(image.shape[0]), int(image.shape[1])))

    def _encode_steps(self, sample: Tensor, original_size: tuple[int, int]) -> EncodeSteps:
        steps = self.model.forward_image_steps(sample)
        while True:
            with torch.inference_mode():
                try:
                    next(steps)
                except StopIteration as stop:
                    features: Sam2Features = stop.value
                    break
            yield
        return self._embedding_of(features, original_size)

    def _set_state(self, features: Sam2Features, original_size: tuple[int, int]) -> None:
        self.features = features
        self._high_res = None
        self._image_keys.clear()
        self.original_size = (int(original_size[0]), int(original_size[1]))
        self.input_size = self.transform.input_size

    def reset_image(self) -> None:
        """Forget the current image, its features and their decoder layout."""
        super().reset_image()
        self._high_res = None

    def get_image_embedding(self) -> Tensor:
        """The current ``1 x D x 64 x 64`` image embedding (``no_mem_embed`` added); ``NoImageError`` without one."""
        if self.features is None:
            raise NoImageError("no image is set: call set_image first")
        return self.features.image_embed

    def _high_res_layout(self) -> HighRes | None:
        """The fine levels in the decoder's layout and precision, upscaling biases folded in, once per image."""
        if self.features is None:
            raise NoImageError("no image is set: call set_image first")
        if not self.features.high_res_feats:
            return None
        if self._high_res is None:
            with torch.inference_mode():
                s0, s1 = self.model.sam_mask_decoder.prepare_high_res(
                    *self.features.high_res_feats, with_bias=True
                )
            self._high_res = (s0.to(self.decoder_dtype), s1.to(self.decoder_dtype))
        return self._high_res

    def get_embedding(self) -> ImageEmbedding:
        """The current image's state as NumPy arrays (:data:`EMBEDDING_ARRAYS`), for :meth:`set_embedding`."""
        if self.features is None or self.original_size is None:
            raise NoImageError("no image is set: call set_image first")
        return self._embedding_of(self.features, self.original_size)

    def _embedding_of(self, features: Sam2Features, original_size: tuple[int, int]) -> ImageEmbedding:
        tensors = (features.image_embed, *features.high_res_feats)
        return ImageEmbedding(
            model_id=self.model_id,
            original_size=original_size,
            input_size=self.transform.input_size,
            arrays={
                name: t.detach().float().cpu().numpy().astype(np.float32, copy=True)
                for name, t in zip(EMBEDDING_ARRAYS, tensors, strict=False)
            },
        )

    def _expected_shapes(self) -> dict[str, tuple[int, ...]]:
        dim = self.model.sam_prompt_encoder.embed_dim
        g = self.model.sam_prompt_encoder.image_embedding_size[0]
        shapes: dict[str, tuple[int, ...]] = {"image_embed": (1, dim, g, g)}
        if self.model.sam_mask_decoder.use_high_res_features:
            shapes["high_res_feats_0"] = (1, dim // 8, 4 * g, 4 * g)
            shapes["high_res_feats_1"] = (1, dim // 4, 2 * g, 2 * g)
        return shapes

    def set_embedding(self, embedding: ImageEmbedding) -> None:
        """Restore a state from :meth:`get_embedding` (this model only) without re-encoding.

        Raises ``EmbeddingError`` for another model's embedding, missing / extra / misshapen arrays or sizes
        that are not this model's square input and a positive image size.
        """
        if embedding.model_id != self.model_id:
            raise EmbeddingError(
                f"embedding of model {embedding.model_id!r} cannot be used by {self.model_id!r}"
            )
        expected = self._expected_shapes()
        got = {name: tuple(np.shape(a)) for name, a in embedding.arrays.items()}
        if got != expected:
            raise EmbeddingError(f"SAM 2 embedding arrays must be {expected}, got {got}")
        big_h, big_w = (int(v) for v in embedding.original_size)
        if min(big_h, big_w) <= 0 or tuple(int(v) for v in embedding.input_size) != self.transform.input_size:
            raise EmbeddingError(
                f"bad embedding sizes: input {embedding.input_size}, image {embedding.original_size}"
            )
        tensors = [
            torch.as_tensor(np.asarray(embedding.arrays[name], dtype=np.float32), device=self.device).clone()
            for name in expected
        ]
        self._set_state(
            Sam2Features(image_embed=tensors[0], high_res_feats=tuple(tensors[1:])), (big_h, big_w)
        )

    # --- prompt hooks (see PromptPredictor) ---

    @property
    def _mask_decoder(self) -> Sam2MaskDecoder:
        return self.model.sam_mask_decoder

    @property
    def _prompt_encoder(self) -> PromptEncoder:
        return self.model.sam_prompt_encoder

    def _checked_points(self, point_coords: object, point_labels: object) -> tuple[np.ndarray, np.ndarray]:
        """``N x 2`` / ``B x N x 2`` points (labels 1, 0, -1, 2 / 3 box corners) -> ``B x N x 2``, ``B x N``."""
        return check_points(point_coords, point_labels)

    def _checked_boxes(self, box: object) -> np.ndarray:
        """``4`` / ``B x 4`` boxes -> ``B x 4`` float64."""
        return check_boxes(box)

    def _checked_masks(self, mask_input: object) -> np.ndarray:
        """``1 x 256 x 256`` / ``B x 1 x 256 x 256`` mask inputs -> ``B x 1 x 256 x 256`` float32."""
        return check_mask_input(mask_input)

    def _merge_boxes(
        self, points: tuple[Tensor, Tensor] | None, boxes: Tensor | None
    ) -> tuple[tuple[Tensor, Tensor] | None, Tensor | None]:
        """Boxes ``B x 4`` become corner points (labels 2 / 3) placed before the clicked points."""
        return merge_points(points, boxes), None

    def _masks_from_tokens(
        self, tokens: Tensor, src: Tensor, grid: tuple[int, int], first_token: int
    ) -> Tensor:
        return self.model.sam_mask_decoder.masks_from_tokens(
            tokens,
            src,
            grid,
            high_res=self._high_res_layout(),
            high_res_with_bias=True,
            first_token=first_token,
        )

    def _single_output(
        self, iou: Tensor, tokens: Tensor, src: Tensor, grid: tuple[int, int]
    ) -> tuple[Tensor, Tensor]:
        """Every output's mask, then upstream's choice of one (the first, or by stability)."""
        masks = self._masks_from_tokens(tokens, src, grid, 0)
        return self.model.sam_mask_decoder.select_outputs(masks, iou, False)

    def _upscale_on_device(
        self, low_res: Tensor, input_size: tuple[int, int], original_size: tuple[int, int]
    ) -> Tensor:
        """Upstream's bilinear resize straight to ``(H, W)`` (half-pixel centres, no antialiasing)."""
        return F.interpolate(low_res.float(), original_size, mode="bilinear", align_corners=False)

    def _logit_frame(self, side: int, input_size: tuple[int, int]) -> tuple[int, tuple[int, int]]:
        """The image fills the whole ``L x L`` grid."""
        return side, (side, side)
