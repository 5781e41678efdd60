"""The bound on referrer hosts (``Referer`` is the client's to choose): at most
:data:`MAX_REFERRER_HOSTS` per image and day, further new hosts counted under
:data:`OTHER_REFERRERS`; applied to pending counts, in the database write (locked per image and day)
and in a statistics answer."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date

MAX_REFERRER_HOSTS = 100  # per image and UTC day; "no referrer" and "other" come on top
OTHER_REFERRERS = "(other)"  # never a host name: parentheses are not allowed in one
UNCOUNTED = ("", OTHER_REFERRERS)  # "no referrer" and "other" take no place under the bound

BreakdownRow = tuple[str, date, str, int, int]  # image_id, day, key, views, bytes


def admit(hosts: set[str], host: str, limit: int = MAX_REFERRER_HOSTS) -> str:
    """``host`` if it is known or there is room for it in ``hosts`` (then added), else
    :data:`OTHER_REFERRERS`."""
    if host in UNCOUNTED or host in hosts:
        return host
    if len(hosts) >= limit:
        return OTHER_REFERRERS
    hosts.add(host)
    return host


def bound_rows(
    rows: Iterable[BreakdownRow],
    stored: Mapping[tuple[str, date], Iterable[str]],
    limit: int = MAX_REFERRER_HOSTS,
) -> list[BreakdownRow]:
    """Referrer rows of a batch with the bound applied against the hosts ``stored`` per (image,
    day): known hosts keep their row, new ones get one busiest first while there is room, and
    the rest are added up under :data:`OTHER_REFERRERS`. Sorted, as the upserts need."""
    hosts = {key: set(found) - set(UNCOUNTED) for key, found in stored.items()}
    cells: dict[tuple[str, date, str], list[int]] = {}
    for image_id, day, host, views, nbytes in sorted(rows, key=lambda row: -row[3]):
        kept = admit(hosts.setdefault((image_id, day), set()), host, limit)
        cell = cells.setdefault((image_id, day, kept), [0, 0])
        cell[0] += views
        cell[1] += nbytes
    return [(*key, views, nbytes) for key, (views, nbytes) in sorted(cells.items())]


def fold(
    breakdowns: Iterable[tuple[str, int, int]], limit: int = MAX_REFERRER_HOSTS
) -> list[tuple[str, int, int]]:
    """A statistics answer's referrers (most views first): the first ``limit`` hosts, "no
    referrer", and every other host added up under :data:`OTHER_REFERRERS`."""
    kept: list[tuple[str, int, int]] = []
    hosts, other = 0, [0, 0]
    for host, views, nbytes in breakdowns:
        if host == OTHER_REFERRERS or (host and hosts >= limit):
            other[0] += views
            other[1] += nbytes
            continue
        hosts += bool(host)
        kept.append((host, views, nbytes))
    if other[0]:
        kept.append((OTHER_REFERRERS, other[0], other[1]))
    return sorted(kept, key=lambda row: (-row[1], row[0]))
