"""The upload deadline: one budget (``ENLARGER_UPLOAD_DEADLINE_SECONDS``) for the server's part
of an upload — the API key lookup and the rate limit, then, once the body is in, the probe, the
dedup lookup, the blob put and the row insert. The body read itself is bounded separately by
``ENLARGER_UPLOAD_TIMEOUT_SECONDS`` (it waits on the client, not on a backend).

A window that overruns the budget is cancelled and answers ``503 backend_unavailable`` with
``Retry-After``. Cancelling is safe at any point: the blob is written before the row, so the
worst a cancelled upload leaves is an orphan blob (``enlarger gc`` removes it).
"""

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
