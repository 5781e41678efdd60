"""The long-lived services of one application, reached by routes through a typed AppKey."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from enlarger.blobs import BlobStore
from enlarger.cache.tiered import TieredCache
from enlarger.db import Repository
from enlarger.db.analytics import Analytics
from enlarger.ingest.deletion import DeletionService
from enlarger.ingest.service import IngestService
from enlarger.origin import ORIGIN
from enlarger.proxy.prerender import Prerender
from enlarger.proxy.renderer import Renderer
from enlarger.proxy.service import VariantService
from enlarger.proxy.signing import Signer
from enlarger.proxy.spec import SpecCache, ViewPolicy
from enlarger.ratelimit import RateLimits
from enlarger.settings import Settings


@dataclass(frozen=True, slots=True)
class Services:
    settings: Settings
    repo: Repository
    blobs: BlobStore
    cache: TieredCache
    renderer: Renderer
    ingest: IngestService
    variants: VariantService
    prerender: Prerender
    policy: ViewPolicy
    specs: SpecCache
    analytics: Analytics
    limits: RateLimits
    signer: Signer
    exact_specs: SpecCache  # for signed URLs: exact sizes and qualities
    deletion: DeletionService


SETTINGS: web.AppKey[Settings] = web.AppKey("settings", Settings)
SERVICES: web.AppKey[Services] = web.AppKey("services", Services)


def base_url(request: web.Request) -> str:
    """``ENLARGER_PUBLIC_URL`` when set, else the scheme and host the request came in on
    (through a trusted proxy: the ones it forwarded; see :mod:`enlarger.origin`)."""
    return request.app[ORIGIN].base_url(request)
