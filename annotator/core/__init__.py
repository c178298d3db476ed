"""Qt-free core: documents, annotations, categories, prompts, undo, image loading, COCO and project files."""
