"""Automatic "segment everything": ``generator`` (``AutomaticMaskGenerator``), ``amg`` (grids, crops, RLE,
stability and the other helpers upstream's ``amg`` has), ``nms`` (batched box NMS, no torchvision)."""
