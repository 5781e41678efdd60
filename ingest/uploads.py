"""The upload feature's services, on ``app[UPLOADS]`` while the application runs
(:mod:`enlarger.ingest.feature` sets them up), and what it needs of views (:class:`Renders`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from aiohttp import web

from enlarger import traces
from enlarger.ingest.deletion import DeletionService
from enlarger.ingest.service import IngestService


class Renders(Protocol):
    """What uploads and deletion need of the view feature."""

    def offer(self, image_id: str) -> int:
        """Render the eager sizes of a new upload in the background, if idle."""
        ...

    async def known_undecodable(self, image_id: str) -> bool: ...

    def marks(self) -> Sequence[traces.Forgets]:
        """The shared places besides the cache and the blob store that keep something of an
        image (the variant budget, the undecodable mark): a deletion clears them."""
        ...

    def forget_local(self, image_id: str) -> None:
        """Drop what this process keeps of an image outside its memory tier."""
        ...


@dataclass(frozen=True, slots=True)
class Uploads:
    ingest: IngestService
    deletion: DeletionService
    renders: Renders


UPLOADS: web.AppKey[Uploads] = web.AppKey("uploads", Uploads)
