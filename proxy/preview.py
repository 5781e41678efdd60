"""The lazy half of an image's placeholder for clients (:mod:`enlarger.preview`): for an image
stored without one (before migration 0006, or a HEIC or AVIF upload), made from its 100 px PNG
variant through the variant service (shrink-on-load, the caches, the undecodable mark), then
hashed in the render pool: never on the event loop. The caller keeps it in the image's row."""

from __future__ import annotations

import logging

import pyvips
from multidict import MultiDict

from enlarger import preview
from enlarger.db import ImagePreview
from enlarger.errors import EnlargerError
from enlarger.proxy.renderer import Renderer
from enlarger.proxy.service import VariantService
from enlarger.proxy.spec import SpecCache

log = logging.getLogger(__name__)

_SIDE = str(preview.SIDE)
_QUERY_STRING = f"w={_SIDE}&h={_SIDE}&fmt=png"  # fit inside; PNG keeps the alpha
_QUERY = MultiDict({"w": _SIDE, "h": _SIDE, "fmt": "png"})


async def make_preview(
    variants: VariantService, renderer: Renderer, specs: SpecCache, image_id: str
) -> ImagePreview | None:
    """The placeholder, or None when it cannot be made right now (renderer full, backend away,
    the image undecodable): the answer then shows null, and a later GET tries again."""
    try:
        served = await variants.get(image_id, specs.parse(_QUERY_STRING, _QUERY, None))
        (thumbhash, dominant), _seconds = await renderer.run(preview.of_buffer, served.data)
    except (EnlargerError, pyvips.Error) as exc:
        log.info("no placeholder for %s yet: %s", image_id, type(exc).__name__)
        return None
    return ImagePreview(thumbhash, dominant)
