"""The view route's analytics hook: one in-memory increment per view (no await, no I/O). A view is a
``GET`` answered 200 or 304; ``HEAD`` requests and errors are not views (docs/analytics.md).
"""

from __future__ import annotations

from aiohttp import web

from enlarger.analytics.counter import ANALYTICS


def count_view(request: web.Request, image_id: str, variant: str, tier: str, nbytes: int) -> None:
    if request.method == "GET":
        analytics = request.app[ANALYTICS]
        analytics.count(image_id, variant, tier, nbytes, request.headers.get("Referer"))
