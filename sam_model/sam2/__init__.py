"""SAM 2 / SAM 2.1 image path: the Hiera trunk and FPN neck image encoder (``image_encoder``), and the rest of the
image predictor built on it."""
