"""Client hints: ``w=auto`` reads ``Sec-CH-Width`` (or ``Width``), ``dpr=auto`` ``Sec-CH-DPR`` (or
``DPR``). Must hold: a hint never refuses a request (a bad one is no hint); a width hint is device
pixels already, never times dpr; only ``auto`` answers name the hints in Vary (docs/api.md).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from multidict import MultiMapping

WIDTH_HINTS = ("Sec-CH-Width", "Width")  # the standard name first: it wins when both are sent
DPR_HINTS = ("Sec-CH-DPR", "DPR")
HINT_HEADERS = (*WIDTH_HINTS, *DPR_HINTS)
# What the HTML pages send, so that Chromium browsers send the hints with the pages' images.
ACCEPT_CH = "Sec-CH-Width, Sec-CH-DPR, Width, DPR"
DPR_RANGE = (1.0, 4.0)  # as dpr= (proxy.spec); a hint outside is brought inside, not refused
# Only a query string (percent-decoded) that may say auto in w or dpr has its hints read and put
# in the spec cache's key; one that reads them all the same (a stray separator) gets no hints
# and its spec is never kept (proxy.spec.SpecCache).
_MAY_USE = re.compile(r"(?:^|&)(?:w|width|dpr)=\s*auto\s*(?:&|$)", re.IGNORECASE)


def is_auto(raw: str) -> bool:
    return raw.strip().lower() == "auto"


def may_use_hints(query_string: str) -> bool:
    """Whether ``w`` or ``dpr`` may be auto: the hints are read only then (a few µs saved)."""
    return _MAY_USE.search(query_string) is not None


@dataclass(frozen=True, slots=True)
class Hints:
    """The raw values of :data:`HINT_HEADERS` in a request, in that order (None: absent)."""

    values: tuple[str | None, ...] = (None,) * len(HINT_HEADERS)

    @classmethod
    def of(cls, headers: MultiMapping[str]) -> Hints:
        """A header sent more than once counts by its last value, as the hints' spec says."""
        return cls(tuple(_last(headers.getall(name, [])) for name in HINT_HEADERS))

    def width(self) -> int | None:
        """The first valid width hint: a whole number of device pixels, at least 1."""
        for raw in self.values[: len(WIDTH_HINTS)]:
            value = (raw or "").strip()
            if value.isascii() and value.isdigit() and len(value) <= 12 and int(value) > 0:
                return int(value)
        return None

    def dpr(self) -> float | None:
        """The first valid DPR hint, within :data:`DPR_RANGE`, to the nearest half as ``dpr=``."""
        for raw in self.values[len(WIDTH_HINTS) :]:
            value = (raw or "").strip()
            try:
                number = float(value) if value.isascii() and 0 < len(value) <= 10 else math.nan
            except ValueError:
                continue
            if math.isfinite(number) and number > 0:
                low, high = DPR_RANGE
                return round(round(min(high, max(low, number)) * 2) / 2, 3)
        return None


NO_HINTS = Hints()


def _last(values: list[str]) -> str | None:
    """The last of a header's values; a proxy may have joined repeated ones with commas."""
    return values[-1].rpartition(",")[2] if values else None
