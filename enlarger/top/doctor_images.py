"""``enlarger doctor``'s look at the images, walking :data:`enlarger.traces.TRACES`: rows whose
original is missing (a broken promise: fail, naming the ids) over a sample, and what ``enlarger
gc`` removes (spilled masters of no row; with ``--deep`` every blob of no image, of an old
pipeline version, or showing a deleted overlay), a warning."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

from enlarger import ids, traces
from enlarger.blobs import BlobStore
from enlarger.db import Repository
from enlarger.db.factory import sqlite_path
from enlarger.settings import Settings
from enlarger.top.backends import open_blobs, open_repo
from enlarger.top.doctor import ABSENT, Broken
from enlarger.top.gc import Collector

SHOWN = 20  # ids named in the answer at most
PARALLEL = 16  # blob store lookups at once


async def check_images(settings: Settings, sample: int, deep: bool) -> str:
    url = settings.resolved_database_url
    if url.startswith("sqlite:") and not await asyncio.to_thread(Path(sqlite_path(url)).is_file):
        return f"{ABSENT}no database (nothing to check)"
    repo = await open_repo(settings)
    try:
        blobs = await open_blobs(settings)
        try:
            return await _check(settings, repo, blobs, sample, deep)
        finally:
            await blobs.close()
    finally:
        await repo.close()


async def _check(
    settings: Settings, repo: Repository, blobs: BlobStore, sample: int, deep: bool
) -> str:
    image_ids = await repo.image_ids("", sample)
    missing = await _without_original(blobs, image_ids)
    if missing:
        named = ", ".join(missing[:SHOWN]) + (" …" if len(missing) > SHOWN else "")
        raise Broken(
            f"{len(missing)} of {len(image_ids)} images have no original (they answer 404): {named}"
        )
    detail = f"{len(image_ids)} images looked at, each has its original"
    collector = Collector(
        repo, blobs, timedelta(0), spill_folder=traces.spill_folder(settings.data_dir)
    )
    orphans = [o async for o in collector.orphans() if deep or o.path is not None]
    old = sum(orphan.old_version for orphan in orphans)
    overlaid = sum(orphan.overlay_gone for orphan in orphans)
    found = []
    if len(orphans) > old + overlaid:
        where = "blobs and files" if deep else "decoded master files on this machine"
        found.append(f"{len(orphans) - old - overlaid} {where} of no image")
    if old:
        found.append(f"{old} variants and masters of an old pipeline version")
    if overlaid:
        found.append(f"{overlaid} variants showing a deleted image (wm=)")
    if found:
        return f"warning: {detail}; {', '.join(found)} ('enlarger gc' removes them)"
    return detail + ("; no trace without a row or of an old pipeline version" if deep else "")


async def _without_original(blobs: BlobStore, image_ids: list[str]) -> list[str]:
    gate = asyncio.Semaphore(PARALLEL)

    async def absent(image_id: str) -> bool:
        async with gate:
            return not await blobs.exists(ids.original_key(image_id))

    found = await asyncio.gather(*(absent(image_id) for image_id in image_ids))
    return [image_id for image_id, gone in zip(image_ids, found, strict=True) if gone]
