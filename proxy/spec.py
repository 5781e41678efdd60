"""Query string → canonical, versioned variant spec.

Unknown and duplicate parameters are refused (400). Widths snap up to a ladder and qualities to
a step, so that arbitrary values cannot create unbounded variants. The key never contains the raw
query string.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from enlarger.errors import DuplicateParameter, InvalidParameter, UnknownParameter

# Bump when a change to the pipeline changes the pixels of an existing spec: every key (and so
# every ETag and stored variant name) changes with it.
PIPELINE_VERSION = 1

SIZE_NAMES = ("small", "medium", "large", "original")
OUTPUT_FORMATS = ("jpeg", "png", "webp", "avif", "gif")
ALLOWED_PARAMETERS = ("size", "w", "q", "fmt")
_FORMAT_ALIASES = {"jpg": "jpeg"}


@dataclass(frozen=True, slots=True)
class ViewPolicy:
    """The settings that shape specs: reported by ``GET /v1/limits``."""

    named_sizes: Mapping[str, int]
    width_ladder: Sequence[int]
    default_quality: int
    quality_step: int
    max_side: int


@dataclass(frozen=True, slots=True)
class VariantSpec:
    """What to render. ``width`` is an exact target width; ``box`` bounds both sides (named
    sizes); neither means the original size. ``format`` "same" keeps the source's format where
    browsers can show it (see the pipeline)."""

    width: int | None
    box: int | None
    quality: int
    format: str

    @property
    def key(self) -> str:
        if self.width is not None:
            geometry = f"w{self.width}"
        elif self.box is not None:
            geometry = f"b{self.box}"
        else:
            geometry = "orig"
        return f"p{PIPELINE_VERSION}.{geometry}.q{self.quality}.{self.format}"


def parse_spec(
    query: Mapping[str, str] | Sequence[tuple[str, str]], policy: ViewPolicy
) -> VariantSpec:
    params = _single_values(query)
    if "size" in params and "w" in params:
        raise InvalidParameter("use either size or w, not both", parameter="w")
    width = _width(params["w"], policy) if "w" in params else None
    box = None
    if width is None:
        box = _box(params.get("size", "large"), policy)
    quality = _quality(params["q"], policy) if "q" in params else policy.default_quality
    fmt = _format(params["fmt"]) if "fmt" in params else "same"
    return VariantSpec(width=width, box=box, quality=quality, format=fmt)


def _single_values(query: Mapping[str, str] | Sequence[tuple[str, str]]) -> dict[str, str]:
    items = query.items() if isinstance(query, Mapping) else query
    params: dict[str, str] = {}
    for name, value in items:
        if name not in ALLOWED_PARAMETERS:
            raise UnknownParameter(
                f"unknown parameter {name!r}", parameter=name, allowed=list(ALLOWED_PARAMETERS)
            )
        if name in params:
            raise DuplicateParameter(f"parameter {name!r} given more than once", parameter=name)
        params[name] = value
    return params


def _integer(name: str, raw: str, low: int, high: int) -> int:
    if not raw.isascii() or not raw.isdigit() or len(raw) > 6:
        raise InvalidParameter(f"{name} must be a whole number", parameter=name, value=raw[:32])
    value = int(raw)
    if not low <= value <= high:
        raise InvalidParameter(
            f"{name} must be between {low} and {high}", parameter=name, minimum=low, maximum=high
        )
    return value


def _width(raw: str, policy: ViewPolicy) -> int:
    requested = _integer("w", raw, 1, policy.max_side)
    return snap_width(requested, policy.width_ladder)


def snap_width(requested: int, ladder: Sequence[int]) -> int:
    """The smallest ladder step at least as wide as asked (the largest step past the top)."""
    for step in ladder:
        if step >= requested:
            return step
    return ladder[-1]


def _box(raw: str, policy: ViewPolicy) -> int | None:
    if raw == "original":
        return None
    if raw not in policy.named_sizes:
        raise InvalidParameter(
            f"size must be one of {', '.join(SIZE_NAMES)}",
            parameter="size",
            allowed=list(SIZE_NAMES),
        )
    return policy.named_sizes[raw]


def _quality(raw: str, policy: ViewPolicy) -> int:
    value = _integer("q", raw, 1, 100)
    step = policy.quality_step
    return min(100, max(step, round(value / step) * step))


def _format(raw: str) -> str:
    value = _FORMAT_ALIASES.get(raw.lower(), raw.lower())
    if value not in OUTPUT_FORMATS:
        raise InvalidParameter(
            f"fmt must be one of {', '.join(OUTPUT_FORMATS)}",
            parameter="fmt",
            allowed=list(OUTPUT_FORMATS),
        )
    return value
