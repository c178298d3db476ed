"""Propagate one annotated object to other images with PerSAM (Qt-free glue for the app and the CLI).

From a reference image and one object mask, :func:`propagate` yields, image by image, proposals for the same
object on target images (loaded lazily, one at a time): PerSAM, or PerSAM-F with ``fine_tune``, searching for
several instances per image (:mod:`sam_model.persam.multi`). :func:`propagate_instance` does the same from a
project instance. Both need a SAM predictor: the classical engine has no image features to compare, and
:class:`SamRequiredError` says so.

Results are plain values (COCO RLE masks): the UI turns them into review proposals
(:meth:`PropagationProposal.to_draft`), the CLI into a COCO file.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from annotator.core.embedding_cache import EmbeddingCache, image_key
from annotator.core.errors import CoreError, ImageLoadError, ModelError
from annotator.core.images import load_image
from annotator.core.masks import Mask, encode_rle
from annotator.core.model import Project
from annotator.core.review_proposal import ProposalDraft
from sam_model.errors import SamModelError
from sam_model.persam.multi import SearchOptions, find_instances
from sam_model.persam.persam import PersamReference, learn_reference
from sam_model.persam.persam_f import DEFAULT_STEPS, learn_mask_weights
from sam_model.sam.predictor import SamPredictor

SOURCE_PERSAM = "persam"
SOURCE_PERSAM_F = "persam-f"

Progress = Callable[[int, int], None]
"""``progress(done, total)``: target images finished so far, of ``total``."""
Cancel = Callable[[], bool]
"""``cancel() -> True`` stops the propagation before the next image."""
ImageSetter = Callable[[str, np.ndarray], None]
"""``set_image(file_name, rgb)``: make ``rgb`` (``H x W x 3`` uint8) the predictor's current image, e.g.
restoring a cached embedding (:func:`cached_image_setter`) instead of encoding it again."""
ImageLoader = Callable[[], np.ndarray]
"""Loads one target image (``H x W x 3`` uint8 RGB) when called; raises ``ImageLoadError`` on a bad file."""


class PropagationError(CoreError):
    """Propagation cannot run (bad reference, wrong engine)."""


class SamRequiredError(PropagationError):
    """The engine is not SAM (e.g. the classical engine): PerSAM needs a SAM checkpoint's image features."""


@dataclass(frozen=True)
class PropagationOptions:
    """Settings of a propagation.

    Attributes:
        fine_tune: PerSAM-F (learned mask-scale weights, fitted once on the reference) instead of PerSAM.
        search: multi-instance stop conditions (count, similarity floor, overlap).
        fit_steps: PerSAM-F optimisation steps.
    """

    fine_tune: bool = False
    search: SearchOptions = field(default_factory=SearchOptions)
    fit_steps: int = DEFAULT_STEPS

    @property
    def source(self) -> str:
        return SOURCE_PERSAM_F if self.fine_tune else SOURCE_PERSAM


@dataclass(frozen=True)
class PropagationProposal:
    """One object found on a target image.

    Attributes:
        file_name: the target image key. rle: COCO compressed RLE ``{"size": [H, W], "counts": str}``.
        score: the cosine similarity at the object's positive point, clipped to ``[0, 1]``.
        source: ``persam`` or ``persam-f``. category_id: the reference object's category (suggested).
        provenance: JSON facts: reference image and instance, similarity, predicted IoU, point, rank on the
            image, why the search on this image stopped.
    """

    file_name: str
    rle: dict[str, Any]
    score: float
    source: str
    category_id: int | None
    provenance: Mapping[str, Any]

    @property
    def mask(self) -> Mask:
        return Mask(self.rle)

    def to_draft(self) -> ProposalDraft:
        """The review-queue draft of this proposal."""
        return ProposalDraft(self.mask, self.score, self.source, self.category_id, dict(self.provenance))


@dataclass(frozen=True)
class ImageOutcome:
    """What propagation found on one target image: its proposals (possibly none) and why the search stopped,
    or the ``error`` (one line, naming the file) that made it skip the image."""

    file_name: str
    proposals: tuple[PropagationProposal, ...] = ()
    stop_reason: str | None = None
    error: str | None = None


PERSAM_NOT_FOR_SAM2 = (
    "PerSAM (find similar / propagate) is not available with a SAM 2 / SAM 2.1 checkpoint: it steers SAM's "
    "mask decoder with target-guided attention, which this app's SAM 2 decoder does not offer. Load a SAM "
    "(vit_b / vit_l / vit_h) or MobileSAM (vit_t) checkpoint to use it"
)


