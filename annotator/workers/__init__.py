"""Work off the GUI thread, answered through signals: the segment worker (which owns the interactive segmenter,
ADR 0004) and every other background job, run by the one primitive of :mod:`annotator.workers.background`
(ADR 0011). Nothing here imports :mod:`annotator.ui` (an import-linter contract)."""
