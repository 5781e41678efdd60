"""Sizes rendered right after an upload (``ENLARGER_PRERENDER_SIZES``, off by default): an ordinary
render started in the background, never awaited by the upload; at most ``limit`` per process,
dropped (never queued) while half the render queue is taken or for an identical upload, and a
failure is logged and forgotten (docs/architecture.md)."""

from __future__ import annotations

import logging

from enlarger.errors import EnlargerError
from enlarger.metrics import Metrics
from enlarger.proxy.renderer import Renderer
from enlarger.proxy.service import VariantService
from enlarger.proxy.spec import VariantSpec
from enlarger.proxy.writeback import Writeback

log = logging.getLogger(__name__)
DEFAULT_LIMIT = 8


class Prerender:
    def __init__(
        self,
        variants: VariantService,
        renderer: Renderer,
        specs: tuple[VariantSpec, ...],
        metrics: Metrics,
        limit: int = DEFAULT_LIMIT,
    ) -> None:
        self._variants = variants
        self._renderer = renderer
        self._specs = specs
        self._metrics = metrics
        self._tasks = Writeback(limit, what="prerender")

    def offer(self, image_id: str) -> int:
        """Start the prerenders of a new image where there is room; how many started."""
        started = 0
        for spec in self._specs:
            if not self._room():
                self._metrics.prerenders.labels("dropped").inc()
                continue
            self._tasks.start(self._render(image_id, spec))
            started += 1
        return started

    def _room(self) -> bool:
        renderer = self._renderer
        room = renderer.in_flight < renderer.threads + (renderer.capacity - renderer.threads) // 2
        return room and self._tasks.room()

    async def _render(self, image_id: str, spec: VariantSpec) -> None:
        try:
            served = await self._variants.get(image_id, spec)
        except EnlargerError as exc:  # e.g. undecodable, deleted meanwhile, overloaded
            self._metrics.prerenders.labels("failed").inc()
            log.info("prerender of %s %s: %s %s", image_id, spec.key, exc.status, exc.code)
        except Exception:
            self._metrics.prerenders.labels("failed").inc()
            log.exception("prerender of %s %s failed", image_id, spec.key)
        else:
            self._metrics.prerenders.labels(served.tier).inc()

    async def settle(self) -> None:
        """Wait for the prerenders started so far (tests, benchmarks)."""
        await self._tasks.settle()

    async def close(self) -> None:
        """At shutdown: a prerender is never worth waiting for (the first view makes it)."""
        await self._tasks.close(0)
