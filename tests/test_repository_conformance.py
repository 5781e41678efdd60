"""One conformance suite for :class:`db.protocol.Repository`, run against every backend."""

from __future__ import annotations

import asyncio
import hashlib
import socket
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from db.factory import open_repository, sqlite_path
from db.migrate import discover
from db.models import Image, Variant
from db.protocol import Repository
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


async def test_ping(repo: Repository) -> None:
    await repo.ping()


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
