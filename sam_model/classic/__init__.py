"""The classical engine, used without any checkpoint: ``segmenter`` (interactive graph cut behind the segmenter
protocol), ``auto`` (automatic proposals), ``graph`` (the energy and its cut), ``io`` (image and mask resampling)."""
