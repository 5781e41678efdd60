"""Token buckets (in process and in a real Redis) and the client address behind proxies."""

from __future__ import annotations

from ipaddress import ip_address

import pytest

from enlarger.cache.buckets import MemoryBuckets, RedisBuckets
from enlarger.clientaddr import ClientAddress
from enlarger.settings import parse_networks

LOOPBACK = ClientAddress(parse_networks("127.0.0.0/8,::1/128"))


async def test_memory_bucket_gives_its_size_then_says_when() -> None:
    buckets = MemoryBuckets()
    assert [await buckets.take("a", 60) for _ in range(60)] == [0.0] * 60
    wait = await buckets.take("a", 60)
    assert 0 < wait <= 1.0  # one token a second at 60 a minute
    assert await buckets.take("b", 60) == 0.0  # another bucket is untouched


async def test_memory_buckets_are_bounded() -> None:
    buckets = MemoryBuckets(max_buckets=10)
    for n in range(100):
        await buckets.take(f"client-{n}", 1)
    assert len(buckets._state) == 10


async def test_redis_buckets_are_shared_by_instances(redis_url: str) -> None:
    first, second = RedisBuckets.from_url(redis_url, 1.0), RedisBuckets.from_url(redis_url, 1.0)
    try:
        taken = [await (first if n % 2 else second).take("shared", 5) for n in range(5)]
        assert taken == [0.0] * 5
        assert await first.take("shared", 5) > 0
        assert await second.take("shared", 5) > 0
        assert 0 < await second.take("shared", 5) <= 12.0  # 5 a minute: one every 12 s
    finally:
        await first.close()
        await second.close()


async def test_redis_buckets_fall_back_to_the_process_when_redis_is_down(
    unused_tcp_port: int,
) -> None:
    buckets = RedisBuckets.from_url(f"redis://127.0.0.1:{unused_tcp_port}/0", 0.2)
    try:
        assert [await buckets.take("x", 2) for _ in range(2)] == [0.0, 0.0]
        assert await buckets.take("x", 2) > 0  # still limited, by the in-process bucket
    finally:
        await buckets.close()


@pytest.mark.parametrize(
    ("peer", "forwarded", "client"),
    [
        ("203.0.113.9", ["198.51.100.1"], "203.0.113.9"),  # untrusted peer: header ignored
        ("127.0.0.1", [], "127.0.0.1"),
        ("127.0.0.1", ["198.51.100.1"], "198.51.100.1"),
        ("127.0.0.1", ["6.6.6.6", "198.51.100.1"], "198.51.100.1"),  # the client's own part
        ("127.0.0.1", ["198.51.100.1", "127.0.0.2"], "198.51.100.1"),  # two trusted hops
        ("127.0.0.1", ["127.0.0.3", "127.0.0.2"], "127.0.0.3"),  # all trusted: the leftmost
        ("127.0.0.1", ["garbage", "127.0.0.2"], "127.0.0.2"),  # unreadable: the hop before
        ("127.0.0.1", ["[2001:db8::1]:443"], "2001:db8::1"),
        ("127.0.0.1", ["198.51.100.1:8443"], "198.51.100.1"),
    ],
)
def test_forwarded_for_is_walked_from_the_right(
    peer: str, forwarded: list[str], client: str
) -> None:
    assert LOOPBACK.walk(ip_address(peer), forwarded) == ip_address(client)
