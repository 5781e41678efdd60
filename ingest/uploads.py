"""The upload feature's services, on ``app[UPLOADS]`` while the application runs
(:mod:`enlarger.ingest.feature` sets them up), and what it needs of views (:class:`Renders`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from aiohttp import web

from enlarger.db import ImagePreview
from enlarger.ingest.service import IngestService


class Renders(Protocol):
    """What uploads need of the view feature."""

    def offer(self, image_id: str) -> int:
        """Render the eager sizes of a new upload in the background, if idle."""
        ...

    async def known_undecodable(self, image_id: str) -> bool: ...

    async def preview(self, image_id: str) -> ImagePreview | None:
        """Make the image's placeholder now (for an image stored without one), or None when
        it cannot be made now (renderer full, undecodable, backend away)."""
        ...


@dataclass(frozen=True, slots=True)
class Uploads:
    ingest: IngestService
    renders: Renders


UPLOADS: web.AppKey[Uploads] = web.AppKey("uploads", Uploads)
