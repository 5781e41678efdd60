"""The pages' files, read once from the package at start-up, with their ETags, and the headers
every HTML answer carries (a strict Content-Security-Policy: nothing from another origin, no
inline script or style; Accept-CH, so that Chromium sends its images' client hints)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import resources
from string import Template
from urllib.parse import urlsplit

from aiohttp import web

from enlarger.errors import NotFound
from enlarger.proxy.hints import ACCEPT_CH

HTML_CACHE = "public, max-age=60, must-revalidate"  # short, revalidated: pages change
ASSET_CACHE = "no-cache"  # unversioned names: always revalidate (a 304 costs nothing)
ICON_CACHE = "public, max-age=604800"  # /favicon.ico: asked for by every first visit
TYPES = {
    ".html": "text/html",
    ".css": "text/css",
    ".js": "text/javascript",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
}


@dataclass(frozen=True, slots=True)
class Asset:
    body: bytes
    content_type: str
    etag: str


def asset(body: bytes, content_type: str) -> Asset:
    return Asset(body, content_type, f'"{hashlib.blake2b(body, digest_size=12).hexdigest()}"')


@dataclass(frozen=True, slots=True)
class Pages:
    files: dict[str, Asset]  # static/<name>
    share: Template
    error: Template

    @classmethod
    def load(cls) -> Pages:
        root = resources.files("enlarger.pages")
        files = {}
        for entry in root.joinpath("static").iterdir():
            suffix = "." + entry.name.rsplit(".", 1)[-1]
            if entry.is_file() and suffix in TYPES:
                files[entry.name] = asset(entry.read_bytes(), TYPES[suffix])
        templates = root.joinpath("templates")
        share = Template(templates.joinpath("share.html").read_text("utf-8"))
        error = Template(templates.joinpath("error.html").read_text("utf-8"))
        return cls(files, share, error)

    def file(self, name: str) -> Asset:
        found = self.files.get(name)
        if found is None:
            raise NotFound("no such file", name=name[:64])
        return found


PAGES: web.AppKey[Pages] = web.AppKey("pages", Pages)


def csp(public_url: str | None) -> str:
    """Same origin only; the public URL's origin too for images when links point elsewhere."""
    images = "'self'"
    if public_url:
        parts = urlsplit(public_url)
        images += f" {parts.scheme}://{parts.netloc}"
    return (
        f"default-src 'self'; img-src {images}; script-src 'self'; style-src 'self'; "
        "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
    )


def answer(request: web.Request, item: Asset, cache: str, public_url: str | None) -> web.Response:
    headers = {
        "Cache-Control": cache,
        "ETag": item.etag,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "strict-origin-when-cross-origin",
    }
    if item.content_type == "text/html":
        headers["Content-Security-Policy"] = csp(public_url)
        headers["Accept-CH"] = ACCEPT_CH  # the hints w=auto and dpr=auto read (proxy.hints)
    if item.etag in request.headers.get("If-None-Match", ""):
        return web.Response(status=304, headers=headers)
    text = item.content_type.startswith("text/") or item.content_type.endswith("+xml")
    return web.Response(
        body=item.body,
        content_type=item.content_type,
        charset="utf-8" if text else None,
        headers=headers,
    )
