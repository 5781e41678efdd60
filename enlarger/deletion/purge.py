"""The CDN purge after an image's deletion: one POST to ``ENLARGER_PURGE_URL`` naming its surrogate
key, in a shape that both Fastly's and Cloudflare's purge-by-tag APIs read (docs/api.md). A failed
purge is logged, never an error of the deletion: the image is gone from the origin either way."""

from __future__ import annotations

import logging

import aiohttp
import orjson

from enlarger.settings import Settings, purge_header_parts
from enlarger.traces import purge_keys

log = logging.getLogger(__name__)


class Purger:
    def __init__(self, url: str | None, header: str | None, timeout: float) -> None:
        self._url = url
        self._header = purge_header_parts(header) if header else None
        self._timeout = aiohttp.ClientTimeout(total=timeout)

    @classmethod
    def from_settings(cls, settings: Settings) -> Purger:
        header = settings.purge_header.get_secret_value() if settings.purge_header else None
        return cls(settings.purge_url, header, settings.purge_timeout_seconds)

    @property
    def configured(self) -> bool:
        return self._url is not None

    def request(self, image_id: str) -> tuple[dict[str, str], bytes]:
        """The headers and JSON body of the purge of ``image_id``."""
        keys = purge_keys(image_id)
        headers = {"Content-Type": "application/json", "Surrogate-Key": keys["Surrogate-Key"]}
        if self._header is not None:
            headers[self._header[0]] = self._header[1]
        return headers, orjson.dumps({"tags": [keys["Cache-Tag"]]})

    async def purge(self, image_id: str) -> bool:
        """True when the CDN accepted the purge (2xx)."""
        if self._url is None:
            return False
        headers, body = self.request(image_id)
        try:
            async with (
                aiohttp.ClientSession(timeout=self._timeout) as session,
                session.post(self._url, data=body, headers=headers) as answer,
            ):
                if answer.status < 300:
                    return True
                log.warning("CDN purge of %s answered %s", image_id, answer.status)
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.warning("CDN purge of %s failed: %s", image_id, type(exc).__name__)
        return False
