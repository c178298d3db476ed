"""Dataset formats other than COCO (Qt-free): YOLO segmentation and detection, Pascal VOC, labelme JSON.

Exporters write from the same image filter and category mapping as COCO export (:mod:`annotator.core.coco`);
importers read into the same reported, idempotent and undoable merge as COCO import
(:mod:`annotator.core.coco_import`).
"""
