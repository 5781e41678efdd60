"""``ENLARGER_PRERENDER_SIZES``: the sizes an upload renders in the background, before their first
view, on both backend sets: the link's first view is then a cache hit; an identical upload and a
busy renderer start none; with the setting at its default nothing is rendered ahead."""

from __future__ import annotations

import pytest

from enlarger.settings import Settings
from tests.e2e.conftest import Stack, StackFactory, make_jpeg
from tests.e2e.test_master import _metric

pytestmark = pytest.mark.e2e


async def _prerenders(stack: Stack, outcome: str) -> float:
    text = await (await stack.client.get("/metrics")).text()
    return _metric(text, f'enlarger_prerenders_total{{outcome="{outcome}"}}')


def _tier(response: object) -> str:
    timing = response.headers["Server-Timing"]  # type: ignore[attr-defined]
    return str(timing.split('tier;desc="', 1)[1].split('"', 1)[0])


async def test_the_links_first_view_is_rendered_ahead(
    backend_settings: Settings, make_stack: StackFactory
) -> None:
    stack = await make_stack(backend_settings, prerender_sizes=("large", "small"))
    answer = await stack.upload(make_jpeg(2400, 1800))
    assert answer.status == 201
    image_id = (await answer.json())["id"]
    await stack.views.prerender.settle()
    assert await _prerenders(stack, "render") == 2
    for query in ("", "?size=large", "?size=small"):  # /i/<id> is size=large
        view = await stack.client.get(f"/i/{image_id}{query}")
        assert view.status == 200 and _tier(view) != "render", (query, view.headers)
    assert len(await stack.variant_names(image_id)) == 2  # stored like any render
    medium = await stack.client.get(f"/i/{image_id}?size=medium")  # not asked ahead: renders
    assert medium.status == 200 and _tier(medium) == "render"

    again = await stack.upload(make_jpeg(2400, 1800))  # identical: its sizes exist
    assert (await again.json())["id"] == image_id  # stored already (the answer never says)
    await stack.views.prerender.settle()
    assert await _prerenders(stack, "render") == 2


async def test_a_busy_renderer_drops_prerenders(
    backend_settings: Settings, make_stack: StackFactory
) -> None:
    stack = await make_stack(
        backend_settings, prerender_sizes=("large",), render_threads=1, render_queue=2
    )
    renderer = stack.views.renderer
    with renderer.reserve(), renderer.reserve():  # running, and half the queue taken
        assert (await stack.upload(make_jpeg(1200, 900))).status == 201
    await stack.views.prerender.settle()
    assert await _prerenders(stack, "dropped") == 1
    assert await _prerenders(stack, "render") == 0
    assert await stack.count_variants() == 0


async def test_off_by_default(stack: Stack) -> None:
    assert stack.settings.prerender_sizes == ()
    image_id = (await (await stack.upload(make_jpeg())).json())["id"]
    await stack.views.prerender.settle()
    assert await stack.count_variants() == 0
    view = await stack.client.get(f"/i/{image_id}")
    assert _tier(view) == "render"
