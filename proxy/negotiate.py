"""``fmt=auto``: the output format class from the ``Accept`` header, one of three (avif, webp,
``auto-legacy``); the class is part of the variant key, so one URL makes at most three variants
and answers say ``Vary: Accept`` (docs/architecture.md).
"""

from __future__ import annotations


def _accepted(accept: str) -> set[str]:
    types = set()
    for item in accept.split(","):
        media, _, params = item.strip().partition(";")
        quality = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if quality > 0:
            types.add(media.strip().lower())
    return types


def negotiate(accept: str | None) -> str:
    """``auto-avif`` when the client names AVIF, else ``auto-webp`` for WebP, else
    ``auto-legacy`` (JPEG, or PNG/GIF where the source needs them; GIF for animations).
    Wildcards do not count: browsers that can show AVIF or WebP say so explicitly."""
    types = _accepted(accept or "")
    if "image/avif" in types:
        return "auto-avif"
    if "image/webp" in types:
        return "auto-webp"
    return "auto-legacy"
