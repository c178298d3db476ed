"""One-shot personalisation (PerSAM): ``persam`` (reference learning and the training-free search),
``persam_f`` (PerSAM-F's fitted mask weights), ``multi`` (several instances per image and stop rules)."""
