"""Overload fallback: the nearest already-stored variant of the same image, every part of the asked
spec kept but the size; looked for in memory first, then by a handful of blob-store ``exists`` in
parallel, with no CPU (docs/operations.md, "Overload fallback"; docs/architecture.md).
"""

from __future__ import annotations

import asyncio
import logging
import math
from dataclasses import replace

from enlarger import ids, traces
from enlarger.blobs import BlobStore
from enlarger.cache.tiered import TieredCache
from enlarger.errors import BackendUnavailable
from enlarger.proxy.spec import LOSSLESS, VariantSpec, ViewPolicy

log = logging.getLogger(__name__)

NEAREST_WIDTHS = 4  # ladder steps looked up in the blob store, besides the named sizes
STORE_LOOKUPS = 12  # at most this many blob-store lookups per fallback


variant_cache_key = traces.cache_key


def candidates(spec: VariantSpec, policy: ViewPolicy) -> list[VariantSpec]:
    """Other sizes of the same variant, nearest to the asked size first (larger on a tie)."""
    target = _size(spec, policy)
    default = policy.default_quality
    found: dict[str, VariantSpec] = {}
    qualities = (spec.quality,) if spec.format in LOSSLESS else (spec.quality, default)
    for quality in dict.fromkeys(qualities):
        for width, box in _geometries(policy):
            candidate = _resized(replace(spec, quality=quality), width, box)
            if candidate.key != spec.key:
                found.setdefault(candidate.key, candidate)
    return sorted(found.values(), key=lambda c: _distance(_size(c, policy), target))


def _geometries(policy: ViewPolicy) -> list[tuple[int | None, int | None]]:
    widths: list[tuple[int | None, int | None]] = [(w, None) for w in policy.width_ladder]
    boxes: list[tuple[int | None, int | None]] = [(None, b) for b in policy.named_sizes.values()]
    return [*boxes, (None, None), *widths]


def _resized(spec: VariantSpec, width: int | None, box: int | None) -> VariantSpec:
    return replace(spec, width=width, height=None, box=box).canonical()


def _size(spec: VariantSpec, policy: ViewPolicy) -> int:
    """The longest side asked for, roughly (the original's size is not known here)."""
    sides = [side for side in (spec.width, spec.height, spec.box) if side]
    return max(sides) if sides else policy.max_side


def _distance(size: int, target: int) -> tuple[float, int]:
    return abs(math.log(size / target)), 0 if size >= target else 1


def _worth_a_store_lookup(spec: VariantSpec, nearest_widths: set[int]) -> bool:
    return spec.width is None or spec.width in nearest_widths


class Fallback:
    def __init__(self, blobs: BlobStore, cache: TieredCache, policy: ViewPolicy) -> None:
        self._blobs = blobs
        self._cache = cache
        self._policy = policy

    async def find(self, image_id: str, spec: VariantSpec) -> tuple[VariantSpec, bytes] | None:
        """The nearest stored stand-in for ``spec`` and its bytes, or ``None``."""
        options = candidates(spec, self._policy)
        for candidate in options:
            data = self._cache.memory.get_now(variant_cache_key(image_id, candidate.key))
            if data is not None:
                return candidate, data
        try:
            return await self._from_store(image_id, self._store_candidates(options))
        except BackendUnavailable:
            log.warning("blob store unavailable while looking for a fallback", exc_info=True)
            return None

    def _store_candidates(self, options: list[VariantSpec]) -> list[VariantSpec]:
        widths = [c.width for c in options if c.width is not None]
        nearest = set(list(dict.fromkeys(widths))[:NEAREST_WIDTHS])
        return [c for c in options if _worth_a_store_lookup(c, nearest)][:STORE_LOOKUPS]

    async def _from_store(
        self, image_id: str, options: list[VariantSpec]
    ) -> tuple[VariantSpec, bytes] | None:
        keys = [ids.variant_key(image_id, candidate.key) for candidate in options]
        present = await asyncio.gather(*(self._blobs.exists(key) for key in keys))
        for candidate, key, exists in zip(options, keys, present, strict=True):
            if exists and (data := await self._blobs.get(key)) is not None:
                return candidate, data
        return None
