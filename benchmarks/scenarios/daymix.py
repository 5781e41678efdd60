"""The original design's traffic as open-loop arrivals.

At 1x the design load: 6 uploads/s and 58 views/s (500 k and 5 M a day), both Poisson. Views
pick an image Zipf-distributed over the uploaded images (rank = upload order, exponent ``s``).
A share of views are *first* views, which render: by default each new upload's link (``/i/<id>``,
the ``large`` size) is opened once, i.e. 6 of every 58 views; when no new upload is waiting, a
first view asks an earlier image for a size nobody asked for yet. The other views repeat
variants already rendered (cache hits).
"""

from __future__ import annotations

import bisect
import json
import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import accumulate

from benchmarks.loadgen import Arrival
from benchmarks.rawhttp import Request, Response
from benchmarks.scenarios.common import Context, upload_request

DESIGN_UPLOADS = 6.0  # per second at 1x
DESIGN_VIEWS = 58.0
DEFAULT_FIRST_SHARE = DESIGN_UPLOADS / DESIGN_VIEWS  # each upload's link opened once
OTHER_SIZES = ("?size=medium", "?size=small", "?w=640&fmt=webp", "?size=medium&fmt=webp")
# shape "share": a fresh upload is shared; most views are its link (large), the rest other sizes
SHARE_OTHERS = ("?size=medium", "?size=small", "?w=640", "?w=640&fmt=webp")
SHARE_LARGE = 0.7  # of views: the link itself (size=large)
SHAPES = ("design", "share")
_ZIPF_RANKS = 200_000


@dataclass
class DayModel:
    ctx: Context
    zipf_s: float = 1.0
    first_share: float = DEFAULT_FIRST_SHARE
    seed: int = 1
    shape: str = "design"
    images: list[str] = field(default_factory=list)  # /i/<id>, in upload order (= Zipf rank)
    viewed: list[list[str]] = field(default_factory=list)  # per image: variants asked for
    fresh: deque[int] = field(default_factory=deque)  # uploaded, never viewed
    first_views: int = 0
    repeat_views: int = 0

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        weights = (1.0 / (rank**self.zipf_s) for rank in range(1, _ZIPF_RANKS + 1))
        self._cumulative = list(accumulate(weights))
        self._uploads = 0

    def add_image(self, path: str) -> None:
        self.images.append(path)
        self.viewed.append([])
        self.fresh.append(len(self.images) - 1)

    def upload(self) -> Request:
        self._uploads += 1
        return upload_request(self.ctx.unique(self._uploads))

    def on_response(self, request: Request, response: Response) -> None:
        if request.kind == "upload" and response.status == 201:
            self.add_image("/i/" + json.loads(response.body)["id"])

    def view(self) -> Request | None:
        if not self.images:
            return None
        if self.shape == "share":
            return self._share_view()
        if self.rng.random() < self.first_share:
            path = self._first_view()
            if path is not None:
                self.first_views += 1
                return Request("view", path)
        self.repeat_views += 1
        return Request("view", self._repeat_view())

    def _share_view(self) -> Request:
        """Shape "share": the image by Zipf over recency (the newest upload is the most viewed),
        its link (``large``) 70 % of the time, else one of four other sizes and formats. A
        variant nobody asked for yet renders; the rest are cache hits."""
        index = len(self.images) - 1 - self._zipf_index()
        path = self.images[index]
        if self.rng.random() >= SHARE_LARGE:
            path += self.rng.choice(SHARE_OTHERS)
        if index in self.fresh:
            self.fresh.remove(index)
        if path in self.viewed[index]:
            self.repeat_views += 1
        else:
            self.viewed[index].append(path)
            self.first_views += 1
        return Request("view", path)

    def _zipf_index(self) -> int:
        limit = min(len(self.images), _ZIPF_RANKS)
        point = self.rng.random() * self._cumulative[limit - 1]
        return min(limit - 1, bisect.bisect_left(self._cumulative, point))

    def _first_view(self) -> str | None:
        if self.fresh:
            index = self.fresh.popleft()
            self.viewed[index].append(self.images[index])
            return self.images[index]
        index = self._zipf_index()
        unseen = [s for s in OTHER_SIZES if self.images[index] + s not in self.viewed[index]]
        if not unseen:
            return None
        path = self.images[index] + self.rng.choice(unseen)
        self.viewed[index].append(path)
        return path

    def _repeat_view(self) -> str:
        for _ in range(8):
            index = self._zipf_index()
            if self.viewed[index]:
                return self.rng.choice(self.viewed[index])
        index = next((i for i, seen in enumerate(self.viewed) if seen), 0)
        return self.rng.choice(self.viewed[index]) if self.viewed[index] else self.images[index]

    def schedule(self, multiple: float, duration: float) -> list[Arrival]:
        """Poisson arrivals of uploads and views at ``multiple`` x the design load."""
        arrivals = self._poisson(DESIGN_UPLOADS * multiple, duration, self.upload)
        arrivals += self._poisson(DESIGN_VIEWS * multiple, duration, self.view)
        return sorted(arrivals, key=lambda arrival: arrival.at)

    def _poisson(
        self, rate: float, duration: float, make: Callable[[], Request | None]
    ) -> list[Arrival]:
        arrivals: list[Arrival] = []
        at = 0.0
        while rate > 0:
            at += self.rng.expovariate(rate)
            if at >= duration:
                return arrivals
            arrivals.append(Arrival(at, make))
        return arrivals
