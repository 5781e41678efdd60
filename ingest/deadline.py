"""The upload deadline (``ENLARGER_UPLOAD_DEADLINE_SECONDS``): one budget for the server's part of
an upload (key lookup, rate limit, then probe, dedup, blob, row); past it the upload is cancelled
and answers 503 ``backend_unavailable``. Safe anywhere: the blob is written before the row."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from enlarger.errors import BackendUnavailable

RETRY_AFTER_SECONDS = 2


class UploadDeadline:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._left = seconds

    @asynccontextmanager
    async def window(self) -> AsyncIterator[None]:
        """Run the block within what is left of the budget; its time is spent from it."""
        started = time.monotonic()
        try:
            async with asyncio.timeout(self._left):
                yield
        except TimeoutError:
            raise self._overrun() from None
        finally:
            self._left = max(0.0, self._left - (time.monotonic() - started))

    def _overrun(self) -> BackendUnavailable:
        return BackendUnavailable(
            f"the upload could not be stored within {self.seconds:g} s: a backend is slow or "
            "unavailable; nothing was recorded, retry later",
            retry_after=RETRY_AFTER_SECONDS,
            limit="upload_deadline_seconds",
            seconds=self.seconds,
        )