def persam_unavailable_reason(segmenter: object) -> str | None:
    """Why PerSAM cannot run on ``segmenter`` (a sentence for the user), or ``None`` when it can: SAM v1 and
    MobileSAM predictors can; SAM 2 / 2.1 and the classical engine cannot."""
    if isinstance(segmenter, SamPredictor):
        return None
    if type(segmenter).__module__.startswith("sam_model.sam2"):
        return PERSAM_NOT_FOR_SAM2
    return (
        f"propagation (PerSAM) needs a SAM or MobileSAM checkpoint, but the current engine is "
        f"{type(segmenter).__name__}: load one with File > Load checkpoint (CLI: --checkpoint PATH)"
    )


def require_sam(segmenter: object) -> SamPredictor:
    """The segmenter as a SAM (v1 or MobileSAM) predictor, or :class:`SamRequiredError` saying why not
    (the classical engine has no features; SAM 2's decoder has no target-guided attention)."""
    reason = persam_unavailable_reason(segmenter)
    if reason is not None or not isinstance(segmenter, SamPredictor):
        raise SamRequiredError(reason or "PerSAM needs a SAM predictor")
    return segmenter


def cached_image_setter(predictor: SamPredictor, cache: EmbeddingCache) -> ImageSetter:
    """An :data:`ImageSetter` that restores cached embeddings and caches new ones."""

    def set_image(file_name: str, rgb: np.ndarray) -> None:
        del file_name  # the cache is keyed by the pixels, not the name
        key = image_key(rgb)
        cached = cache.get(key, predictor.model_id)
        if cached is not None:
            predictor.set_embedding(cached)
            return
        predictor.set_image(rgb)
        cache.put(key, predictor.get_embedding())

    return set_image


def prepare_reference(
    predictor: SamPredictor,
    image: np.ndarray,
    mask: np.ndarray,
    options: PropagationOptions,
    *,
    set_image: ImageSetter | None = None,
    file_name: str = "",
) -> PersamReference:
    """Encode the reference image, compute its target embedding and, for PerSAM-F, fit the mask weights."""
    mask_arr = np.asarray(mask, dtype=bool)
    if mask_arr.shape != image.shape[:2]:
        raise PropagationError(f"reference mask {mask_arr.shape} does not match the image {image.shape[:2]}")
    if not mask_arr.any():
        raise PropagationError("the reference mask is empty")
    (set_image or (lambda _name, rgb: predictor.set_image(rgb)))(file_name, image)
    try:
        reference = learn_reference(predictor, mask_arr)
        if options.fine_tune:
            reference, _ = learn_mask_weights(predictor, reference, mask_arr, steps=options.fit_steps)
    except SamModelError as exc:
        raise PropagationError(f"reference {file_name or 'object'}: {exc}") from exc
    return reference


def propagate(
    segmenter: object,
    ref_image: np.ndarray,
    ref_mask: np.ndarray,
    targets: Iterable[tuple[str, ImageLoader]],
    *,
    options: PropagationOptions | None = None,
    category_id: int | None = None,
    provenance: Mapping[str, Any] | None = None,
    set_image: ImageSetter | None = None,
    progress: Progress | None = None,
    cancel: Cancel | None = None,
    total: int | None = None,
) -> Iterator[ImageOutcome]:
    """Find the reference object on each target image; yields one :class:`ImageOutcome` per image.

    Args:
        segmenter: a :class:`SamPredictor` (else :class:`SamRequiredError`). Not thread-safe: call from the
            thread that owns it.
        ref_image: ``H x W x 3`` uint8 RGB reference image; ref_mask: ``H x W`` bool object mask.
        targets: ``(file_name, loader)`` pairs; each image is loaded only when its turn comes.
        options: PerSAM / PerSAM-F and the stop conditions. category_id: suggested category of the proposals.
        provenance: facts copied into every proposal's provenance (e.g. the reference's name and id).
        set_image: how to set an image on the predictor (default ``predictor.set_image``).
        progress: called with ``(done, total)`` after the reference and after each target image
            (``total`` defaults to ``len(targets)`` when it has one, else ``-1``).
        cancel: polled before each image; ``True`` ends the iteration.
    """
    predictor = require_sam(segmenter)  # checked at the call, not at the first image
    if total is None:
        total = len(targets) if isinstance(targets, Sequence) else -1
    return _run(
        predictor,
        ref_image,
        ref_mask,
        targets,
        options or PropagationOptions(),
        category_id,
        dict(provenance or {}),
        set_image or (lambda _name, rgb: predictor.set_image(rgb)),
        progress,
        cancel,
        total,
    )


