"""The share page ``/p/<id>``, rendered by the server (chat apps read its OpenGraph and Twitter tags
and run no script): a ``srcset`` over the width ladder with ``fmt=auto``, the ``large`` size's
numbers, a BlurHash placeholder, an ``og:image`` every reader shows (docs/api.md, "Pages")."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from html import escape
from string import Template

from enlarger.db import Image
from enlarger.proxy.spec import ViewPolicy

SRCSET_MIN, SRCSET_MAX = 160, 3840  # the ladder steps offered to the browser
SIZES = "(max-width: 1000px) 100vw, 960px"
OG_TYPES = {"png": "image/png", "gif": "image/gif", "webp": "image/webp"}
PORTABLE = {"avif": ".jpg"}  # originals not every reader shows: their links name JPEG
UNRENDERABLE = {
    "undecodable": "its pixel data cannot be decoded (the file is damaged or truncated)",
}


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
    path = f"/i/{image.id}"
    if policy.presets_only:  # ENLARGER_PRESETS_ONLY: w= would be refused
        return named_srcset(image, policy, path)
    top = min(image.width, SRCSET_MAX)
    widths = [w for w in policy.width_ladder if SRCSET_MIN <= w <= top]
    if not widths:
        return f"{path}?size=original&fmt=auto {image.width}w"
    signed = sign or (lambda url: url)
    return ", ".join(f"{signed(f'{path}?w={w}&fmt=auto')} {w}w" for w in widths)


def named_srcset(image: Image, policy: ViewPolicy, path: str) -> str:
    """The named sizes at their widths (one per width: a small image's sizes coincide)."""
    largest_first = reversed(list(policy.named_sizes.items()))
    widths = {fitted(image, box)[0]: name for name, box in largest_first}
    return ", ".join(f"{path}?size={name}&fmt=auto {w}w" for w, name in sorted(widths.items()))


def human_bytes(count: int) -> str:
    """``2.1 MB``, ``740 KB``, ``512 bytes`` (binary multiples, as the pages' script says them:
    ``humanBytes`` in common.js)."""
    if count < 1024:
        return f"{count} bytes"
    if count < 1024 * 1024:
        return f"{count / 1024:.0f} KB"
    return f"{count / 1024 / 1024:.1f}".removesuffix(".0") + " MB"


def portable_link(image: Image, query: str) -> str:
    """The path of a view in a format every reader shows (see ``PORTABLE``)."""
    return f"/i/{image.id}{PORTABLE.get(image.format, '')}?{query}"


@dataclass(frozen=True, slots=True)
class Shown:
    """What the page knows beyond the image row: its placeholder, how to sign, whether
    statistics are public."""

    placeholder: str | None = None
    sign: Callable[[str], str] | None = None
    public_stats: bool = False


def render(template: Template, image: Image, policy: ViewPolicy, base: str, shown: Shown) -> str:
    sizes = named_sizes(image, policy)
    large = next(size for size in sizes if size.name == "large")
    served = f"{large.width}\u00d7{large.height}"
    links = "\n".join(
        f'<li><a href="/i/{image.id}?size={s.name}">{s.name}</a> {s.width}\u00d7{s.height}</li>'
        for s in sizes
    )
    values = {
        "id": image.id,
        "title": f"Image {served}",
        "page_url": f"{base}/p/{image.id}",
        "og_image": base + portable_link(image, "size=large"),
        "og_type": OG_TYPES.get(image.format, "image/jpeg"),
        "width": str(large.width),
        "height": str(large.height),
        "format": image.format,
        "bytes": human_bytes(image.bytes),
        "original_size": f"{image.width}\u00d7{image.height}",
        "stats_hidden": "" if shown.public_stats else " hidden",
    }
    escaped = {key: escape(value, quote=True) for key, value in values.items()}
    return template.substitute(escaped, links=links, figure=figure(image, policy, served, shown))


def figure(image: Image, policy: ViewPolicy, served: str, shown: Shown) -> str:
    """The photo over its placeholder, or why it cannot be shown."""
    if image.unrenderable is not None:
        why = UNRENDERABLE.get(image.unrenderable, image.unrenderable)
        return (
            '<p class="notice error" id="unrenderable">This image was uploaded, but it cannot '
            f"be shown: {escape(why)}. No size of it can be made.</p>"
        )
    large = next(size for size in named_sizes(image, policy) if size.name == "large")
    values = {
        "src": f"/i/{image.id}?size=large&fmt=auto",
        "srcset": srcset(image, policy, shown.sign),
        "hash": shown.placeholder or "",
        "alt": f"Shared image, {served}",
    }
    e = {key: escape(value, quote=True) for key, value in values.items()}
    return (
        '<div class="frame">\n<canvas class="placeholder" width="32" height="32" '
        f'data-blurhash="{e["hash"]}" aria-hidden="true"></canvas>\n'
        f'<img id="photo" src="{e["src"]}" srcset="{e["srcset"]}" sizes="{SIZES}" '
        f'width="{large.width}" height="{large.height}" alt="{e["alt"]}" decoding="async" '
        'fetchpriority="high">\n</div>\n'
        '<p class="notice error" id="unshown" role="alert" hidden></p>'
    )
