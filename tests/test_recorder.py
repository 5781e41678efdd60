"""The variant recorder against the embedded repository: a burst of rows is one write, a row of an
image deleted meanwhile is skipped without losing the others, ``settle`` waits for the writes."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest

from enlarger.db.factory import open_repository
from enlarger.db.models import Image, Variant
from enlarger.db.protocol import Repository
from enlarger.proxy.recorder import Unrenderable, VariantRecorder


class Counted:
    """The real repository, counting the calls that write variant rows."""

    def __init__(self, repo: Repository) -> None:
        self.repo = repo
        self.batches: list[int] = []

    async def record_variants(self, variants: Sequence[Variant]) -> None:
        self.batches.append(len(variants))
        await self.repo.record_variants(variants)

    async def mark_unrenderable(self, image_id: str, reason: str) -> bool:
        return await self.repo.mark_unrenderable(image_id, reason)


@pytest.fixture
async def repo(tmp_path: Path) -> AsyncIterator[Repository]:
    repository = await open_repository(f"sqlite:///{tmp_path / 'enlarger.db'}")
    await repository.migrate()
    yield repository
    await repository.close()


def _image(n: int) -> Image:
    now = datetime.now(UTC)
    return Image(f"image{n:04d}", f"{n:064x}", "jpeg", 4000, 3000, 1, 3_000_000, now)


def _variant(image_id: str, key: str) -> Variant:
    return Variant(image_id, key, "jpeg", 320, 240, 15_000, datetime.now(UTC))


async def test_a_burst_of_rows_is_one_write_and_settle_waits_for_it(repo: Repository) -> None:
    images = [_image(n) for n in range(3)]
    for image in images:
        await repo.insert_image(image)
    counted = Counted(repo)
    recorder = VariantRecorder(counted, linger_seconds=0.05)  # type: ignore[arg-type]
    recorder.start()
    try:
        for image in images:
            for key in ("small", "medium"):
                recorder.record(_variant(image.id, key))
        recorder.record(_variant("deleted-meanwhile", "small"))
        recorder.record(Unrenderable(images[2].id, "undecodable"))
        await recorder.settle()
        assert counted.batches == [7]
        for image in images:
            assert [v.key for v in await repo.list_variants(image.id)] == ["medium", "small"]
        assert await repo.list_variants("deleted-meanwhile") == []
        assert (await repo.get_image(images[2].id)).unrenderable == "undecodable"  # type: ignore[union-attr]
        recorder.record(_variant(images[0].id, "large"))  # alone later: a write of its own
        await recorder.settle()
        assert counted.batches == [7, 1]
    finally:
        await recorder.close()


async def test_rows_pending_at_close_are_written(repo: Repository) -> None:
    image = _image(9)
    await repo.insert_image(image)
    recorder = VariantRecorder(repo, linger_seconds=10)  # closing does not wait for the linger
    recorder.start()
    recorder.record(_variant(image.id, "small"))
    await recorder.close()
    assert [v.key for v in await repo.list_variants(image.id)] == ["small"]
