"""QThread workers that own a segmenter and talk to the GUI only through signals."""

from annotator.workers.pyside_compat import protect_bool_singletons

protect_bool_singletons()
