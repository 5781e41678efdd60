"""One conformance suite for :class:`db.protocol.Repository`, run against every backend."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import socket
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import asyncpg
import pytest

from enlarger.db.factory import DatabaseTimeouts, open_repository, sqlite_path
from enlarger.db.migrate import discover
from enlarger.db.models import (
    Breakdown,
    Bucket,
    Image,
    ImagePreview,
    LogFile,
    Variant,
    ViewCount,
)
from enlarger.db.protocol import Repository
from enlarger.errors import BackendUnavailable, UserExists

LATEST = max(m.version for m in discover("sqlite"))


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A URL naming an empty database (PostgreSQL: a fresh one per test, from ``pg_url``)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'meta' / 'enlarger.db'}"
    url: str = request.getfixturevalue("pg_url")
    return url


@pytest.fixture
async def repo(db_url: str) -> AsyncIterator[Repository]:
    repository = await open_repository(db_url)
    await repository.migrate()
    yield repository
    await repository.close()


def assert_utc(value: datetime | None) -> None:
    assert value is not None
    assert value.tzinfo is not None
    assert value.utcoffset() == timedelta(0)


def make_image(n: int, created_at: datetime | None = None) -> Image:
    return Image(
        id=f"img{n:04d}",
        sha256=hashlib.sha256(str(n).encode()).hexdigest(),
        format="jpeg",
        width=4032,
        height=3024,
        frames=1,
        bytes=2_500_000 + n,
        created_at=created_at or datetime(2024, 5, 1, 12, 30, 15, 123456, tzinfo=UTC),
    )


def make_variant(image_id: str, key: str, width: int = 800) -> Variant:
    created = datetime(2024, 5, 2, 8, 0, 0, 654321, tzinfo=UTC)
    return Variant(image_id, key, "webp", width, width * 3 // 4, 90_000, created)


# --- migrations ------------------------------------------------------------------------------


async def test_migrate_applies_once(db_url: str) -> None:
    repository = await open_repository(db_url)
    try:
        assert await repository.schema_version() == 0
        applied = await repository.migrate()
        assert applied[0] == 1
        assert applied == sorted(applied)
        assert await repository.schema_version() == LATEST
        assert await repository.migrate() == []
        assert await repository.schema_version() == LATEST
    finally:
        await repository.close()


async def test_concurrent_migrate_is_safe(db_url: str) -> None:
    first, second = await open_repository(db_url), await open_repository(db_url)
    try:
        results = await asyncio.gather(first.migrate(), second.migrate())
        assert sorted(results[0] + results[1]) == list(range(1, LATEST + 1))
        assert await first.schema_version() == await second.schema_version() == LATEST
    finally:
        await first.close()
        await second.close()


async def test_ping_answers_while_open_and_refuses_once_closed(db_url: str) -> None:
    """Ping runs a statement: it answers on an open repository, and is BackendUnavailable (not
    some driver error, nor a silent success) once the connections are closed."""
    repository = await open_repository(db_url)
    await repository.ping()
    await repository.close()
    with pytest.raises(BackendUnavailable):
        await repository.ping()


# --- secrets ----------------------------------------------------------------------------------


async def test_secret_is_created_once(repo: Repository) -> None:
    assert await repo.get_or_create_secret("id-key", b"\x00first") == b"\x00first"
    assert await repo.get_or_create_secret("id-key", b"second") == b"\x00first"
    assert await repo.get_or_create_secret("other", b"third") == b"third"


async def test_secret_race_gives_one_value(db_url: str, repo: Repository) -> None:
    other = await open_repository(db_url)
    try:
        values = await asyncio.gather(
            repo.get_or_create_secret("race", b"candidate-a"),
            other.get_or_create_secret("race", b"candidate-b"),
            repo.get_or_create_secret("race", b"candidate-c"),
        )
    finally:
        await other.close()
    assert len(set(values)) == 1
    assert values[0] in {b"candidate-a", b"candidate-b", b"candidate-c"}


# --- users and API keys -----------------------------------------------------------------------


async def test_users(repo: Repository) -> None:
    before = datetime.now(UTC) - timedelta(minutes=1)
    alice = await repo.create_user("alice")
    assert alice.username == "alice"
    assert isinstance(alice.id, int)
    assert_utc(alice.created_at)
    assert before < alice.created_at < datetime.now(UTC) + timedelta(minutes=1)
    assert await repo.get_user("alice") == alice
    assert await repo.get_user("bob") is None
    bob = await repo.create_user("bob")
    assert bob.id != alice.id


async def test_duplicate_user_is_refused(repo: Repository) -> None:
    await repo.create_user("alice")
    with pytest.raises(UserExists):
        await repo.create_user("alice")


async def test_api_key_lookup_marks_it_used(repo: Repository) -> None:
    alice = await repo.create_user("alice")
    key = await repo.create_api_key(alice.id, "hash-1", "laptop")
    assert (key.user_id, key.label, key.last_used_at, key.revoked_at) == (
        alice.id,
        "laptop",
        None,
        None,
    )
    assert_utc(key.created_at)
    assert await repo.user_for_api_key("hash-1") == alice
    assert await repo.user_for_api_key("unknown") is None
    [listed] = await repo.list_api_keys(alice.id)
    assert listed.id == key.id
    assert_utc(listed.last_used_at)
    assert listed.revoked_at is None


async def test_revoked_api_key_is_refused(repo: Repository) -> None:
    alice = await repo.create_user("alice")
    kept = await repo.create_api_key(alice.id, "hash-kept", "ci")
    gone = await repo.create_api_key(alice.id, "hash-gone", "old")
    assert await repo.revoke_api_key(gone.id) is True
    assert await repo.revoke_api_key(gone.id) is False
    assert await repo.revoke_api_key(999_999) is False
    assert await repo.user_for_api_key("hash-gone") is None
    assert await repo.user_for_api_key("hash-kept") == alice
    keys = await repo.list_api_keys(alice.id)
    assert [k.id for k in keys] == [kept.id, gone.id]
    assert keys[0].revoked_at is None
    assert_utc(keys[1].revoked_at)
    assert keys[1].last_used_at is None
    assert await repo.list_api_keys(alice.id + 1000) == []


# --- images -----------------------------------------------------------------------------------


async def test_insert_image_once(repo: Repository) -> None:
    image = make_image(1)
    assert await repo.insert_image(image) is True
    assert await repo.insert_image(image) is False
    same_hash = replace(image, id="another-id")
    assert await repo.insert_image(same_hash) is False
    same_id = replace(image, sha256="0" * 64)
    assert await repo.insert_image(same_id) is False
    assert await repo.get_image("another-id") is None
    assert await repo.get_image_by_sha256("0" * 64) is None


async def test_get_image(repo: Repository) -> None:
    image = make_image(2)
    await repo.insert_image(image)
    assert await repo.get_image(image.id) == image
    assert await repo.get_image_by_sha256(image.sha256) == image
    assert await repo.get_image("missing") is None
    assert await repo.get_image_by_sha256("f" * 64) is None


async def test_an_image_is_marked_unrenderable_once(repo: Repository) -> None:
    alice = await repo.create_user("alice")
    image, other = make_image(6), make_image(7)
    for each in (image, other):
        await repo.insert_image(each)
        await repo.link_user_image(alice.id, each.id, None)
    assert (await repo.get_image(image.id)) == image and image.unrenderable is None
    assert await repo.mark_unrenderable(image.id, "undecodable") is True
    assert await repo.mark_unrenderable(image.id, "other") is False  # the first reason stays
    assert await repo.mark_unrenderable("missing", "undecodable") is False
    marked = replace(image, unrenderable="undecodable")
    assert await repo.get_image(image.id) == marked
    assert await repo.get_image_by_sha256(image.sha256) == marked
    assert await repo.get_image(other.id) == other
    listed = {entry.image.id: entry.image for entry in await repo.list_user_images(alice.id)}
    assert listed == {image.id: marked, other.id: other}
    with_views = await repo.list_user_image_views(alice.id)
    assert {row.entry.image.id: row.entry.image for row in with_views} == listed


async def test_an_image_preview_is_kept_and_goes_with_the_image(repo: Repository) -> None:
    """Nullable columns (an image stored before them has none), set once made, read back;
    nothing for a missing image; removed with the image's row by its last claim's removal."""
    alice = await repo.create_user("alice")
    image, other = make_image(8), make_image(9)
    for each in (image, other):
        await repo.insert_image(each)
        await repo.link_user_image(alice.id, each.id, None)
    assert await repo.get_image_preview(image.id) is None
    made = ImagePreview("3MYVHYRneHh/h3iIeHh4d4eAdwh4", "#84acd7")
    await repo.set_image_preview(image.id, made)
    assert await repo.get_image_preview(image.id) == made
    assert await repo.get_image_preview(other.id) is None
    assert await repo.get_image(image.id) == image  # the image itself is unchanged
    again = ImagePreview("4RYKTIoGN1Zmipl2iIaARiewtA==", "#000000")
    await repo.set_image_preview(image.id, again)
    assert await repo.get_image_preview(image.id) == again
    await repo.set_image_preview("missing", made)  # nothing, no error
    assert await repo.get_image_preview("missing") is None
    await repo.remove_user_claim(alice.id, image.id)
    assert await repo.get_image(image.id) is None
    assert await repo.get_image_preview(image.id) is None
    assert await repo.insert_image(image) is True  # the same bytes again: made anew
    assert await repo.get_image_preview(image.id) is None


async def test_times_come_back_as_utc(repo: Repository) -> None:
    paris = timezone(timedelta(hours=2))
    image = make_image(3, created_at=datetime(2024, 6, 1, 14, 0, 0, 5, tzinfo=paris))
    await repo.insert_image(image)
    stored = await repo.get_image(image.id)
    assert stored is not None
    assert_utc(stored.created_at)
    assert stored.created_at == datetime(2024, 6, 1, 12, 0, 0, 5, tzinfo=UTC)


# --- user images ------------------------------------------------------------------------------


async def test_link_user_image_is_idempotent(repo: Repository) -> None:
    alice, bob = await repo.create_user("alice"), await repo.create_user("bob")
    image = make_image(4)
    await repo.insert_image(image)
    assert await repo.link_user_image(alice.id, image.id, "cat.jpg") is True
    assert await repo.link_user_image(alice.id, image.id, "again.jpg") is False
    assert await repo.link_user_image(bob.id, image.id, None) is True
    [for_alice] = await repo.list_user_images(alice.id)
    [for_bob] = await repo.list_user_images(bob.id)
    assert (for_alice.image, for_alice.filename) == (image, "cat.jpg")
    assert (for_bob.image, for_bob.filename) == (image, None)
    assert_utc(for_alice.uploaded_at)


async def test_list_user_images_newest_first(repo: Repository) -> None:
    alice = await repo.create_user("alice")
    images = [make_image(n) for n in range(10, 15)]
    for image in images:
        await repo.insert_image(image)
        await repo.link_user_image(alice.id, image.id, f"{image.id}.jpg")
        await asyncio.sleep(0.002)  # distinct upload times
    newest_first = [image.id for image in reversed(images)]
    listed = await repo.list_user_images(alice.id)
    assert [ui.image.id for ui in listed] == newest_first
    assert [ui.uploaded_at for ui in listed] == sorted(
        (ui.uploaded_at for ui in listed), reverse=True
    )
    page = await repo.list_user_images(alice.id, limit=2, offset=1)
    assert [ui.image.id for ui in page] == newest_first[1:3]
    assert await repo.list_user_images(alice.id, limit=10, offset=5) == []
    assert await repo.list_user_images(alice.id + 1000) == []


# --- variants ---------------------------------------------------------------------------------


async def test_record_variant_is_idempotent(repo: Repository) -> None:
    image = make_image(5)
    await repo.insert_image(image)
    first = make_variant(image.id, "w800-q80-webp-v1")
    await repo.record_variant(first)
    await repo.record_variant(make_variant(image.id, "w800-q80-webp-v1", width=1))
    await repo.record_variant(make_variant(image.id, "w400-q80-webp-v1", width=400))
    variants = await repo.list_variants(image.id)
    assert [v.key for v in variants] == ["w400-q80-webp-v1", "w800-q80-webp-v1"]
    assert variants[1] == first
    assert_utc(variants[0].created_at)
    assert await repo.list_variants("missing") == []


async def test_record_variants_writes_a_burst_and_skips_a_deleted_images_rows(
    repo: Repository,
) -> None:
    image, other = make_image(6), make_image(7)
    await repo.insert_image(image)
    await repo.insert_image(other)
    await repo.record_variant(make_variant(image.id, "w800-q80-webp-v1"))
    await repo.record_variants(
        [
            make_variant(image.id, "w800-q80-webp-v1", width=1),  # recorded already: kept
            make_variant(image.id, "w400-q80-webp-v1", width=400),
            make_variant(other.id, "w400-q80-webp-v1", width=400),
        ]
    )
    assert [v.key for v in await repo.list_variants(image.id)] == [
        "w400-q80-webp-v1",
        "w800-q80-webp-v1",
    ]
    assert (await repo.list_variants(image.id))[1].width != 1
    assert [v.key for v in await repo.list_variants(other.id)] == ["w400-q80-webp-v1"]
    # an image deleted while its rows waited (no row for it any more): the others are written
    await repo.record_variants(
        [
            make_variant("gone-image", "w320-q80-jpeg-v1"),
            make_variant(other.id, "w320-q80-jpeg-v1", width=320),
        ]
    )
    assert await repo.list_variants("gone-image") == []
    assert [v.key for v in await repo.list_variants(other.id)] == [
        "w320-q80-jpeg-v1",
        "w400-q80-webp-v1",
    ]
    await repo.record_variants([])


# --- failures ---------------------------------------------------------------------------------


async def test_closed_repository_is_unavailable(db_url: str) -> None:
    repository = await open_repository(db_url)
    await repository.migrate()
    await repository.close()
    with pytest.raises(BackendUnavailable):
        await repository.get_user("alice")
    with pytest.raises(BackendUnavailable):
        await repository.ping()


async def test_unreachable_postgres_is_unavailable() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(BackendUnavailable):
        await open_repository(f"postgresql://nobody@127.0.0.1:{port}/nothing")


# --- factory ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("sqlite:///data/meta.db", "data/meta.db"),
        ("sqlite:////srv/enlarger/meta.db", "/srv/enlarger/meta.db"),
        ("sqlite://", ":memory:"),
        ("sqlite:///:memory:", ":memory:"),
    ],
)
def test_sqlite_url_paths(url: str, path: str) -> None:
    assert sqlite_path(url) == path


@pytest.mark.parametrize("url", ["mysql://localhost/x", "redis://localhost", "data/meta.db"])
async def test_unknown_scheme_is_refused(url: str) -> None:
    with pytest.raises(ValueError):
        await open_repository(url)


# --- analytics --------------------------------------------------------------------------------

MAY_1, MAY_2, MAY_31 = date(2024, 5, 1), date(2024, 5, 2), date(2024, 5, 31)


def views(
    image_id: str,
    day: date,
    n: int,
    variant: str = "p1.w640.q80.same",
    referrer: str = "example.com",
    tier: str = "memory",
    size: int = 1000,
) -> ViewCount:
    return ViewCount(image_id, day, variant, referrer, tier, n, n * size)


async def images(repo: Repository, *numbers: int) -> list[str]:
    for n in numbers:
        await repo.insert_image(make_image(n))
    return [make_image(n).id for n in numbers]


async def test_record_views_adds_up_per_breakdown(repo: Repository) -> None:
    [a] = await images(repo, 20)
    batch = [
        views(a, MAY_1, 3),
        views(a, MAY_1, 2, variant="p1.b320.q80.same", referrer="", tier="render"),
        views(a, MAY_2, 5, referrer="blog.example.org", tier="etag", size=0),
    ]
    assert await repo.record_views(batch) == 10
    assert await repo.record_views([views(a, MAY_1, 1)]) == 1
    stats = await repo.image_stats(a)
    assert (stats.views, stats.bytes) == (11, 6000)
    assert stats.days == (Bucket(MAY_1, 6, 6000), Bucket(MAY_2, 5, 0))
    assert stats.months == ()
    assert stats.variants == (
        Breakdown("p1.w640.q80.same", 9, 4000),
        Breakdown("p1.b320.q80.same", 2, 2000),
    )
    assert stats.referrers == (
        Breakdown("blog.example.org", 5, 0),
        Breakdown("example.com", 4, 4000),
        Breakdown("", 2, 2000),
    )
    assert stats.tiers == (
        Breakdown("etag", 5, 0),
        Breakdown("memory", 4, 4000),
        Breakdown("render", 2, 2000),
    )


async def test_views_of_unknown_images_are_skipped(repo: Repository) -> None:
    [a] = await images(repo, 21)
    assert await repo.record_views([views(a, MAY_1, 2), views("missing", MAY_1, 7)]) == 2
    assert await repo.record_views([views("missing", MAY_1, 7)]) == 0
    assert await repo.record_views([]) == 0
    assert (await repo.image_stats(a)).views == 2
    empty = await repo.image_stats("missing")
    assert (empty.views, empty.days, empty.tiers) == (0, (), ())


async def test_concurrent_batches_from_many_connections_add_up(
    db_url: str, repo: Repository
) -> None:
    ids = await images(repo, 22, 23, 24)
    others = [await open_repository(db_url) for _ in range(3)]
    batch = [views(i, day, 1, tier=t) for i in ids for day in (MAY_1, MAY_2) for t in "ab"]
    try:
        await asyncio.gather(*(r.record_views(batch) for r in others for _ in range(10)))
    finally:
        for other in others:
            await other.close()
    for image_id in ids:
        stats = await repo.image_stats(image_id)
        assert stats.views == 30 * 4
        assert stats.tiers == (Breakdown("a", 60, 60_000), Breakdown("b", 60, 60_000))


async def test_stats_date_range(repo: Repository) -> None:
    [a] = await images(repo, 25)
    await repo.record_views([views(a, day, day.day) for day in (MAY_1, MAY_2, MAY_31)])
    stats = await repo.image_stats(a, start=MAY_2, end=MAY_2)
    assert (stats.views, stats.days) == (2, (Bucket(MAY_2, 2, 2000),))
    assert [b.start for b in (await repo.image_stats(a, start=MAY_2)).days] == [MAY_2, MAY_31]
    assert [b.start for b in (await repo.image_stats(a, end=MAY_2)).days] == [MAY_1, MAY_2]
    assert (await repo.image_stats(a, start=date(2024, 6, 1))).views == 0


async def test_user_images_with_totals_sort_by_views(repo: Repository) -> None:
    alice, bob = await repo.create_user("alice"), await repo.create_user("bob")
    ids = await images(repo, 26, 27, 28)
    for image_id in ids:
        await repo.link_user_image(alice.id, image_id, None)
        await asyncio.sleep(0.002)  # distinct upload times
    today = datetime.now(UTC).date()  # a claim counts the views from its own day on
    await repo.record_views([views(ids[0], today, 5), views(ids[1], today, 9)])
    newest = await repo.list_user_image_views(alice.id)
    assert [(r.entry.image.id, r.views) for r in newest] == [
        (ids[2], 0),
        (ids[1], 9),
        (ids[0], 5),
    ]
    assert newest[1].bytes_served == 9000 and newest[0].entry.filename is None
    top = await repo.list_user_image_views(alice.id, sort="views", limit=2)
    assert [r.entry.image.id for r in top] == [ids[1], ids[0]]
    page = await repo.list_user_image_views(alice.id, sort="views", limit=2, offset=2)
    assert [r.entry.image.id for r in page] == [ids[2]]
    assert await repo.list_user_image_views(bob.id) == []
    assert await repo.user_has_image(alice.id, ids[0]) is True
    assert await repo.user_has_image(bob.id, ids[0]) is False
    assert await repo.user_has_image(alice.id, "missing") is False


async def test_import_views_once_per_file(repo: Repository) -> None:
    [a] = await images(repo, 29)
    log = LogFile("ab" * 32, "E2ABC.2024-05-01-00.gz", "cloudfront")
    counts = [views(a, MAY_1, 4, tier="cdn"), views("missing", MAY_1, 3, tier="cdn")]
    assert await repo.import_views(log, counts) == 4
    assert await repo.import_views(log, counts) is None
    assert await repo.import_views(replace(log, name="renamed.log"), counts) is None
    assert (await repo.image_stats(a)).tiers == (Breakdown("cdn", 4, 4000),)
    assert await repo.import_views(replace(log, sha256="cd" * 32), counts) == 4
    assert (await repo.image_stats(a)).views == 8


async def test_an_import_that_adds_nothing_is_not_recorded(repo: Repository) -> None:
    """So that the same file can be imported again, for example with its misses included."""
    [a] = await images(repo, 32)
    log = LogFile("12" * 32, "E2ABC.2024-05-02-00.gz", "cloudfront")
    assert await repo.import_views(log, []) == 0
    assert await repo.import_views(log, [views("missing", MAY_1, 3, tier="cdn")]) == 0
    assert await repo.import_views(log, [views(a, MAY_1, 2, tier="cdn")]) == 2
    assert await repo.import_views(log, [views(a, MAY_1, 2, tier="cdn")]) is None
    assert await repo.import_views(log, []) is None  # recorded now: still "already imported"
    assert (await repo.image_stats(a)).views == 2


async def test_concurrent_imports_of_one_file_count_once(db_url: str, repo: Repository) -> None:
    [a] = await images(repo, 30)
    other = await open_repository(db_url)
    log = LogFile("ef" * 32, "access.log", "nginx")
    try:
        results = await asyncio.gather(
            repo.import_views(log, [views(a, MAY_1, 6)]),
            other.import_views(log, [views(a, MAY_1, 6)]),
        )
    finally:
        await other.close()
    assert sorted(results, key=str) == [6, None]
    assert (await repo.image_stats(a)).views == 6


async def test_rollup_folds_old_days_into_months(repo: Repository) -> None:
    [a] = await images(repo, 31)
    days = [date(2024, 4, 1), date(2024, 4, 15), date(2024, 4, 30), MAY_1, date(2024, 5, 20)]
    await repo.record_views([views(a, d, d.day, referrer=f"r{d.day % 2}") for d in days])
    await repo.record_views([views(a, MAY_2, 100, variant="p1.orig.q80.same", tier="store")])
    before = await repo.image_stats(a)
    # Every day before May 20 is folded: all of April, and May 1-2 into a partial May.
    assert await repo.rollup_views(date(2024, 5, 20)) == 5
    after = await repo.image_stats(a)
    assert (after.views, after.bytes) == (before.views, before.bytes)
    assert after.months == (
        Bucket(date(2024, 4, 1), 46, 46_000),
        Bucket(MAY_1, 101, 101_000),
    )
    assert after.days == (Bucket(date(2024, 5, 20), 20, 20_000),)
    for name in ("variants", "referrers", "tiers"):
        assert getattr(after, name) == getattr(before, name), name
    assert await repo.rollup_views(date(2024, 5, 20)) == 0
    # A late import for a folded day lands as a day row, and the next roll-up folds it too.
    await repo.record_views([views(a, date(2024, 4, 2), 7), views(a, MAY_1, 1)])
    assert await repo.rollup_views(date(2024, 5, 20)) == 1
    final = await repo.image_stats(a)
    assert final.months[0] == Bucket(date(2024, 4, 1), 53, 53_000)
    assert final.months[1] == Bucket(MAY_1, 102, 102_000)
    in_april = await repo.image_stats(a, start=date(2024, 4, 10), end=date(2024, 4, 11))
    assert (in_april.views, in_april.days) == (53, ())


# --- deadlines ------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def _lock_images(db_url: str) -> AsyncIterator[None]:
    """Another connection holds a lock on ``images`` that writes (SQLite) or any statement
    (PostgreSQL) must wait for."""
    if db_url.startswith("sqlite"):
        conn = sqlite3.connect(sqlite_path(db_url), isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            conn.execute("ROLLBACK")
            conn.close()
        return
    pg = await asyncpg.connect(db_url)
    try:
        async with pg.transaction():
            await pg.execute("LOCK TABLE images IN ACCESS EXCLUSIVE MODE")
            yield
    finally:
        await pg.close()


async def test_a_statement_waits_no_longer_than_its_timeout(db_url: str) -> None:
    """A blocked statement ends at ENLARGER_DATABASE_TIMEOUT_SECONDS (PostgreSQL) or
    ENLARGER_SQLITE_BUSY_TIMEOUT_SECONDS as BackendUnavailable; once the lock is gone the same
    repository works again (no connection is left poisoned)."""
    timeouts = DatabaseTimeouts(command=0.3, pool=0.3, sqlite_busy=0.3)
    repository = await open_repository(db_url, timeouts)
    await repository.migrate()
    try:
        async with _lock_images(db_url):
            async with asyncio.timeout(10):  # a hang fails the test instead of stalling it
                for n in range(3):  # more than once: each blocked call ends on its own
                    with pytest.raises(BackendUnavailable):
                        await repository.insert_image(make_image(n))
        for n in range(12):  # more calls than the pool has connections
            assert await repository.insert_image(make_image(n))
            assert await repository.get_image(f"img{n:04d}") is not None
    finally:
        await repository.close()
