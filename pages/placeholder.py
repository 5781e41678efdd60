"""The share page's placeholder: a BlurHash of the image, made once on the first view of its share
page from the 32 px variant (through the variant service; about a millisecond, off the event loop)
and kept in the image's row; the page's script draws it while the image loads."""

from __future__ import annotations

import asyncio
import logging

import blurhash
import pyvips
from multidict import MultiDict

from enlarger.db import Repository
from enlarger.errors import EnlargerError
from enlarger.proxy.service import VariantService
from enlarger.proxy.spec import SpecCache

log = logging.getLogger(__name__)

COMPONENTS = (4, 3)  # BlurHash components across and down: ~20 characters
_QUERY = MultiDict({"w": "32", "fmt": "png"})


def encode(small_image: bytes) -> str:
    """The BlurHash of an encoded (small) image: alpha over white, sRGB, 8 bits."""
    image = pyvips.Image.new_from_buffer(small_image, "")
    if image.hasalpha():
        image = image.flatten(background=[255, 255, 255])
    if image.bands < 3:
        image = image.colourspace("srgb")
    image = image.extract_band(0, n=3).cast("uchar")
    data = image.write_to_memory()
    width, height = image.width, image.height
    rows = [
        [list(data[(y * width + x) * 3 : (y * width + x) * 3 + 3]) for x in range(width)]
        for y in range(height)
    ]
    return str(blurhash.encode(rows, *COMPONENTS))


async def placeholder(
    repo: Repository, variants: VariantService, specs: SpecCache, image_id: str
) -> str | None:
    """The kept BlurHash, else computed and kept now; ``None`` when it cannot be made right
    now (renderer full, backend away): the page then shows no placeholder, and a later view
    tries again."""
    kept = await repo.get_placeholder(image_id)
    if kept is not None:
        return kept
    try:
        served = await variants.get(image_id, specs.parse("w=32&fmt=png", _QUERY, None))
        value = await asyncio.to_thread(encode, served.data)
    except (EnlargerError, pyvips.Error) as exc:
        log.info("no placeholder for %s yet: %s", image_id, type(exc).__name__)
        return None
    await repo.set_placeholder(image_id, value)
    return value
