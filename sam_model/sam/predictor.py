"""``SamPredictor``: the interactive SAM engine behind the segmenter protocol (NumPy in and out)."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from sam_model.errors import EmbeddingError, ImageError, NoImageError, PromptError
from sam_model.inputs import check_image, check_mask_input
from sam_model.low_res import LowResFrame
from sam_model.protocol import EncodeSteps, ImageEmbedding, Prediction
from sam_model.sam.first_block import ImageKeysCache
from sam_model.sam.model import Sam
from sam_model.transforms import ResizeLongestSide, get_preprocess_shape, upscale_logits

_VALID_LABELS = (-1, 0, 1)


class SamPredictor:
    """Compute an image's embedding once (``set_image``), then decode masks for prompts quickly (``predict``).

    Same semantics as upstream ``SamPredictor``. Not thread-safe: one worker owns it.

    Attributes:
        model: the :class:`Sam` module. transform: the longest-side resize and coordinate mapping.
        original_size: ``(H, W)`` of the current image; input_size: ``(h, w)`` after the resize.
        features: ``1 x 256 x 64 x 64`` float32 image embedding of the current image, or ``None``.
    """

    decode_chunk: int | None = None
    """Prompts decoded at a time (``None``: the whole batch). Defaults to 4 on the CPU, see ``decode_low_res``."""

    def __init__(self, model: Sam, *, model_id: str, decoder_dtype: torch.dtype = torch.float32) -> None:
        """``decoder_dtype``: the precision of the prompt encoder and mask decoder's arithmetic (autocast);
        ``torch.bfloat16`` halves a click's time on the CPU. Outputs are float32 either way. The builder
        chooses it (``load_predictor(dtype="bfloat16")``)."""
        self.model = model
        self.transform = ResizeLongestSide(model.image_size)
        self._model_id = model_id
        self.decoder_dtype = decoder_dtype
        self.features: Tensor | None = None
        self.original_size: tuple[int, int] | None = None
        self.input_size: tuple[int, int] | None = None
        self._image_keys = ImageKeysCache()

    @property
    def model_id(self) -> str:
        """Architecture preset and weights checksum, e.g. ``vit_b-01ec64d29a2fca3f``."""
        return self._model_id

    @property
    def low_res_frame(self) -> LowResFrame:
        """SAM's logits cover the image resized to its longest side, padded bottom/right."""
        return LowResFrame.LONGEST_SIDE

    @property
    def device(self) -> torch.device:
        """Where the model (and the cached features) live."""
        return self.model.device

    @property
    def is_image_set(self) -> bool:
        return self.features is not None

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

    def reset_image(self) -> None:
        """Forget the current image and its features."""
        self._image_keys.clear()
        self.features = None
        self.original_size = None
        self.input_size = None

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

    # --- prompts ---

    def predict(
        self,
        point_coords: np.ndarray | None = None,
        point_labels: np.ndarray | None = None,
        box: np.ndarray | None = None,
        mask_input: np.ndarray | None = None,
        multimask_output: bool = True,
        return_logits: bool = False,
    ) -> Prediction:
        """Decode masks for prompts in original-image pixels (see :mod:`sam_model.protocol` for the shapes).

        Returns ``(masks C x H x W bool or float32 logits, scores C float32, low_res_logits C x 256 x 256)``.
        """
        if self.features is None or self.original_size is None:
            raise NoImageError("no image is set: call set_image first")
        coords_t = labels_t = box_t = mask_t = None
        if point_coords is not None or point_labels is not None:
            coords, labels = _check_points(point_coords, point_labels)
            coords = self.transform.apply_coords(coords, self.original_size)
            coords_t = torch.as_tensor(coords, dtype=torch.float32, device=self.device)[None]
            labels_t = torch.as_tensor(labels, dtype=torch.int64, device=self.device)[None]
        if box is not None:
            box_arr = _check_box(box)
            box_t = torch.as_tensor(
                self.transform.apply_boxes(box_arr, self.original_size), dtype=torch.float32
            )
            box_t = box_t.to(self.device)
        if mask_input is not None:
            mask_t = torch.as_tensor(check_mask_input(mask_input), device=self.device)[None]
        masks, scores, low_res = self.predict_torch(
            coords_t, labels_t, box_t, mask_t, multimask_output=multimask_output, return_logits=return_logits
        )
        return masks[0].cpu().numpy(), scores[0].float().cpu().numpy(), low_res[0].float().cpu().numpy()

    @torch.inference_mode()
    def predict_torch(
        self,
        point_coords: Tensor | None,
        point_labels: Tensor | None,
        boxes: Tensor | None = None,
        mask_input: Tensor | None = None,
        multimask_output: bool = True,
        return_logits: bool = False,
    ) -> tuple[Tensor, Tensor, Tensor]:
        """Batched decoding with prompts already in the resized-input frame.

        Args:
            point_coords: ``B x N x 2``; point_labels: ``B x N``; boxes: ``B x 4``;
            mask_input: ``B x 1 x 256 x 256``.
        Returns:
            masks ``B x C x H x W`` (bool, or float logits with ``return_logits``), iou ``B x C``,
            low-res logits ``B x C x 256 x 256``.
        """
        if self.features is None:
            raise NoImageError("no image is set: call set_image first")
        if (point_coords is None) != (point_labels is None):
            raise PromptError("point_coords and point_labels must be given together")
        points = None if point_coords is None or point_labels is None else (point_coords, point_labels)
        low_res, iou = self.decode_low_res(points, boxes, mask_input, multimask_output=multimask_output)
        masks = self._upscale(low_res, None if return_logits else self.model.mask_threshold)
        return masks, iou, low_res

    @torch.inference_mode()
    def decode_low_res(
        self,
        points: tuple[Tensor, Tensor] | None,
        boxes: Tensor | None,
        mask_input: Tensor | None,
        *,
        multimask_output: bool,
    ) -> tuple[Tensor, Tensor]:
        """Prompt encoder + mask decoder only: low-res logits ``B x C x 256 x 256`` and IoU ``B x C``.

        On the CPU a batch is decoded ``decode_chunk`` prompts at a time: each prompt carries its own copy of the
        ``64 x 64 x 256`` image tokens, and large batches fall out of the caches (measured: 27 ms per prompt in
        chunks of 4, 55 ms in one batch of 64).
        """
        decoder = self.model.mask_decoder
        sel = slice(1, None) if multimask_output else slice(0, 1)
        parts = []
        with self._decoder_precision():
            image_keys = self._image_keys.get(
                self.model.mask_decoder.transformer,
                self.model.prompt_encoder,
                self.get_image_embedding(),
                mask_input,
                self.decoder_dtype,
            )
            for sparse, dense in self._prompt_chunks(points, boxes, mask_input):
                iou, mask_tokens, src_tokens, grid = decoder.predict_tokens(
                    self.get_image_embedding(),
                    self.model.prompt_encoder.get_dense_pe(),
                    sparse,
                    dense,
                    image_keys=image_keys,
                    multimask_only=multimask_output,
                )
                if not multimask_output:
                    mask_tokens = mask_tokens[:, :1]
                masks = decoder.masks_from_tokens(mask_tokens, src_tokens, grid, first_token=sel.start)
                parts.append((masks, iou[:, sel]))
        if len(parts) == 1:  # one chunk (a click): no copy
            return parts[0][0].float(), parts[0][1].float()
        return torch.cat([p[0] for p in parts]).float(), torch.cat([p[1] for p in parts]).float()

    @torch.inference_mode()
    def decode_low_res_filtered(
        self,
        points: tuple[Tensor, Tensor] | None,
        boxes: Tensor | None,
        mask_input: Tensor | None,
        *,
        multimask_output: bool,
        iou_threshold: float,
    ) -> tuple[Tensor, Tensor, Tensor]:
        """Like :meth:`decode_low_res`, but computes masks only for candidates with predicted IoU above
        ``iou_threshold`` (the automatic mask generator's first filter).

        The IoU head runs before the masks' upscaling, which is about 40 % of a decode, so a prompt none of
        whose candidates passes skips it. The kept logits are those :meth:`decode_low_res` gives, up to float rounding.

        Returns:
            kept low-res logits ``M x 256 x 256`` (in the row-major order of ``keep``), IoU ``B x C`` and
            ``keep`` ``B x C`` bool (``iou > iou_threshold``).
        """
        decoder = self.model.mask_decoder
        sel = slice(1, None) if multimask_output else slice(0, 1)
        kept: list[Tensor] = []
        ious: list[Tensor] = []
        keeps: list[Tensor] = []
        with self._decoder_precision():
            image_keys = self._image_keys.get(
                self.model.mask_decoder.transformer,
                self.model.prompt_encoder,
                self.get_image_embedding(),
                mask_input,
                self.decoder_dtype,
            )
            for sparse, dense in self._prompt_chunks(points, boxes, mask_input):
                iou, mask_tokens, src_tokens, grid = decoder.predict_tokens(
                    self.get_image_embedding(),
                    self.model.prompt_encoder.get_dense_pe(),
                    sparse,
                    dense,
                    image_keys=image_keys,
                    multimask_only=multimask_output,
                )
                if not multimask_output:
                    mask_tokens = mask_tokens[:, :1]
                iou = iou[:, sel].float()
                keep = iou > iou_threshold
                rows = keep.any(dim=1).nonzero(as_tuple=True)[0]
                if len(rows):
                    masks = decoder.masks_from_tokens(
                        mask_tokens[rows], src_tokens[rows], grid, first_token=sel.start
                    )
                    kept.append(masks[keep[rows]].float())
                ious.append(iou)
                keeps.append(keep)
        size = 4 * self.model.prompt_encoder.image_embedding_size[0]
        low_res = torch.cat(kept) if kept else self.get_image_embedding().new_zeros((0, size, size))
        return low_res, torch.cat(ious), torch.cat(keeps)

    def _decoder_precision(self) -> torch.autocast:
        """Autocast to ``decoder_dtype`` (disabled for float32)."""
        return torch.autocast(
            self.device.type, dtype=self.decoder_dtype, enabled=self.decoder_dtype != torch.float32
        )

    def _prompt_chunks(
        self, points: tuple[Tensor, Tensor] | None, boxes: Tensor | None, mask_input: Tensor | None
    ) -> list[tuple[Tensor, Tensor]]:
        """Prompt embeddings ``(sparse B' x M x D, dense B' x D x h x w)`` for consecutive chunks of the batch."""
        self.get_image_embedding()
        encoder = self.model.prompt_encoder
        batch = next((len(t) for t in (points[0] if points else None, boxes, mask_input) if t is not None), 1)
        chunk = self.decode_chunk or (4 if self.device.type == "cpu" else batch)
        out = []
        for start in range(0, batch, chunk):
            part = slice(start, start + chunk)
            pts = None if points is None else (points[0][part], points[1][part])
            out.append(
                encoder(
                    pts,
                    None if boxes is None else boxes[part],
                    None if mask_input is None else mask_input[part],
                )
            )
        return out

    def upscale_masks(self, low_res: Tensor) -> Tensor:
        """``B x C x 256 x 256`` logits -> ``B x C x H x W`` float32 logits on the original image.

        Equal to :meth:`Sam.postprocess_masks` up to float rounding; on the CPU done by OpenCV, which is far
        cheaper than PyTorch's ``1024 x 1024`` intermediate.
        """
        return self._upscale(low_res, None)

    def _upscale(self, low_res: Tensor, threshold: float | None) -> Tensor:
        """:meth:`upscale_masks`, then ``> threshold`` when one is given (bool masks; on the CPU thresholded
        before the channels-first copy)."""
        if self.original_size is None or self.input_size is None:
            raise NoImageError("no image is set: call set_image first")
        if low_res.device.type != "cpu":
            up_t = self.model.postprocess_masks(low_res.float(), self.input_size, self.original_size)
            return up_t if threshold is None else up_t > threshold
        b, c = low_res.shape[:2]
        flat = low_res.detach().float().reshape(b * c, low_res.shape[-2], low_res.shape[-1]).numpy()
        up = upscale_logits(
            flat, self.model.image_size, self.input_size, self.original_size, threshold=threshold
        )
        return torch.from_numpy(up).view(b, c, *self.original_size)


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
