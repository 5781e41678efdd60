"""The variant service: the only place that knows the tier order.

memory LRU → Redis → stored variant (blob store) → render (single-flight, bounded pool).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from cache.tiered import TieredCache
from db import Repository, Variant
from enlarger import ids
from enlarger.blobs import BlobStore
from enlarger.errors import ImageNotFound
from enlarger.metrics import Metrics
from ingest.sniff import sniff
from proxy.pipeline import MIME_TYPES, Rendered, RenderOptions, render
from proxy.renderer import Renderer
from proxy.singleflight import SingleFlight
from proxy.spec import VariantSpec

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Served:
    data: bytes
    content_type: str
    tier: str  # memory, redis, store, render
    render_seconds: float | None = None


def etag_for(image_id: str, spec: VariantSpec) -> str:
    """Strong ETag from the canonical key alone: computed without reading any bytes."""
    digest = hashlib.blake2b(f"{image_id}/{spec.key}".encode(), digest_size=12).hexdigest()
    return f'"{digest}"'


def content_type_of(data: bytes) -> str:
    """From the encoded bytes themselves, never from the request."""
    return MIME_TYPES.get(sniff(data[:64]), "application/octet-stream")


class VariantService:
    def __init__(
        self,
        blobs: BlobStore,
        cache: TieredCache,
        repo: Repository,
        renderer: Renderer,
        options: RenderOptions,
        metrics: Metrics,
    ) -> None:
        self._blobs = blobs
        self._cache = cache
        self._repo = repo
        self._renderer = renderer
        self._options = options
        self._metrics = metrics
        self._flights: SingleFlight[Served] = SingleFlight()

    async def get(self, image_id: str, spec: VariantSpec) -> Served:
        cache_key = f"v:{image_id}:{spec.key}"
        hit = await self._cache.lookup(cache_key)
        if hit is not None:
            return self._served(hit[0], hit[1])
        stored = await self._blobs.get(ids.variant_key(image_id, spec.key))
        if stored is not None:
            await self._cache.set(cache_key, stored)
            return self._served(stored, "store")
        served, shared = await self._flights.run(
            cache_key, lambda: self._render(image_id, spec, cache_key)
        )
        if shared:
            self._metrics.singleflight_waits.inc()
        return served

    def _served(self, data: bytes, tier: str) -> Served:
        self._metrics.cache_hits.labels(tier=tier).inc()
        return Served(data=data, content_type=content_type_of(data), tier=tier)

    async def _render(self, image_id: str, spec: VariantSpec, cache_key: str) -> Served:
        original = await self._blobs.get(ids.original_key(image_id))
        if original is None:
            raise ImageNotFound("no image with this id", id=image_id)
        self._metrics.render_queue.set(self._renderer.in_flight + 1)
        rendered, seconds = await self._renderer.run(
            render, original, sniff(original[:64]), spec, self._options
        )
        self._metrics.render_queue.set(self._renderer.in_flight)
        self._metrics.renders.labels(format=rendered.format).inc()
        self._metrics.render_seconds.observe(seconds)
        await self._blobs.put(
            ids.variant_key(image_id, spec.key), rendered.data, MIME_TYPES[rendered.format]
        )
        await self._cache.set(cache_key, rendered.data)
        await self._record(image_id, spec, rendered)
        return Served(rendered.data, MIME_TYPES[rendered.format], "render", seconds)

    async def _record(self, image_id: str, spec: VariantSpec, rendered: Rendered) -> None:
        """The variants table is bookkeeping: its failure must not fail the view."""
        variant = Variant(
            image_id=image_id,
            key=spec.key,
            format=rendered.format,
            width=rendered.width,
            height=rendered.height,
            bytes=len(rendered.data),
            created_at=datetime.now(UTC),
        )
        try:
            await self._repo.record_variant(variant)
        except Exception:
            log.warning("could not record variant %s/%s", image_id, spec.key, exc_info=True)
