"""SAM v1 (ViT-B/L/H) and MobileSAM: our PyTorch implementation with the official checkpoints' state-dict layout.

One public component per module: ``image_encoder`` (ViT), ``prompt_encoder``, ``transformer`` (two-way),
``mask_decoder``, ``model`` (the ``Sam`` module), ``config`` (architectures and presets), ``build`` (construction,
preset detection), ``predictor`` (``SamPredictor``). Import from those modules: this package imports nothing, so
``sam_model.sam.config`` stays torch-free.
"""
