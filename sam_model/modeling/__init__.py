"""Our PyTorch implementation of the SAM architecture, with the official checkpoints' state-dict layout."""

from sam_model.modeling.image_encoder import ImageEncoderViT
from sam_model.modeling.mask_decoder import MaskDecoder
from sam_model.modeling.prompt_encoder import PositionEmbeddingRandom, PromptEncoder
from sam_model.modeling.sam import PIXEL_MEAN, PIXEL_STD, Sam
from sam_model.modeling.transformer import Attention, TwoWayTransformer

__all__ = [
    "PIXEL_MEAN",
    "PIXEL_STD",
    "Attention",
    "ImageEncoderViT",
    "MaskDecoder",
    "PositionEmbeddingRandom",
    "PromptEncoder",
    "Sam",
    "TwoWayTransformer",
]
