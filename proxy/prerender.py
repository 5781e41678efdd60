"""Sizes rendered right after an upload, ahead of their first view (``ENLARGER_PRERENDER_SIZES``).

Off by default: like Cloudinary's eager transformations it is the operator's choice, since it
spends a render on every upload, viewed or not. Most links are opened within seconds of their
upload (the upload page shows the image at once, a shared link is opened by many at once), so
rendering ``large`` then takes the render off the first viewer's path; with kept masters it also
makes the master, so that every other size of the image is cheap from its first view.

A prerender is an ordinary view's render (one render per variant however many ask: a view that
arrives mid-render waits for it, and then it is stored and cached as any variant), started in
the background after the upload is recorded, so the link never waits for it. Bounded: at most
``limit`` in flight per process, and dropped, never queued, while more than half the renderer's
queue is taken (the rest is kept for views), and for an identical upload (the image and its
sizes exist already). A view's render queued behind a prerender waits no longer than behind
the render of that link's own first view: with the setting on, each link is expected to be
opened. A prerender that fails is logged and forgotten: the first view renders, and answers,
as it would have.
"""

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
