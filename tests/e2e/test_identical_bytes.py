"""Two uploaders of identical bytes, on both backend sets: the second one's answers (upload,
metadata, list, CSV, statistics, share page) look like a first upload's and show nothing from
before their upload."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.e2e.conftest import Stack, make_jpeg

pytestmark = pytest.mark.e2e

PRIVATE_NAME = "alice-holiday-2026.jpg"


def bearer(key: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"} if key else {}


async def _json(stack: Stack, path: str, key: str | None = None) -> Any:
    response = await stack.client.get(path, headers=bearer(key))
    assert response.status == 200, await response.text()
    return await response.json()


async def _upload(stack: Stack, data: bytes, key: str | None, name: str) -> dict[str, Any]:
    before = datetime.now(UTC)
    response = await stack.upload(data, key, name)
    assert response.status == 201, await response.text()
    answer: dict[str, Any] = await response.json()
    assert datetime.fromisoformat(answer["created_at"]) >= before  # the claim's own time
    return answer


async def _alice_with_views(stack: Stack, data: bytes) -> tuple[dict[str, Any], str]:
    _, key = await stack.user_with_key("alice")
    first = await _upload(stack, data, key, PRIVATE_NAME)
    for n in range(5):
        headers = {"Referer": f"https://alice-blog.example/post-{n}"}
        assert (await stack.client.get(f"/i/{first['id']}?w=160", headers=headers)).status == 200
    assert await stack.analytics.flush() == 5
    return first, key


async def test_a_second_uploaders_answers_look_like_a_first_upload(stack: Stack) -> None:
    data = make_jpeg(500, 300, seed=21)
    first, alice_key = await _alice_with_views(stack, data)
    _, bob_key = await stack.user_with_key("bob")
    second = await _upload(stack, data, bob_key, "bob.jpg")
    mine = {k: v for k, v in first.items() if k != "created_at"}
    assert {k: v for k, v in second.items() if k != "created_at"} == mine
    assert second["deduplicated"] is False and second["created_at"] > first["created_at"]
    anonymous = await _upload(stack, data, None, "anon.jpg")
    assert anonymous["deduplicated"] is False and set(anonymous) == {
        *first,
        "delete_url",
        "delete_page",
    }
    again = await _upload_again(stack, data, bob_key)
    assert again["deduplicated"] is True and again["created_at"] == second["created_at"]

    image_id = first["id"]
    metadata = await _json(stack, f"/v1/images/{image_id}", bob_key)
    assert metadata["created_at"] == second["created_at"]
    assert (await _json(stack, f"/v1/images/{image_id}"))["created_at"] is None
    listed = (await _json(stack, "/v1/me/images", bob_key))["images"]
    assert [(i["filename"], i["views"], i["bytes_served"]) for i in listed] == [("bob.jpg", 0, 0)]
    assert listed[0]["uploaded_at"] == listed[0]["created_at"] == second["created_at"]
    exported = await stack.client.get("/v1/me/images?format=csv", headers=bearer(bob_key))
    rows = list(csv.DictReader(io.StringIO(await exported.text())))
    assert [(r["filename"], r["views"]) for r in rows] == [("bob.jpg", "0")]
    stats = await _json(stack, f"/v1/images/{image_id}/stats", bob_key)
    assert (stats["views"], stats["days"], stats["referrers"], stats["tiers"]) == (0, [], [], [])
    csv_stats = await stack.client.get(
        f"/v1/images/{image_id}/stats?format=csv", headers=bearer(bob_key)
    )
    assert (await csv_stats.text()).splitlines() == ["kind,key,views,bytes"]
    share = await (await stack.client.get(f"/p/{image_id}")).text()
    assert PRIVATE_NAME not in share and first["created_at"][:10] not in share
    assert "alice-blog" not in str([metadata, listed, stats])

    assert (
        await stack.client.get(f"/i/{image_id}?w=160", headers={"Referer": "https://bob.example/"})
    ).status == 200
    await stack.analytics.flush()
    stats = await _json(stack, f"/v1/images/{image_id}/stats", bob_key)
    assert stats["views"] == 1 and [r["host"] for r in stats["referrers"]] == ["bob.example"]
    assert (await _json(stack, f"/v1/images/{image_id}/stats", alice_key))["views"] == 6


async def _upload_again(stack: Stack, data: bytes, key: str) -> dict[str, Any]:
    response = await stack.upload(data, key, "bob-again.jpg")
    assert response.status == 201
    answer: dict[str, Any] = await response.json()
    return answer
