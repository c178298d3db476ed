"""The official checkpoints a user can download: SAM v1, MobileSAM, SAM 2 and SAM 2.1 (no Qt, no torch).

Addresses and SHA-256 as published by the upstream projects (tested against
``shared/reference/sam/checkpoints.json``). SAM 2 / 2.1 checkpoints have no published SHA-256: a download of
one is accepted once it loads as the expected architecture, and its checksum is recorded then
(``annotator.core.model_manager``). The encoder compute figures are per 1024 x 1024 image (issue 10).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class OfficialModel:
    """One official checkpoint as published by the upstream project.

    Attributes:
        name: the preset name, also the architecture the file must load as (``vit_b``, ``vit_t``,
            ``sam2.1_hiera_tiny``...).
        file: file name of the checkpoint.
        url: download address.
        sha256: hex SHA-256 of the file; ``None`` where upstream publishes none (SAM 2 / 2.1).
        bytes: exact file size in bytes where published, else ``None``.
        family: ``"SAM"``, ``"MobileSAM"``, ``"SAM 2"`` or ``"SAM 2.1"``.
        approx_size: the download size for people (``"about 149 MB"``).
        good_for: one line on speed against quality.
        recommended: offered first to a new user (small and good).
    """

    name: str
    file: str
    url: str
    sha256: str | None
    bytes: int | None = None
    family: str = "SAM"
    approx_size: str = ""
    good_for: str = ""
    recommended: bool = False


_SAM = "https://dl.fbaipublicfiles.com/segment_anything/"
_SAM2 = "https://dl.fbaipublicfiles.com/segment_anything_2/072824/"
_SAM21 = "https://dl.fbaipublicfiles.com/segment_anything_2/092824/"
_SAM2_SIZES = {
    "tiny": "about 149 MB",
    "small": "about 176 MB",
    "base_plus": "about 309 MB",
    "large": "about 857 MB",
}
_SAM21_GOOD_FOR = {
    "tiny": "fast (205 GFLOP per image) with better masks than SAM ViT-H: the best start on a CPU",
    "small": "fast (267 GFLOP), a little better than tiny",
    "base_plus": "better masks at 2.5x tiny's compute (528 GFLOP): a GPU or a patient CPU",
    "large": "the best masks, the slowest (1,618 GFLOP): for a GPU",
}


def _sam2(version: str, size: str) -> OfficialModel:
    prefix = "sam2.1" if version == "2.1" else "sam2"
    name = f"{prefix}_hiera_{size}"
    good_for = _SAM21_GOOD_FOR[size]
    if version == "2":
        good_for = (
            f"first SAM 2 release: as fast as SAM 2.1 {size}, slightly weaker masks; to reproduce old results"
        )
    return OfficialModel(
        name=name,
        file=f"{name}.pt",
        url=f"{_SAM21 if version == '2.1' else _SAM2}{name}.pt",
        sha256=None,
        family=f"SAM {version}",
        approx_size=_SAM2_SIZES[size],
        good_for=good_for,
        recommended=version == "2.1" and size == "tiny",
    )


OFFICIAL_MODELS: dict[str, OfficialModel] = {
    m.name: m
    for m in (
        OfficialModel(
            name="vit_t",
            file="mobile_sam.pt",
            url="https://github.com/ChaoningZhang/MobileSAM/raw/master/weights/mobile_sam.pt",
            sha256="6dbb90523a35330fedd7f1d3dfc66f995213d81b29a5ca8108dbcdd4e37d6c2f",
            family="MobileSAM",
            approx_size="about 41 MB",
            good_for="the fastest (78 GFLOP per image, 12x less than SAM ViT-B): any CPU, masks close to ViT-B",
            recommended=True,
        ),
        *(_sam2("2.1", size) for size in _SAM2_SIZES),
        OfficialModel(
            name="vit_b",
            file="sam_vit_b_01ec64.pth",
            url=f"{_SAM}sam_vit_b_01ec64.pth",
            sha256="ec2df62732614e57411cdcf32a23ffdf28910380d03139ee0f4fcbe91eb8c912",
            approx_size="about 375 MB",
            good_for="original SAM (972 GFLOP): slower than SAM 2.1 tiny for weaker masks",
        ),
        OfficialModel(
            name="vit_l",
            file="sam_vit_l_0b3195.pth",
            url=f"{_SAM}sam_vit_l_0b3195.pth",
            sha256="3adcc4315b642a4d2101128f611684e8734c41232a17c648ed1693702a49a622",
            approx_size="about 1.25 GB",
            good_for="original SAM, large: better than ViT-B, several times slower; for a GPU",
        ),
        OfficialModel(
            name="vit_h",
            file="sam_vit_h_4b8939.pth",
            url=f"{_SAM}sam_vit_h_4b8939.pth",
            sha256="a7bf3b02f3ebf1267aba913ff637d9a2d5c33d3173bb679e46d9f338c26f262e",
            bytes=2564550879,
            approx_size="about 2.56 GB",
            good_for="original SAM, huge: its best masks, the slowest; for a GPU (SAM 2.1 does better)",
        ),
        *(_sam2("2", size) for size in _SAM2_SIZES),
    )
}
"""Every official checkpoint, in the order the model list shows them (small and recommended first)."""


def recommended_models() -> list[OfficialModel]:
    """The models offered to a user who has none yet: the small ones (MobileSAM, SAM 2.1 tiny)."""
    return [m for m in OFFICIAL_MODELS.values() if m.recommended]
