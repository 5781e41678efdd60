"""The pages: static HTML under a strict CSP, the server-rendered share page with its OpenGraph
tags, placeholder and caching, ShareX's file, and the size budget of the upload page."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from importlib import resources
from typing import Any

import pytest
from pydantic import SecretStr

from tests.corrupt import corrupt_jpeg
from tests.e2e.conftest import Stack, StackFactory, decode, make_jpeg

pytestmark = pytest.mark.e2e

PAGES = ("/", "/me")
UPLOAD_PAGE = ("index.html", "upload.js", "common.js", "app.css")


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def meta(self, key: str) -> str | None:
        for tag, attrs in self.tags:
            if tag == "meta" and key in (attrs.get("property"), attrs.get("name")):
                return attrs.get("content")
        return None

    def first(self, tag: str, **match: str) -> dict[str, str | None]:
        return next(
            a for t, a in self.tags if t == tag and all(a.get(k) == v for k, v in match.items())
        )


def parse(html: str) -> Tags:
    tags = Tags()
    tags.feed(html)
    return tags


def _assert_strict(html: str, headers: Any) -> None:
    policy = headers["Content-Security-Policy"]
    assert "default-src 'self'" in policy and "script-src 'self'" in policy
    assert "unsafe-inline" not in policy
    tags = parse(html).tags
    scripts = [attrs for tag, attrs in tags if tag == "script"]
    assert scripts and all(attrs.get("src", "").startswith("/static/") for attrs in scripts)
    assert not any("style" in attrs or any(k.startswith("on") for k in attrs) for _, attrs in tags)
    for tag, attrs in tags:  # nothing is loaded by URL; the canonical link names this page
        urls = [attrs.get("src") or "", attrs.get("srcset") or "", attrs.get("href") or ""]
        absolute = [url for url in urls if "//" in url]
        assert not absolute or (tag == "link" and attrs.get("rel") == "canonical"), attrs


async def test_static_pages_are_strict_and_short_lived(stack: Stack) -> None:
    for path in (*PAGES, "/p/" + "a" * 26 + "/stats"):
        async with stack.client.get(path) as response:
            assert response.status == 200 and response.content_type == "text/html"
            _assert_strict(await response.text(), response.headers)
            assert response.headers["Cache-Control"] == "public, max-age=60, must-revalidate"
            etag = response.headers["ETag"]
        async with stack.client.get(path, headers={"If-None-Match": etag}) as again:
            assert again.status == 304


async def test_scripts_ask_nothing_of_other_origins(stack: Stack) -> None:
    folder = resources.files("enlarger.pages").joinpath("static")
    for entry in folder.iterdir():
        text = entry.read_bytes().decode("utf-8", "replace")  # favicon.ico is not text
        # the only absolute URL allowed is the SVG namespace (an identifier, never fetched)
        others = set(re.findall(r"https?://[\w.-]+", text)) - {"http://www.w3.org"}
        assert entry.name.endswith(".js") is False or not others, (entry.name, others)
        async with stack.client.get(f"/static/{entry.name}") as response:
            assert response.status == 200 and response.headers["Cache-Control"] == "no-cache"
    async with stack.client.get("/static/nothing.js") as response:
        assert response.status == 404
        assert (await response.json())["error"]["code"] == "not_found"


def test_the_upload_page_is_small() -> None:
    folder = resources.files("enlarger.pages").joinpath("static")
    total = sum(len(folder.joinpath(name).read_bytes()) for name in UPLOAD_PAGE)
    assert total < 100 * 1024, total


async def test_share_page_unfurls_with_the_large_size(stack: Stack) -> None:
    answer = await (await stack.upload(make_jpeg(2400, 1800))).json()
    async with stack.client.get(f"/p/{answer['id']}") as response:
        assert response.status == 200
        html = await response.text()
        _assert_strict(html, response.headers)
        assert response.headers["Cache-Control"] == "public, max-age=60, must-revalidate"
        assert response.headers["Surrogate-Key"] == answer["id"]
    tags = parse(html)
    og_image = tags.meta("og:image")
    assert og_image is not None and og_image.startswith("http") and "size=large" in og_image
    assert (tags.meta("og:image:width"), tags.meta("og:image:height")) == ("1600", "1200")
    assert tags.meta("og:type") == "website" and tags.meta("og:title")
    assert tags.meta("twitter:card") == "summary_large_image"
    path = og_image.split("://", 1)[1].split("/", 1)[1]
    async with stack.client.get(f"/{path}") as image:
        assert image.status == 200 and image.content_type == "image/jpeg"
        decoded = decode(await image.read())
        assert (decoded.width, decoded.height) == (1600, 1200)
    photo = tags.first("img", id="photo")
    assert (photo["width"], photo["height"]) == ("1600", "1200")
    assert "fmt=auto" in (photo["srcset"] or "") and "2400w" not in (photo["srcset"] or "")
    assert "w=1920&amp;fmt=auto 1920w" in html and photo["sizes"]
    links = [a["href"] for t, a in tags.tags if t == "a" and "size=" in (a.get("href") or "")]
    assert {link.split("size=")[1] for link in links if link} == {
        "small",
        "medium",
        "large",
        "original",
    }


async def test_share_page_keeps_its_placeholder(stack: Stack) -> None:
    answer = await (await stack.upload(make_jpeg(800, 600, seed=4))).json()
    async with stack.client.get(f"/p/{answer['id']}") as response:
        first = await response.text()
    kept = await stack.repo.get_placeholder(answer["id"])
    assert kept is not None and len(kept) >= 6
    assert f'data-blurhash="{kept}"' in first
    async with stack.client.get(f"/p/{answer['id']}") as response:
        etag = response.headers["ETag"]
        assert await response.text() == first  # computed once, the same page after
    async with stack.client.get(f"/p/{answer['id']}", headers={"If-None-Match": etag}) as again:
        assert again.status == 304


async def test_share_page_of_an_unknown_image_is_404(stack: Stack) -> None:
    for image_id in ("a" * 26, "not-an-id"):
        async with stack.client.get(f"/p/{image_id}") as response:
            assert response.status == 404


async def test_sharex_file(stack: Stack) -> None:
    async with stack.client.get("/v1/sharex.sxcu") as response:
        assert response.status == 200
        assert "attachment" in response.headers["Content-Disposition"]
        config = await response.json(content_type=None)
    assert config["RequestURL"].endswith("/v1/images") and config["FileFormName"] == "file"
    assert config["URL"] == "{json:url}" and "Headers" not in config
    assert config["DeletionURL"] == "{json:delete_page}"
    _, key = await stack.user_with_key("sharex")
    auth = {"Authorization": f"Bearer {key}"}
    async with stack.client.get("/v1/sharex.sxcu", headers=auth) as response:
        config = await response.json(content_type=None)
    assert config["Headers"] == {"Authorization": f"Bearer {key}"}
    bad = {"Authorization": "Bearer enl_nope"}
    async with stack.client.get("/v1/sharex.sxcu", headers=bad) as response:
        assert response.status == 401


async def test_anonymous_upload_has_a_delete_page(stack: Stack) -> None:
    answer = await (await stack.upload(make_jpeg(300, 200, seed=8))).json()
    token = answer["delete_url"].rsplit("/", 1)[1]
    assert answer["delete_page"].endswith(f"/me#delete={answer['id']}.{token}")


async def test_share_page_signs_its_srcset_when_signatures_are_required(
    backend_settings: Any, make_stack: StackFactory
) -> None:
    stack = await make_stack(
        backend_settings, signing_keys=SecretStr("page-key"), require_signature=True
    )
    answer = await (await stack.upload(make_jpeg(1000, 750, seed=5))).json()
    async with stack.client.get(f"/p/{answer['id']}") as response:
        photo = parse(await response.text()).first("img", id="photo")
    candidates = [entry.strip().split(" ")[0] for entry in (photo["srcset"] or "").split(",")]
    assert candidates and all("&sig=" in url for url in candidates)
    async with stack.client.get(candidates[0]) as image:
        assert image.status == 200
    async with stack.client.get(candidates[0].split("&sig=")[0]) as unsigned:
        assert unsigned.status == 403  # what the page would have shown without signing


BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


def _path(url: str) -> str:
    return "/" + url.split("://", 1)[1].split("/", 1)[1]


async def test_browsers_are_answered_pages_json_clients_json(stack: Stack) -> None:
    answer = await (await stack.upload(make_jpeg(300, 200, seed=9))).json()
    assert (await stack.client.delete(_path(answer["delete_url"]))).status == 204
    gone = answer["id"]
    for path in ("/p/" + "a" * 26, f"/p/{gone}", f"/p/{gone}/", "/me/", "/nothing", "/p/not-an-id"):
        async with stack.client.get(path, headers=BROWSER) as page:
            assert page.status == 404 and page.content_type == "text/html", path
            html = await page.text()
            assert "default-src 'self'" in page.headers["Content-Security-Policy"]
            assert page.headers["Cache-Control"] == "no-store"
            assert 'href="/static/app.css"' in html and "not found" in html.lower()
        async with stack.client.get(path, headers={"Accept": "application/json"}) as data:
            assert data.status == 404 and data.content_type == "application/json", path
    async with stack.client.get(f"/p/{'a' * 26}", headers=BROWSER) as page:
        assert "deleted" in await page.text()  # an image page says it may have been deleted
    async with stack.client.get("/v1/images/" + "a" * 26, headers=BROWSER) as api:
        assert api.content_type == "application/json"  # the API stays JSON for everyone


async def test_favicon(stack: Stack) -> None:
    async with stack.client.get("/favicon.ico") as icon:
        assert icon.status == 200 and icon.content_type == "image/x-icon"
        assert "max-age=604800" in icon.headers["Cache-Control"]
        data = await icon.read()
    assert data[:4] == b"\0\0\1\0" and len(data) < 8192  # an ICO header, small


async def test_a_delete_url_opened_in_a_browser_asks_first(stack: Stack) -> None:
    answer = await (await stack.upload(make_jpeg(300, 200, seed=10))).json()
    path = _path(answer["delete_url"])
    async with stack.client.get(path, headers=BROWSER, allow_redirects=False) as page:
        assert page.status == 303
        token = path.rsplit("/", 1)[1]
        assert page.headers["Location"] == f"/me#delete={answer['id']}.{token}"
    async with stack.client.get(path) as api:
        assert api.status == 405 and api.headers["Allow"] == "DELETE"
    assert (await stack.client.get(f"/v1/images/{answer['id']}")).status == 200  # still there


async def test_share_page_of_an_unrenderable_image_explains(stack: Stack) -> None:
    answer = await (await stack.upload(corrupt_jpeg())).json()
    async with stack.client.get(f"/p/{answer['id']}") as response:
        assert response.status == 200
        html = await response.text()
    assert 'id="unrenderable"' in html and "cannot be shown" in html
    assert 'id="photo"' not in html


async def test_share_page_of_an_avif_unfurls_as_jpeg(stack: Stack) -> None:
    avif = decode(make_jpeg(1000, 750, seed=11)).heifsave_buffer(compression="av1")
    answer = await (await stack.upload(avif)).json()
    assert answer["format"] == "avif"
    async with stack.client.get(f"/p/{answer['id']}") as response:
        tags = parse(await response.text())
    og_image, card = tags.meta("og:image"), tags.meta("twitter:image")
    assert og_image == card and og_image is not None
    assert og_image.endswith(f"/i/{answer['id']}.jpg?size=large")
    assert tags.meta("og:image:type") == "image/jpeg"
    async with stack.client.get(_path(og_image)) as image:
        assert image.status == 200 and image.content_type == "image/jpeg"
