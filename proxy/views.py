"""The view feature's services, on ``app[VIEWS]`` while the application runs
(:mod:`enlarger.proxy.feature` sets them up)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from aiohttp import web

from enlarger import traces
from enlarger.db import ImagePreview
from enlarger.proxy.meta import MetaService
from enlarger.proxy.prerender import Prerender
from enlarger.proxy.preview import make_preview
from enlarger.proxy.renderer import Renderer
from enlarger.proxy.service import VariantService
from enlarger.proxy.signing import Signer
from enlarger.proxy.spec import SpecCache, ViewPolicy


@dataclass(frozen=True, slots=True)
class Views:
    """What the view route (and the pages, and the upload feature through the top floor) use."""

    variants: VariantService
    renderer: Renderer
    prerender: Prerender
    policy: ViewPolicy
    specs: SpecCache
    exact_specs: SpecCache  # for signed URLs: exact sizes and qualities
    signer: Signer
    meta: MetaService  # GET /v1/images/<id>/meta

    # What uploads and deletion ask of views (``ingest.uploads.Renders``,
    # ``deletion.feature.Keepers``), handed over by the top floor: neither imports this one.
    def offer(self, image_id: str) -> int:
        return self.prerender.offer(image_id)

    async def known_undecodable(self, image_id: str) -> bool:
        return await self.variants.known_undecodable(image_id)

    async def preview(self, image_id: str) -> ImagePreview | None:
        return await make_preview(self.variants, self.renderer, self.specs, image_id)

    def marks(self) -> Sequence[traces.Forgets]:
        return self.variants.shared_traces

    def forget_local(self, image_id: str) -> None:
        self.variants.masters.forget(image_id)


VIEWS: web.AppKey[Views] = web.AppKey("views", Views)
