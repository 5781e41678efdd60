"""``enlarger doctor`` as an operator runs it: every check in words; exit 1 naming the broken
backend (an unreachable Redis, a missing bucket); nothing created on the way."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import boto3
import pytest

from enlarger import traces
from enlarger.db import Image
from enlarger.settings import Settings
from enlarger.top.backends import open_repo
from tests.e2e.process import clean_env, cli, free_port

pytestmark = pytest.mark.e2e

CHECKS = (
    "configuration",
    "links",
    "data dir",
    "libvips",
    "HEIC",
    "allocator",
    "database",
    "blob store",
)


def lines(output: str) -> dict[str, str]:
    """check name → its line."""
    found = {}
    for line in output.splitlines():
        for name in (*CHECKS, "cache", "images"):
            if line[6:].startswith(name + " "):
                found[name] = line
    return found


def test_embedded_defaults_pass(tmp_path: Path) -> None:
    env = clean_env(tmp_path / "data")
    assert cli(env, "migrate").returncode == 0
    result = cli(env, "doctor")
    assert result.returncode == 0, result.stdout + result.stderr
    found = lines(result.stdout)
    assert set(found) == {*CHECKS, "cache", "images"}, result.stdout
    assert found["database"].startswith("ok") and "schema version" in found["database"]
    assert "(current)" in found["database"]
    assert "in-process memory only" in found["cache"]
    assert "loads and saves jpeg, png, webp, gif, avif" in found["libvips"]
    assert "HEIC decodes" in found["HEIC"]
    assert found["images"].startswith("ok") and "0 images looked at" in found["images"]
    assert found["links"].startswith("ok") and "embedded stack" in found["links"]
    assert "all 10 checks passed" in result.stdout


def test_a_fresh_machine_is_warned_about_and_left_unchanged(tmp_path: Path) -> None:
    """No database where doctor looked (a fresh machine, or run from the wrong folder): never
    "all checks passed"; the path is named and the exit status (3) tells a script."""
    env = clean_env(tmp_path / "data")
    result = cli(env, "doctor")
    assert result.returncode == 3, result.stdout + result.stderr
    found = lines(result.stdout)
    for name in ("data dir", "database", "blob store", "images"):
        assert found[name].startswith("WARN"), found[name]
    assert "enlarger migrate" in found["database"]
    assert "passed" not in result.stdout + result.stderr
    database = tmp_path / "data" / "enlarger.db"
    assert f"enlarger doctor: no database here: the SQLite database {database} " in result.stderr
    assert not (tmp_path / "data").exists(), "doctor created the data dir"


def test_an_empty_postgresql_database_is_a_warning(tmp_path: Path, pg_url: str) -> None:
    result = cli(clean_env(tmp_path / "data", ENLARGER_DATABASE_URL=pg_url), "doctor")
    assert result.returncode == 3, result.stdout + result.stderr
    found = lines(result.stdout)
    assert found["database"].startswith("WARN") and "schema empty" in found["database"]
    assert found["images"].startswith("WARN"), found["images"]
    assert "no database here: the PostgreSQL database" in result.stderr


def test_allocator_and_unknown_variables_are_named(tmp_path: Path) -> None:
    env = clean_env(tmp_path / "data", ENLARGER_REDIS_ULR="redis://typo", MALLOC_ARENA_MAX="2")
    result = cli(env, "doctor")
    found = lines(result.stdout)
    assert found["configuration"].startswith("WARN")
    assert "ENLARGER_REDIS_ULR" in found["configuration"]
    assert found["allocator"].startswith("ok") and "MALLOC_ARENA_MAX=2" in found["allocator"]


def test_production_backends_pass(tmp_path: Path, production_env: dict[str, str]) -> None:
    env = clean_env(tmp_path / "data", **production_env)
    assert cli(env, "migrate").returncode == 0
    result = cli(env, "doctor")
    assert result.returncode == 0, result.stdout + result.stderr
    found = lines(result.stdout)
    assert found["database"].startswith("ok") and "PostgreSQL" in found["database"]
    assert found["blob store"].startswith("ok") and "bucket present" in found["blob store"]
    assert found["cache"].startswith(("ok", "WARN")) and "Redis" in found["cache"]
    # neither ENLARGER_PUBLIC_URL nor ENLARGER_ALLOWED_HOSTS: links follow any Host sent
    assert found["links"].startswith("WARN") and "ENLARGER_ALLOWED_HOSTS" in found["links"]
    env["ENLARGER_ALLOWED_HOSTS"] = "img.example.com"
    links = lines(cli(env, "doctor").stdout)["links"]
    assert links.startswith("ok") and "img.example.com" in links, links
    bucket = env["ENLARGER_BLOB_URL"][len("s3://") :].split("/")[0]
    s3 = boto3.client("s3", endpoint_url=env["ENLARGER_S3_ENDPOINT_URL"])
    listed = s3.list_objects_v2(Bucket=bucket)
    assert listed.get("KeyCount", 0) == 0, "the probe blob was left behind"


def test_unreachable_redis_and_missing_bucket_are_named(
    tmp_path: Path, pg_url: str, s3_endpoint: str
) -> None:
    env = clean_env(
        tmp_path / "data",
        ENLARGER_DATABASE_URL=pg_url,
        ENLARGER_REDIS_URL=f"redis://127.0.0.1:{free_port()}/0",
        ENLARGER_BLOB_URL="s3://enl-doctor-missing/prefix",
        ENLARGER_S3_ENDPOINT_URL=s3_endpoint,
    )
    assert cli(env, "migrate").returncode == 0
    # refused at once (a closed port, a missing bucket); the deadline only has to let the
    # database answer on a loaded machine (3 s did not, once, beside other jobs)
    result = cli(env, "doctor", "--timeout", "20")
    assert result.returncode == 1, result.stdout
    found = lines(result.stdout)
    assert found["cache"].startswith("FAIL"), result.stdout
    assert found["blob store"].startswith("FAIL")
    assert "bucket 'enl-doctor-missing' does not exist" in found["blob store"]
    assert found["database"].startswith("ok")
    assert "broken: blob store, cache" in result.stderr
    buckets = boto3.client("s3", endpoint_url=s3_endpoint).list_buckets()["Buckets"]
    assert "enl-doctor-missing" not in {b["Name"] for b in buckets}, "doctor created the bucket"


def test_a_pending_migration_fails(tmp_path: Path, pg_url: str) -> None:
    env = clean_env(tmp_path / "data", ENLARGER_DATABASE_URL=pg_url)
    assert cli(env, "migrate").returncode == 0

    async def forget_last() -> None:
        conn = await asyncpg.connect(pg_url)
        await conn.execute(
            "DELETE FROM schema_migrations"
            " WHERE version = (SELECT MAX(version) FROM schema_migrations)"
        )
        await conn.close()

    asyncio.run(forget_last())
    result = cli(env, "doctor")
    assert result.returncode == 1
    database = lines(result.stdout)["database"]
    assert database.startswith("FAIL") and "1 migration(s) pending" in database


def test_a_read_only_database_fails(tmp_path: Path, pg_url: str) -> None:
    env = clean_env(tmp_path / "data", ENLARGER_DATABASE_URL=pg_url)
    assert cli(env, "migrate").returncode == 0
    name = pg_url.rsplit("/", 1)[1]

    async def read_only() -> None:
        conn = await asyncpg.connect(pg_url)
        await conn.execute(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on')
        await conn.close()

    asyncio.run(read_only())
    result = cli(env, "doctor")
    assert result.returncode == 1
    database = lines(result.stdout)["database"]
    assert database.startswith("FAIL") and "not writable" in database, database


def test_a_row_whose_original_is_missing_fails_by_id(tmp_path: Path) -> None:
    """A broken promise (a row that answers 404 at every size) is named, with exit 1; a decoded
    master file of no image is a warning that names gc."""
    env = clean_env(tmp_path / "data")
    assert cli(env, "migrate").returncode == 0
    planted = "b" * 26
    asyncio.run(_plant_row(Settings(data_dir=tmp_path / "data"), planted))
    spill = traces.spill_folder(tmp_path / "data")
    spill.mkdir(parents=True)
    (spill / traces.spill_name("c" * 26)).write_bytes(b"pixels of no image")
    result = cli(env, "doctor")
    assert result.returncode == 1, result.stdout
    found = lines(result.stdout)
    assert found["images"].startswith("FAIL") and planted in found["images"], result.stdout
    assert "1 of 1 images have no original" in found["images"]
    assert "broken: images" in result.stderr
    collected = cli(env, "gc", "--min-age", "0")
    assert collected.returncode == 0 and traces.spill_name("c" * 26) in collected.stdout


async def _plant_row(settings: Settings, image_id: str) -> None:
    repo = await open_repo(settings)
    try:
        image = Image(image_id, "0" * 64, "jpeg", 10, 10, 1, 100, datetime.now(UTC))
        assert await repo.insert_image(image)
    finally:
        await repo.close()
