"""Analytics over HTTP, on both backend families: what a view counts, who sees statistics,
the caller's list sorted by views, CSV, and database writes bounded by flushes."""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import UTC, datetime
from typing import Any

import pytest

from enlarger.db._referrers import MAX_REFERRER_HOSTS, OTHER_REFERRERS
from enlarger.proxy.spec import PIPELINE_VERSION
from enlarger.settings import Settings
from tests.e2e.conftest import Stack, StackFactory, make_jpeg

P = f"p{PIPELINE_VERSION}"  # the pipeline version every key starts with

pytestmark = pytest.mark.e2e


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def upload(stack: Stack, key: str | None, seed: int = 0) -> str:
    response = await stack.upload(make_jpeg(400, 300, seed=seed), token=key)
    assert response.status == 201, await response.text()
    image_id: str = (await response.json())["id"]
    return image_id


async def stats(stack: Stack, image_id: str, key: str | None, query: str = "") -> Any:
    headers = bearer(key) if key else {}
    response = await stack.client.get(f"/v1/images/{image_id}/stats{query}", headers=headers)
    assert response.status == 200, await response.text()
    return await response.json()


async def test_a_view_counts_variant_referrer_host_tier_and_bytes(stack: Stack) -> None:
    _, key = await stack.user_with_key("alice")
    image_id = await upload(stack, key)
    url = f"/i/{image_id}"
    referer = {"Referer": "https://Blog.Example.com/2024/05/post.html?utm_source=x"}
    sizes = []
    for headers in (referer, referer, {}):
        response = await stack.client.get(f"{url}?w=160", headers=headers)
        sizes.append(len(await response.read()))
    small = await stack.client.get(f"{url}?size=small")
    sizes.append(len(await small.read()))
    etag = small.headers["ETag"]
    assert (
        await stack.client.get(f"{url}?size=small", headers={"If-None-Match": etag})
    ).status == 304
    assert (await stack.client.head(f"{url}?w=160")).status == 200  # HEAD: not a view
    assert (await stack.client.get(f"{url}?bogus=1")).status == 400  # errors: not views
    assert (await stats(stack, image_id, key))["views"] == 0  # nothing written per view
    assert await stack.analytics.flush() == 5

    body = await stats(stack, image_id, key)
    today = datetime.now(UTC).date().isoformat()
    assert (body["views"], body["bytes"]) == (5, sum(sizes))
    assert body["days"] == [{"day": today, "views": 5, "bytes": sum(sizes)}]
    assert body["months"] == []
    assert {v["variant"]: v["views"] for v in body["variants"]} == {
        f"{P}.w160.q80.same": 3,
        f"{P}.b320.q80.same": 2,
    }
    assert {r["host"]: r["views"] for r in body["referrers"]} == {"blog.example.com": 2, None: 3}
    assert {t["tier"]: t["views"] for t in body["tiers"]} == {"render": 2, "memory": 2, "etag": 1}
    assert "utm_source" not in str(body) and "127.0.0.1" not in str(body)


async def test_statistics_are_for_uploaders_only(stack: Stack, make_stack: StackFactory) -> None:
    _, alice_key = await stack.user_with_key("alice")
    _, bob_key = await stack.user_with_key("bob")
    image_id = await upload(stack, alice_key)
    anonymous_image = await upload(stack, None, seed=1)
    path = f"/v1/images/{image_id}/stats"

    async def status(path: str, key: str | None = None) -> tuple[int, str]:
        response = await stack.client.get(path, headers=bearer(key) if key else {})
        code = (await response.json()).get("error", {}).get("code", "")
        assert response.headers["Cache-Control"] == "no-store"
        return response.status, code

    assert await status(path) == (401, "unauthorized")
    assert await status(path, "enl_not-a-key") == (401, "invalid_api_key")
    assert await status(path, bob_key) == (403, "forbidden")
    assert await status(f"/v1/images/{anonymous_image}/stats", alice_key) == (403, "forbidden")
    assert await status(path, alice_key) == (200, "")
    assert await status("/v1/images/" + "a" * 26 + "/stats", alice_key) == (404, "image_not_found")
    assert await status(f"{path}?from=2024-13-01", alice_key) == (400, "invalid_parameter")
    assert await status(f"{path}?from=2024-05-02&to=2024-05-01", alice_key) == (
        400,
        "invalid_parameter",
    )
    # Bob uploads the same bytes: the image is in his list too, so he sees its statistics.
    assert (await stack.upload(make_jpeg(400, 300), token=bob_key)).status == 201
    assert await status(path, bob_key) == (200, "")

    public = await make_stack(stack.settings, public_stats=True)
    assert (await public.client.get(path)).status == 200
    assert (await public.client.get(f"/v1/images/{anonymous_image}/stats")).status == 200
    assert (await public.client.get("/v1/images/" + "b" * 26 + "/stats")).status == 404


