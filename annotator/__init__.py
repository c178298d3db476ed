"""The SAM desktop annotator: a Qt-free core, workers that own the segmenter, and the Qt widgets."""

__version__ = "0.1.0"
