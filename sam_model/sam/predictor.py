"""``SamPredictor``: the interactive SAM engine behind the segmenter protocol (NumPy in and out)."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from sam_model.errors import EmbeddingError, ImageError, NoImageError, PromptError
from sam_model.inputs import check_image, check_mask_input
from sam_model.low_res import LowResFrame
from sam_model.prompt_predictor import PromptPredictor
from sam_model.protocol import EncodeSteps, ImageEmbedding
from sam_model.sam.mask_decoder import MaskDecoder
from sam_model.sam.model import Sam
from sam_model.sam.prompt_encoder import PromptEncoder
from sam_model.transforms import ResizeLongestSide, get_preprocess_shape

_VALID_LABELS = (-1, 0, 1)


class SamPredictor(PromptPredictor[Tensor]):
    """Compute an image's embedding once (``set_image``), then decode masks for prompts quickly (``predict``).

    Same semantics as upstream ``SamPredictor``; the prompt side (``predict``, ``predict_torch``,
    ``decode_low_res``, ``upscale_masks``) is :class:`~sam_model.prompt_predictor.PromptPredictor`'s. Not
    thread-safe: one worker owns it.

    Attributes:
        model: the :class:`Sam` module. transform: the longest-side resize and coordinate mapping.
        original_size: ``(H, W)`` of the current image; input_size: ``(h, w)`` after the resize.
        features: ``1 x 256 x 64 x 64`` float32 image embedding of the current image, or ``None``.
    """

    frame = LowResFrame.LONGEST_SIDE
    model: Sam
    transform: ResizeLongestSide

    def __init__(self, model: Sam, *, model_id: str, decoder_dtype: torch.dtype = torch.float32) -> None:
        """``decoder_dtype``: the precision of the prompt encoder and mask decoder's arithmetic (autocast);
        ``torch.bfloat16`` halves a click's time on the CPU. Outputs are float32 either way. The builder
        chooses it (``load_predictor(dtype="bfloat16")``)."""
        super().__init__(model_id=model_id, decoder_dtype=decoder_dtype)
        self.model = model
        self.transform = ResizeLongestSide(model.image_size)

    # --- image ---

    def set_image(self, image: np.ndarray) -> None:
        """Encode an ``H x W x 3`` uint8 RGB image (the slow step). Raises ``ImageError`` on a bad array."""
        image = check_image(image)
        self.set_torch_image(self._resized_tensor(image), (int(image.shape[0]), int(image.shape[1])))

    def _resized_tensor(self, image: np.ndarray) -> Tensor:
        """``1 x 3 x h x w`` (0..255) on the model's device, longest side ``image_size``."""
        resized = self.transform.apply_image(image)
        return torch.as_tensor(resized, device=self.device).permute(2, 0, 1).unsqueeze(0)

    def encode_steps(self, image: np.ndarray) -> EncodeSteps:
        """Encode ``image`` (``H x W x 3`` uint8 RGB) in small steps, for a worker that answers clicks between
        them (:class:`~sam_model.protocol.SteppedEncoder`): the encoder's ``forward_steps`` (a transformer
        block or so per step). The generator's return value is the embedding, the same numbers as
        ``set_image`` + ``get_embedding`` (bfloat16 encoder included); the current image is never touched.

        Raises ``ImageError`` on a bad array at once (not at the first step). A compiled encoder, or one
        without ``forward_steps``, runs whole in one step: only its full ``forward`` is known to be right.
        """
        return self._encode_steps(check_image(image))

    def _encode_steps(self, image: np.ndarray) -> EncodeSteps:
        encoder = self.model.image_encoder
        # The bf16 encoder's hooks (``build.apply_bfloat16_encoder``) only run with ``forward``: cast here.
        encoder_dtype = next(encoder.parameters()).dtype
        with torch.inference_mode():
            tensor = self._resized_tensor(image)
            x = self.model.preprocess(tensor)
        stepwise = hasattr(encoder, "forward_steps") and getattr(encoder, "_compiled_call_impl", None) is None
        if not stepwise:
            yield
            with torch.inference_mode():
                features = encoder(x)
        else:
            steps = encoder.forward_steps(x.to(encoder_dtype))
            while True:
                # grad mode is thread state: enter it around each step, never across a yield
                with torch.inference_mode():
                    try:
                        next(steps)
                    except StopIteration as stop:
                        features = stop.value
                        break
                yield
        return ImageEmbedding(
            model_id=self.model_id,
            original_size=(int(image.shape[0]), int(image.shape[1])),
            input_size=(int(tensor.shape[-2]), int(tensor.shape[-1])),
            arrays={"features": features.float().cpu().numpy().astype(np.float32, copy=True)},
        )

    @torch.inference_mode()
    def set_torch_image(self, transformed_image: Tensor, original_image_size: tuple[int, int]) -> None:
        """Encode ``1 x 3 x h x w`` (0..255, already resized so ``max(h, w) == image_size``)."""
        if transformed_image.ndim != 4 or transformed_image.shape[:2] != (1, 3):
            raise ImageError(f"expected a 1 x 3 x h x w tensor, got {tuple(transformed_image.shape)}")
        if max(transformed_image.shape[-2:]) != self.model.image_size:
            raise ImageError(
                f"the longest side must be {self.model.image_size}, got {transformed_image.shape}"
            )
        self.reset_image()
        input_size = (int(transformed_image.shape[-2]), int(transformed_image.shape[-1]))
        features = self.model.image_encoder(self.model.preprocess(transformed_image))
        self._set_state(
            features.float(), (int(original_image_size[0]), int(original_image_size[1])), input_size
        )

    def _set_state(
        self, features: Tensor, original_size: tuple[int, int], input_size: tuple[int, int]
    ) -> None:
        self._image_keys.clear()
        self.features = features
        self.original_size = (int(original_size[0]), int(original_size[1]))
        self.input_size = input_size

    def get_image_embedding(self) -> Tensor:
        """The current ``1 x 256 x 64 x 64`` features (``NoImageError`` without an image)."""
        if self.features is None:
            raise NoImageError("no image is set: call set_image first")
        return self.features

    def get_embedding(self) -> ImageEmbedding:
        """The current image's state as NumPy arrays, to cache and restore with :meth:`set_embedding`."""
        features = self.get_image_embedding()
        if self.original_size is None or self.input_size is None:
            raise NoImageError("no image sizes are set: call set_image first")
        return ImageEmbedding(
            model_id=self.model_id,
            original_size=self.original_size,
            input_size=self.input_size,
            arrays={"features": features.detach().cpu().numpy().astype(np.float32, copy=True)},
        )

    def set_embedding(self, embedding: ImageEmbedding) -> None:
        """Restore a state from :meth:`get_embedding` (this model only) without re-encoding."""
        if embedding.model_id != self.model_id:
            raise EmbeddingError(
                f"embedding of model {embedding.model_id!r} cannot be used by {self.model_id!r}"
            )
        features = embedding.arrays.get("features")
        grid = self.model.prompt_encoder.image_embedding_size
        expected = (1, self.model.prompt_encoder.embed_dim, grid[0], grid[1])
        if features is None or tuple(features.shape) != expected:
            got = None if features is None else tuple(features.shape)
            raise EmbeddingError(f"embedding features must have shape {expected}, got {got}")
        h, w = (int(v) for v in embedding.input_size)
        big_h, big_w = (int(v) for v in embedding.original_size)
        # input_size must be this image's resize, else points and masks are mapped with different scales
        # (e.g. an original_size stored as PIL's (W, H)).
        if min(big_h, big_w) <= 0 or (h, w) != get_preprocess_shape(big_h, big_w, self.model.image_size):
            raise EmbeddingError(
                f"bad embedding sizes: input {embedding.input_size}, image {embedding.original_size}"
            )
        tensor = torch.as_tensor(np.asarray(features, dtype=np.float32), device=self.device).clone()
        self._set_state(tensor, (big_h, big_w), (h, w))

    # --- prompt hooks (see PromptPredictor) ---

    @property
    def _mask_decoder(self) -> MaskDecoder:
        return self.model.mask_decoder

    @property
    def _prompt_encoder(self) -> PromptEncoder:
        return self.model.prompt_encoder

    def _checked_points(self, point_coords: object, point_labels: object) -> tuple[np.ndarray, np.ndarray]:
        """One ``N x 2`` set of points (labels 1, 0, -1) -> ``1 x N x 2`` float64, ``1 x N`` int64."""
        coords, labels = _check_points(point_coords, point_labels)
        return coords[None], labels[None]

    def _checked_boxes(self, box: object) -> np.ndarray:
        """One box (``4`` or ``1 x 4``) -> ``1 x 4`` float64."""
        return _check_box(box)

    def _checked_masks(self, mask_input: object) -> np.ndarray:
        """One ``1 x 256 x 256`` mask input -> ``1 x 1 x 256 x 256`` float32."""
        return check_mask_input(mask_input)[None]

    def _masks_from_tokens(
        self, tokens: Tensor, src: Tensor, grid: tuple[int, int], first_token: int
    ) -> Tensor:
        return self.model.mask_decoder.masks_from_tokens(tokens, src, grid, first_token=first_token)

    def _single_output(
        self, iou: Tensor, tokens: Tensor, src: Tensor, grid: tuple[int, int]
    ) -> tuple[Tensor, Tensor]:
        """The first output token's mask alone (``B x 1 x 256 x 256``, IoU ``B x 1``)."""
        masks = self.model.mask_decoder.masks_from_tokens(tokens[:, :1], src, grid, first_token=0)
        return masks, iou[:, :1]

    def _upscale_on_device(
        self, low_res: Tensor, input_size: tuple[int, int], original_size: tuple[int, int]
    ) -> Tensor:
        """:meth:`Sam.postprocess_masks`: bilinear to the padded ``S x S`` input, crop, bilinear again."""
        return self.model.postprocess_masks(low_res.float(), input_size, original_size)

    def _logit_frame(self, side: int, input_size: tuple[int, int]) -> tuple[int, tuple[int, int]]:
        """The logits stretch over the padded ``S x S`` encoder input, of which the image fills ``input_size``."""
        return self.model.image_size, input_size


