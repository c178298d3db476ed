"""How accepted objects are drawn over the image (a view setting of the session, Qt-free)."""

from __future__ import annotations

from dataclasses import dataclass, replace

DEFAULT_OPACITY = 0.43


@dataclass(frozen=True)
class OverlayStyle:
    """Attributes:
    opacity: fill opacity of the objects, 0 (transparent) to 1 (opaque).
    outline_only: draw the outlines without fills.
    hide_all: draw no object at all (fills and outlines; the live mask is still shown).
    """

    opacity: float = DEFAULT_OPACITY
    outline_only: bool = False
    hide_all: bool = False

    def with_opacity(self, opacity: float) -> OverlayStyle:
        return replace(self, opacity=min(1.0, max(0.0, float(opacity))))

    @property
    def fill_alpha(self) -> int:
        """Alpha (0-255) of an object's fill; 0 when only outlines (or nothing) are drawn."""
        return 0 if self.outline_only or self.hide_all else round(self.opacity * 255)

    @property
    def selected_alpha(self) -> int:
        """Alpha of the selected object's fill: more opaque than the others, never invisible unless hidden."""
        if self.hide_all:
            return 0
        return min(255, max(self.fill_alpha + 90, 140 if not self.outline_only else 60))
