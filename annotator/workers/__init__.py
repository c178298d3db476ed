"""QThread workers that own a segmenter and talk to the GUI only through signals."""
