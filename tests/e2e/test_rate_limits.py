"""Rate limits on uploads and cold renders, per address, per API key, behind proxies, and
shared by two instances through Redis (docs/security.md)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from enlarger.errors import RateLimited
from enlarger.proxy.fallback import variant_cache_key
from enlarger.settings import Settings
from tests.e2e.conftest import Stack, StackFactory, make_jpeg

pytestmark = pytest.mark.e2e

TINY = make_jpeg(32, 24)


async def post(stack: Stack, data: bytes = TINY, **headers: str) -> Any:
    headers = {"Content-Type": "image/jpeg", **headers}
    return await stack.client.post("/v1/images", data=data, headers=headers)


async def statuses(stack: Stack, count: int, **headers: str) -> list[int]:
    answers = [await post(stack, make_jpeg(16, 16, seed=n), **headers) for n in range(count)]
    return [answer.status for answer in answers]


async def test_300_quick_uploads_from_one_address_are_limited(stack: Stack) -> None:
    start = time.monotonic()
    answers = [await post(stack, make_jpeg(16, 16, seed=n)) for n in range(300)]
    elapsed = time.monotonic() - start
    codes = [answer.status for answer in answers]
    assert codes[:60] == [201] * 60  # the default: 60 a minute, as a burst
    assert codes.count(201) <= 60 + elapsed + 1  # then one a second
    limited = [answer for answer in answers if answer.status == 429]
    assert len(limited) >= 300 - 60 - elapsed - 1
    first = limited[0]
    assert 1 <= int(first.headers["Retry-After"]) <= 2
    assert first.headers["Cache-Control"] == "no-store"
    error = (await first.json())["error"]
    assert error["code"] == "rate_limited" and error["limit"] == "rate_limit_uploads"
    assert error["per_minute"] == 60


async def test_an_api_key_has_its_own_larger_bucket(
    backend_settings: Settings, make_stack: StackFactory
) -> None:
    stack = await make_stack(backend_settings, rate_limit_uploads=3, rate_limit_key_multiple=2)
    assert await statuses(stack, 4) == [201, 201, 201, 429]  # the address's bucket is empty
    _, key = await stack.user_with_key("erin")
    auth = {"Authorization": f"Bearer {key}"}
    assert await statuses(stack, 7, **auth) == [201] * 6 + [429]  # 3 x 2, its own
    assert (await post(stack)).status == 429  # the address is still limited


async def test_behind_a_trusted_proxy_the_forwarded_address_is_limited(
    backend_settings: Settings, make_stack: StackFactory
) -> None:
    stack = await make_stack(backend_settings, rate_limit_uploads=2)  # loopback is trusted
    one = {"X-Forwarded-For": "203.0.113.7"}
    assert await statuses(stack, 3, **one) == [201, 201, 429]
    assert await statuses(stack, 1, **{"X-Forwarded-For": "203.0.113.8"}) == [201]
    spoofed = {"X-Forwarded-For": "198.51.100.99, 203.0.113.7"}  # the client's own claim first
    assert await statuses(stack, 1, **spoofed) == [429]
    assert await statuses(stack, 2) == [201, 201]  # the proxy itself is a client of its own


async def test_an_untrusted_peers_forwarded_for_is_ignored(
    backend_settings: Settings, make_stack: StackFactory
) -> None:
    stack = await make_stack(backend_settings, rate_limit_uploads=2, trusted_proxies="10.0.0.0/8")
    codes = [(await post(stack, **{"X-Forwarded-For": f"203.0.113.{n}"})).status for n in range(3)]
    assert codes == [201, 201, 429]


async def test_limits_hold_across_two_instances_sharing_redis(
    tmp_path: Path, redis_url: str, make_stack: StackFactory
) -> None:
    settings = Settings(data_dir=tmp_path / "data", redis_url=redis_url, rate_limit_uploads=4)
    first, second = await make_stack(settings), await make_stack(settings)
    assert await statuses(first, 2) == [201, 201]
    assert await statuses(second, 3) == [201, 201, 429]
    assert await statuses(first, 1) == [429]


async def test_only_real_renders_are_limited(
    backend_settings: Settings, make_stack: StackFactory
) -> None:
    stack = await make_stack(backend_settings, rate_limit_renders=2)
    image_id = (await (await post(stack, make_jpeg(400, 300))).json())["id"]
    for width in (100, 200):
        assert (await stack.client.get(f"/i/{image_id}?w={width}")).status == 200
    refused = await stack.client.get(f"/i/{image_id}?w=300")
    assert refused.status == 429 and "Retry-After" in refused.headers
    assert (await refused.json())["error"]["limit"] == "rate_limit_renders"
    for _ in range(3):  # cached answers are never limited
        assert (await stack.client.get(f"/i/{image_id}?w=100")).status == 200
    spec = stack.views.specs.parse("w=200", [("w", "200")], None)
    await stack.views.variants.settle()  # (with Redis the store's copy follows the answer)
    await stack.cache.delete(variant_cache_key(image_id, spec.key))
    stored = await stack.client.get(f"/i/{image_id}?w=200")  # from the blob store: no render
    assert stored.status == 200 and 'tier;desc="store"' in stored.headers["Server-Timing"]
    other = {"X-Forwarded-For": "203.0.113.50"}  # another client still renders
    assert (await stack.client.get(f"/i/{image_id}?w=300", headers=other)).status == 200


async def test_quality_searches_have_their_own_smaller_bucket(
    backend_settings: Settings, make_stack: StackFactory
) -> None:
    """A first ``q=auto`` view costs 10-55 renders' CPU: beside its render token it takes a
    quality-search token, and a client past that bucket still gets every other render."""
    stack = await make_stack(backend_settings, rate_limit_quality_searches=1)
    image_id = (await (await post(stack, make_jpeg(400, 300))).json())["id"]
    assert (await stack.client.get(f"/i/{image_id}?w=100&q=auto")).status == 200
    refused = await stack.client.get(f"/i/{image_id}?w=200&q=auto")
    assert refused.status == 429 and "Retry-After" in refused.headers
    assert (await refused.json())["error"]["limit"] == "rate_limit_quality_searches"
    assert (await stack.client.get(f"/i/{image_id}?w=100&q=auto")).status == 200  # kept: no search
    assert (await stack.client.get(f"/i/{image_id}?w=200&q=70")).status == 200
    assert (await stack.client.get(f"/i/{image_id}?w=200&q=auto&fmt=png")).status == 200


async def test_a_first_max_bytes_view_takes_a_quality_search_token(
    backend_settings: Settings, make_stack: StackFactory
) -> None:
    """``max_bytes`` may encode several times (docs/api.md, "max_bytes"): charged as q=auto."""
    stack = await make_stack(backend_settings, rate_limit_quality_searches=1)
    image_id = (await (await post(stack, make_jpeg(400, 300))).json())["id"]
    assert (await stack.client.get(f"/i/{image_id}?w=100&max_bytes=5000")).status == 200
    refused = await stack.client.get(f"/i/{image_id}?w=200&max_bytes=5000&fmt=png")
    assert refused.status == 429
    assert (await refused.json())["error"]["limit"] == "rate_limit_quality_searches"
    assert (await stack.client.get(f"/i/{image_id}?w=100&max_bytes=5000")).status == 200  # kept
    assert (await stack.client.get(f"/i/{image_id}?w=200")).status == 200


async def test_limits_are_reported_and_zero_turns_them_off(
    backend_settings: Settings, make_stack: StackFactory
) -> None:
    stack = await make_stack(backend_settings, rate_limit_uploads=0)
    limits = await (await stack.client.get("/v1/limits")).json()
    assert limits["rate_limits"] == {
        "uploads_per_minute": 0,
        "renders_per_minute": 600,
        "quality_searches_per_minute": 30,
        "api_key_multiple": 10,
    }
    assert limits["max_variants_per_image"] == 100
    assert limits["signed_urls"] == {"enabled": False, "required": False}
    assert set(await statuses(stack, 70)) == {201}


async def test_one_clients_render_limit_is_not_shared_through_single_flight(stack: Stack) -> None:
    image_id = (await (await post(stack, make_jpeg(400, 300))).json())["id"]
    spec = stack.views.specs.parse("w=200", [("w", "200")], None)
    charged = asyncio.Event()

    async def over_the_limit() -> None:  # the first client's charge: refused, a little later
        charged.set()
        await asyncio.sleep(0.2)
        raise RateLimited("over the limit", retry_after=1)

    first = asyncio.ensure_future(stack.views.variants.get(image_id, spec, over_the_limit))
    await charged.wait()  # the first client leads the flight for this variant now
    served = await stack.views.variants.get(image_id, spec)  # another client, within limits
    assert served.tier == "render"
    with pytest.raises(RateLimited):
        await first