def _check_points(point_coords: object, point_labels: object) -> tuple[np.ndarray, np.ndarray]:
    if point_coords is None or point_labels is None:
        raise PromptError("point_coords and point_labels must be given together")
    coords = np.asarray(point_coords)
    labels = np.asarray(point_labels)
    if coords.ndim != 2 or coords.shape[1] != 2 or coords.shape[0] == 0:
        raise PromptError(f"point_coords must be N x 2 with N >= 1, got shape {coords.shape}")
    if labels.shape != (coords.shape[0],):
        raise PromptError(f"point_labels must have shape ({coords.shape[0]},), got {labels.shape}")
    if not np.issubdtype(coords.dtype, np.number) or not np.all(np.isfinite(coords)):
        raise PromptError("point_coords must be finite numbers")
    if not np.issubdtype(labels.dtype, np.number) or not np.isin(labels, _VALID_LABELS).all():
        raise PromptError(f"point_labels must be 1 (positive), 0 (negative) or -1 (ignored), got {labels}")
    return coords.astype(np.float64), labels.astype(np.int64)


def _check_box(box: object) -> np.ndarray:
    arr = np.asarray(box)
    if arr.size != 4 or arr.ndim > 2 or (arr.ndim == 2 and arr.shape[0] != 1):
        raise PromptError(f"box must be 4 numbers (x0, y0, x1, y1), got shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.number) or not np.all(np.isfinite(arr)):
        raise PromptError("box must be finite numbers")
    return arr.reshape(1, 4).astype(np.float64)