def _run(
    predictor: SamPredictor,
    ref_image: np.ndarray,
    ref_mask: np.ndarray,
    targets: Iterable[tuple[str, ImageLoader]],
    options: PropagationOptions,
    category_id: int | None,
    facts: dict[str, Any],
    set_image: ImageSetter,
    progress: Progress | None,
    cancel: Cancel | None,
    total: int,
) -> Iterator[ImageOutcome]:
    if cancel is not None and cancel():
        return
    ref_name = str(facts.get("ref_image", ""))
    reference = prepare_reference(
        predictor, ref_image, ref_mask, options, set_image=set_image, file_name=ref_name
    )
    done = 0
    if progress is not None:
        progress(done, total)
    for file_name, loader in targets:
        if cancel is not None and cancel():
            return
        yield _one_image(predictor, reference, file_name, loader, options, set_image, category_id, facts)
        done += 1
        if progress is not None:
            progress(done, total)


def _one_image(
    predictor: SamPredictor,
    reference: PersamReference,
    file_name: str,
    loader: ImageLoader,
    options: PropagationOptions,
    set_image: ImageSetter,
    category_id: int | None,
    facts: Mapping[str, Any],
) -> ImageOutcome:
    try:
        rgb = loader()
        set_image(file_name, rgb)
    except ImageLoadError as exc:
        return ImageOutcome(file_name, error=str(exc))
    except SamModelError as exc:  # an image the engine rejects (ImageError...), named here
        return ImageOutcome(file_name, error=f"{file_name}: {exc}")
    found = find_instances(predictor, reference, options.search, fine_tune=options.fine_tune)
    proposals = []
    for rank, result in enumerate(found.instances):
        info = dict(facts)
        info.update(
            method=options.source,
            similarity=round(result.similarity, 6),
            predicted_iou=round(result.score, 6),
            point=[int(result.points[0, 0]), int(result.points[0, 1])],
            rank=rank,
            stop_reason=found.stop_reason.value,
        )
        proposals.append(
            PropagationProposal(
                file_name=file_name,
                rle=encode_rle(result.mask),
                score=float(min(1.0, max(0.0, result.similarity))),
                source=options.source,
                category_id=category_id,
                provenance=info,
            )
        )
    return ImageOutcome(file_name, tuple(proposals), found.stop_reason.value)


def propagate_instance(
    project: Project,
    segmenter: object,
    ref_file_name: str,
    instance_id: int,
    *,
    targets: Sequence[str] | None = None,
    options: PropagationOptions | None = None,
    set_image: ImageSetter | None = None,
    progress: Progress | None = None,
    cancel: Cancel | None = None,
) -> Iterator[ImageOutcome]:
    """:func:`propagate` from a project instance to other images of the project.

    Args:
        ref_file_name / instance_id: the reference image key and the object on it.
        targets: image keys to search (default: every image of the project but the reference; the reference
            is always excluded).
    Raises:
        ``ModelError`` for an unknown image or instance, :class:`SamRequiredError` for a non-SAM engine,
        ``ImageLoadError`` when the reference image cannot be read, :class:`PropagationError` for an unusable
        reference mask. Target images that cannot be read are reported in their :class:`ImageOutcome`.
    """
    require_sam(segmenter)
    record = project.image(ref_file_name)
    instance = record.instance(instance_id)
    keys = [r.file_name for r in project.images] if targets is None else list(targets)
    for key in keys:
        if not project.has_image(key):
            raise ModelError(f"no image {key!r} in the project")
    keys = [k for k in keys if k != ref_file_name]
    ref_rgb = load_image(project.root / ref_file_name).rgb
    mask = instance.mask.array()
    if mask.shape != ref_rgb.shape[:2]:
        raise PropagationError(
            f"{ref_file_name}: object {instance_id} mask {mask.shape} does not match the image "
            f"{ref_rgb.shape[:2]} (the file changed since it was annotated?)"
        )
    pairs = [(key, _loader(project, key)) for key in keys]
    return propagate(
        segmenter,
        ref_rgb,
        mask,
        pairs,
        options=options,
        category_id=instance.category_id,
        provenance={"ref_image": ref_file_name, "ref_instance_id": instance_id},
        set_image=set_image,
        progress=progress,
        cancel=cancel,
        total=len(pairs),
    )


def _loader(project: Project, key: str) -> ImageLoader:
    path = project.root / key
    return lambda: load_image(path).rgb
