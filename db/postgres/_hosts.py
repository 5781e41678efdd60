"""One connection from a multi-host PostgreSQL URL (a primary and its standby): the hosts are tried
in turn, each within an equal share of the time, the host of the last connection first, so a hung
host cannot keep a promoted standby from being tried (docs/operations.md, "Failover")."""

from __future__ import annotations

from typing import Any

import asyncpg

from enlarger.db.postgres._common import UNAVAILABLE

# A host that fails with one of these (down, hanging, not writable) is skipped for the next;
# anything else (a wrong password, a missing database) is an answer, not an outage.
NEXT_HOST = UNAVAILABLE


def url_parts(url: str) -> tuple[str, str, str]:
    """``scheme``, authority and the rest (path, query) of a database URL, split by hand:
    ``urllib.parse.urlsplit`` refuses a multi-host authority with an IPv6 host in it
    (``a:5432,[::1]:5433``) on the Python patch releases that check brackets strictly."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url.partition(":")[0], "", url.partition(":")[2]
    ends = [i for i in (rest.find("/"), rest.find("?"), rest.find("#")) if i >= 0]
    end = min(ends, default=len(rest))
    return scheme, rest[:end], rest[end:]


def split_hosts(dsn: str) -> list[str]:
    """One URL per host of ``dsn``, in its order (the same user, database and options)."""
    scheme, authority, rest = url_parts(dsn)
    userinfo, at, hostlist = authority.rpartition("@")
    hosts = hostlist.split(",")
    if len(hosts) < 2:
        return [dsn]
    return [f"{scheme}://{userinfo}{at}{host}{rest}" for host in hosts]


class HostList:
    """The pool's ``connect``: the hosts of ``dsn`` in turn, each within its share of the time
    (of ``budget``), the last one that worked first."""

    def __init__(self, dsn: str, budget: float) -> None:
        self.dsns = split_hosts(dsn)
        self.budget = budget
        self._first = 0

    @classmethod
    def for_pool(cls, dsn: str, command_timeout: float, pool_timeout: float) -> HostList:
        """One host: connecting takes at most ``command_timeout``, as with asyncpg alone.
        Several: they share ``pool_timeout`` (the wait that bounds connecting anyway), so that
        each is tried within one wait."""
        hosts = cls(dsn, command_timeout)
        if len(hosts.dsns) > 1:
            hosts.budget = min(command_timeout, pool_timeout)
        return hosts

    async def connect(
        self, dsn: str | None = None, *, budget: float | None = None, **kwargs: Any
    ) -> Any:
        """``dsn`` (the pool passes its own) is ignored: the hosts are those of the list."""
        share = (budget or self.budget) / len(self.dsns)
        order = [self._first, *(i for i in range(len(self.dsns)) if i != self._first)]
        error: BaseException | None = None
        for index in order:
            try:
                conn = await asyncpg.connect(self.dsns[index], timeout=share, **kwargs)
            except NEXT_HOST as exc:
                error = exc
                continue
            self._first = index
            return conn
        assert error is not None
        raise error
