"""The share page ``/p/<id>``: rendered by the server, as its OpenGraph and Twitter card tags
must be in the HTML that chat apps fetch (they run no script).

The image is a responsive ``<img srcset sizes>`` over the width ladder with ``fmt=auto`` (each
browser gets AVIF, WebP or its legacy format), with the ``large`` size's ``width``/``height`` so
the layout does not shift, and a BlurHash placeholder drawn while it loads. ``og:image`` is the
absolute URL of the ``large`` size in the original's own format (chat apps do not all read
AVIF/WebP), with its real dimensions.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from html import escape
from string import Template

from enlarger.db import Image
from enlarger.proxy.spec import ViewPolicy

SRCSET_MIN, SRCSET_MAX = 160, 3840  # the ladder steps offered to the browser
SIZES = "(max-width: 1000px) 100vw, 960px"
OG_TYPES = {"png": "image/png", "gif": "image/gif", "webp": "image/webp", "avif": "image/avif"}


@dataclass(frozen=True, slots=True)
class Size:
    name: str
    width: int
    height: int


def fitted(image: Image, box: int) -> tuple[int, int]:
    """A named size's dimensions: the longest side bounded by ``box``, never upscaled (the
    rounding of :mod:`proxy.geometry`)."""
    scale = min(1.0, box / image.width, box / image.height)
    return max(1, round(image.width * scale)), max(1, round(image.height * scale))


def named_sizes(image: Image, policy: ViewPolicy) -> list[Size]:
    sizes = [Size(name, *fitted(image, box)) for name, box in policy.named_sizes.items()]
    return [*sizes, Size("original", image.width, image.height)]


def srcset(image: Image, policy: ViewPolicy, sign: Callable[[str], str] | None = None) -> str:
    """The ladder's widths up to the image's; signed when the server serves only named sizes
    without a signature (``ENLARGER_REQUIRE_SIGNATURE``; ``sign`` is then given)."""
    top = min(image.width, SRCSET_MAX)
    widths = [w for w in policy.width_ladder if SRCSET_MIN <= w <= top]
    path = f"/i/{image.id}"
    if not widths:
        return f"{path}?size=original&fmt=auto {image.width}w"
    signed = sign or (lambda url: url)
    return ", ".join(f"{signed(f'{path}?w={w}&fmt=auto')} {w}w" for w in widths)


def render(
    template: Template,
    image: Image,
    policy: ViewPolicy,
    base: str,
    placeholder: str | None,
    sign: Callable[[str], str] | None = None,
) -> str:
    sizes = named_sizes(image, policy)
    large = next(size for size in sizes if size.name == "large")
    og_image = f"{base}/i/{image.id}?size=large"
    links = "\n".join(
        f'<li><a href="/i/{image.id}?size={s.name}">{s.name}</a> {s.width}\u00d7{s.height}</li>'
        for s in sizes
    )
    values = {
        "id": image.id,
        "title": f"Image {large.width}\u00d7{large.height}",
        "page_url": f"{base}/p/{image.id}",
        "og_image": og_image,
        "og_type": OG_TYPES.get(image.format, "image/jpeg"),
        "width": str(large.width),
        "height": str(large.height),
        "src": f"/i/{image.id}?size=large&fmt=auto",
        "srcset": srcset(image, policy, sign),
        "sizes": SIZES,
        "blurhash": placeholder or "",
        "format": image.format,
        "bytes": f"{image.bytes / 1024 / 1024:.1f} MB",
        "original_size": f"{image.width}\u00d7{image.height}",
    }
    escaped = {key: escape(value, quote=True) for key, value in values.items()}
    return template.substitute(escaped, links=links)
