"""What every CLI subcommand shares: a migrated repository for the length of one command."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from db import Repository
from enlarger.backends import open_repo
from enlarger.settings import Settings


def with_repo(settings: Settings, work: Callable[[Repository], Awaitable[int]]) -> int:
    async def run() -> int:
        repo = await open_repo(settings)
        try:
            await repo.migrate()
            return await work(repo)
        finally:
            await repo.close()

    return asyncio.run(run())