async def test_my_images_sorted_by_views_and_exported_as_csv(stack: Stack) -> None:
    _, key = await stack.user_with_key("carol")
    ids = [await upload(stack, key, seed=seed) for seed in range(3)]
    for image_id, n in zip(ids, (1, 3, 0), strict=True):
        for _ in range(n):
            assert (await stack.client.get(f"/i/{image_id}?w=160")).status == 200
    await stack.analytics.flush()

    newest = await (await stack.client.get("/v1/me/images", headers=bearer(key))).json()
    assert [i["id"] for i in newest["images"]] == ids[::-1] and newest["sort"] == "uploaded"
    response = await stack.client.get("/v1/me/images?sort=views", headers=bearer(key))
    listed = (await response.json())["images"]
    assert [(i["id"], i["views"]) for i in listed] == [(ids[1], 3), (ids[0], 1), (ids[2], 0)]
    assert listed[0]["bytes_served"] > 0 and listed[2]["bytes_served"] == 0

    response = await stack.client.get("/v1/me/images?sort=views&format=csv", headers=bearer(key))
    assert response.content_type == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(await response.text())))
    assert [(r["id"], r["views"]) for r in rows] == [(ids[1], "3"), (ids[0], "1"), (ids[2], "0")]
    assert rows[0]["filename"] == "photo.jpg"

    one = await stack.client.get(f"/v1/images/{ids[1]}/stats?format=csv", headers=bearer(key))
    rows = list(csv.DictReader(io.StringIO(await one.text())))
    assert {(r["kind"], r["key"]) for r in rows} >= {
        ("day", datetime.now(UTC).date().isoformat()),
        ("variant", f"{P}.w160.q80.same"),
        ("tier", "memory"),
        ("referrer", ""),
    }
    bad = await stack.client.get("/v1/me/images?sort=size", headers=bearer(key))
    assert bad.status == 400


WRITE_COUNTER_TABLES = ("image_views", "image_view_referrers", "image_view_tiers")
SQLITE_COUNTER = [
    "CREATE TABLE row_writes (n INTEGER NOT NULL)",
    "INSERT INTO row_writes VALUES (0)",
]
SQLITE_COUNTER += [
    f"CREATE TRIGGER count_{event}_{table} AFTER {event} ON {table} "
    "BEGIN UPDATE row_writes SET n = n + 1; END"
    for table in (*WRITE_COUNTER_TABLES, "image_view_totals")
    for event in ("INSERT", "UPDATE")
]
PG_COUNTER = [
    "CREATE TABLE row_writes (n bigint NOT NULL)",
    "INSERT INTO row_writes VALUES (0)",
    "CREATE FUNCTION count_row_write() RETURNS trigger LANGUAGE plpgsql AS "
    "$$ BEGIN UPDATE row_writes SET n = n + 1; RETURN NULL; END $$",
]
PG_COUNTER += [
    f"CREATE TRIGGER count_{table} AFTER INSERT OR UPDATE ON {table} "
    "FOR EACH ROW EXECUTE FUNCTION count_row_write()"
    for table in (*WRITE_COUNTER_TABLES, "image_view_totals")
]


class RowWrites:
    """Row-level triggers on every analytics table count the rows really written."""

    def __init__(self, settings: Settings) -> None:
        self.url = settings.resolved_database_url

    async def install(self) -> None:
        await self._run(PG_COUNTER if self._postgres else SQLITE_COUNTER)

    async def count(self) -> int:
        return int(await self._run(["SELECT n FROM row_writes"]))

    @property
    def _postgres(self) -> bool:
        return self.url.startswith("postgres")

    async def _run(self, statements: list[str]) -> Any:
        if self._postgres:
            import asyncpg

            conn = await asyncpg.connect(self.url)
            try:
                for sql in statements:
                    result = await conn.fetchval(sql)
                return result
            finally:
                await conn.close()
        return await asyncio.to_thread(_sqlite_run, self.url, statements)


def _sqlite_run(url: str, statements: list[str]) -> Any:
    import sqlite3

    conn = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
    try:
        for sql in statements:
            row = conn.execute(sql).fetchone()
        return row[0] if row else None
    finally:
        conn.close()


async def test_database_writes_are_bounded_by_flushes_not_views(
    backend_settings: Settings, make_stack: StackFactory
) -> None:
    stack = await make_stack(backend_settings, analytics_flush_seconds=3600)
    image_id = await upload(stack, None)
    writes = RowWrites(stack.settings)
    await writes.install()
    targets = [f"/i/{image_id}?w={w}" for w in (160, 320)]
    referers = [{"Referer": f"https://site{n}.example/page"} for n in (1, 2)]

    async def views(n: int) -> None:
        gate = asyncio.Semaphore(16)

        async def one(i: int) -> None:
            async with gate:
                response = await stack.client.get(targets[i % 2], headers=referers[i // 2 % 2])
                assert response.status == 200
                await response.read()

        await asyncio.gather(*(one(i) for i in range(n)))

    await views(8)  # render both sizes: from now on every view is a memory hit
    await stack.analytics.flush()
    deltas = []
    for n in (40, 1000):
        before = await writes.count()
        await views(n)
        assert await writes.count() == before  # no write per view
        assert await stack.analytics.flush() == n
        deltas.append(await writes.count() - before)
    # One flush writes one row per key and table, however many views it carries:
    # 2 variants + 2 referrer hosts + 1 tier + 1 total.
    assert deltas == [6, 6]
    recorded = await stack.repo.image_stats(image_id)
    assert recorded.views == 8 + 40 + 1000


async def test_made_up_referrer_hosts_leave_a_bounded_list(stack: Stack) -> None:
    """1500 cached views, each with a new Referer host (no login needed to view)."""
    _, key = await stack.user_with_key("alice")
    image_id = await upload(stack, key, seed=22)
    for n in range(1500):
        headers = {"Referer": f"https://h{n}.fake.example/"}
        assert (await stack.client.get(f"/i/{image_id}?w=160", headers=headers)).status == 200
    await stack.analytics.flush()
    response = await stack.client.get(f"/v1/images/{image_id}/stats", headers=bearer(key))
    stats = await response.json()
    hosts = {r["host"]: r["views"] for r in stats["referrers"]}
    assert len(hosts) == MAX_REFERRER_HOSTS + 1 and stats["views"] == 1500
    assert hosts[OTHER_REFERRERS] == 1500 - MAX_REFERRER_HOSTS
    assert len(await response.read()) < 16_000
