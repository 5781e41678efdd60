"""The per-image budget of stored variants: random sizes and qualities never store more than
``ENLARGER_MAX_VARIANTS_PER_IMAGE``, and every request still answers 200."""

from __future__ import annotations

import asyncio
import random

import pytest

from enlarger.settings import Settings
from tests.e2e.conftest import Stack, StackFactory, decode, make_jpeg

pytestmark = pytest.mark.e2e


async def upload(stack: Stack) -> str:
    answer = await stack.client.post(
        "/v1/images", data=make_jpeg(300, 200), headers={"Content-Type": "image/jpeg"}
    )
    assert answer.status == 201
    image_id: str = (await answer.json())["id"]
    return image_id


async def view(stack: Stack, image_id: str, width: int, quality: int) -> tuple[int, str, bytes]:
    answer = await stack.client.get(f"/i/{image_id}?w={width}&q={quality}")
    return answer.status, answer.headers.get("Cache-Control", ""), await answer.read()


async def test_400_random_variants_store_no_more_than_the_budget(stack: Stack) -> None:
    image_id = await upload(stack)
    rng = random.Random(10)
    asks = [(rng.randint(1, 4000), rng.randint(1, 100)) for _ in range(400)]
    answers = []
    for start in range(0, len(asks), 16):  # 16 at a time: the budget holds under concurrency
        batch = asks[start : start + 16]
        answers += await asyncio.gather(*(view(stack, image_id, w, q) for w, q in batch))
    assert [status for status, _, _ in answers] == [200] * 400, [a[:2] for a in answers]
    assert await stack.count_variants() == 100  # the default budget, spent and never passed
    short = [cache for _, cache, _ in answers if "immutable" not in cache]
    assert short and all(cache == "public, max-age=60" for cache in short)
    assert all(decode(body).width <= 300 for _, _, body in answers[:20])


async def test_the_budget_holds_across_two_instances(
    backend_settings: Settings, make_stack: StackFactory
) -> None:
    first = await make_stack(backend_settings, max_variants_per_image=5)
    second = await make_stack(backend_settings, max_variants_per_image=5)
    image_id = await upload(first)
    for n, width in enumerate((16, 32, 48, 64, 96, 128, 160, 192)):
        status, cache, _ = await view(first if n % 2 else second, image_id, width, 80)
        assert status == 200
        assert ("immutable" in cache) == (n < 5)
    assert await first.count_variants() == 5
    status, cache, _ = await view(second, image_id, 32, 80)  # stored ones stay lasting
    assert status == 200 and "immutable" in cache


async def test_past_the_budget_the_nearest_stored_size_stands_in(
    backend_settings: Settings, make_stack: StackFactory
) -> None:
    stack = await make_stack(backend_settings, max_variants_per_image=1)
    image_id = await upload(stack)
    assert (await view(stack, image_id, 200, 80))[0] == 200  # stored: w240
    answer = await stack.client.get(f"/i/{image_id}?w=250")
    assert answer.status == 200 and answer.headers["Cache-Control"] == "public, max-age=60"
    assert 'tier;desc="fallback"' in answer.headers["Server-Timing"]
    assert decode(await answer.read()).width == 240
    cropped = await stack.client.get(f"/i/{image_id}?w=100&crop=0,0,50,50")  # no stand-in
    assert cropped.status == 200 and "immutable" not in cropped.headers["Cache-Control"]
    assert decode(await cropped.read()).width == 50  # rendered, never upscaled, not stored
    assert await stack.count_variants() == 1
