"""The promises about people's pictures, as a state machine (hypothesis): two processes sharing
one set of backends, driven through upload, views at random sizes, deletes of one claim,
re-uploads of the same bytes racing the sweep or gc, and sweeps. After every step:

- an acknowledged upload is viewable from every process;
- a deleted image is 404 in every process within the poll interval;
- once swept, a deleted image leaves nothing in any place :data:`enlarger.traces.TRACES` names.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Coroutine
from datetime import timedelta
from typing import Any, TypeVar

import pytest
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from enlarger import ids
from enlarger.settings import Settings
from enlarger.top.app import build_app
from enlarger.top.gc import Collector, Orphan
from enlarger.traces import RECHECK_SECONDS
from tests.e2e.conftest import Stack, make_jpeg
from tests.e2e.traces_check import traces_left

pytestmark = pytest.mark.e2e

T = TypeVar("T")
IMAGES = tuple(make_jpeg(640, 480, seed=60 + n) for n in range(3))
VIEWS = ("size=small", "size=medium", "size=large", "size=original", "w=321", "w=200&fmt=webp")
LAGS = (0.0, 0.002, 0.01, 0.03)  # how long the re-upload starts after the sweep
BOUND = 10.0  # seconds a condition may take on a loaded machine (the poll interval is 0.05 s)
_DEADLINES = (
    "database_timeout_seconds",
    "database_pool_timeout_seconds",
    "sqlite_busy_timeout_seconds",
    "upload_deadline_seconds",
    "s3_read_timeout_seconds",
    "redis_timeout_seconds",
)


class Lifecycle(RuleBasedStateMachine):
    loop: asyncio.AbstractEventLoop
    stacks: tuple[Stack, ...]

    def __init__(self) -> None:
        super().__init__()
        self.ids: dict[int, str] = {}  # image → id, once uploaded
        self.claims: dict[int, list[str]] = {n: [] for n in range(len(IMAGES))}  # delete paths
        self.deleted: set[int] = set()  # deleted, not uploaded again
        self.swept: set[int] = set()  # ... and swept

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(coro)

    # --- rules ------------------------------------------------------------------------------

    @rule(image=st.integers(0, len(IMAGES) - 1), via=st.integers(0, 1))
    def upload(self, image: int, via: int) -> None:
        self._uploaded(image, self.run(_upload(self.stacks[via], IMAGES[image])))

    @rule(image=st.integers(0, len(IMAGES) - 1), via=st.integers(0, 1), view=st.sampled_from(VIEWS))
    def view(self, image: int, via: int, view: str) -> None:
        if image not in self.ids:
            return
        status = self.run(_status(self.stacks[via], f"/i/{self.ids[image]}?{view}"))
        if self.claims[image]:
            assert status == 200, f"an acknowledged upload answers {status}"
        elif image in self.deleted:
            assert status in (200, 404)  # 404 within the poll interval: the invariant says

    @precondition(lambda self: any(self.claims.values()))
    @rule(data=st.data(), via=st.integers(0, 1))
    def delete(self, data: st.DataObject, via: int) -> None:
        held = sorted(n for n, paths in self.claims.items() if paths)
        image = data.draw(st.sampled_from(held))
        path = data.draw(st.sampled_from(self.claims[image]))
        self.run(_delete(self.stacks[via], path))
        self.claims[image].remove(path)
        if not self.claims[image]:
            self.deleted.add(image)
            self.swept.discard(image)

    @precondition(lambda self: bool(self.deleted))
    @rule(data=st.data(), sweeper=st.integers(0, 1), lag=st.sampled_from(LAGS))
    def reupload_racing_the_sweep(self, data: st.DataObject, sweeper: int, lag: float) -> None:
        image = data.draw(st.sampled_from(sorted(self.deleted)))
        sweep = self.stacks[sweeper].deletion.sweep(self.ids[image])
        upload = _upload(self.stacks[1 - sweeper], IMAGES[image])
        body, _ = self.run(_together(_later(lag, upload), sweep))
        self._uploaded(image, body)

    @precondition(lambda self: bool(self.deleted))
    @rule(data=st.data())
    def reupload_racing_gc(self, data: st.DataObject) -> None:
        """A crash left the original without a row; gc takes it while the bytes come again."""
        image = data.draw(st.sampled_from(sorted(self.deleted)))
        stack, key = self.stacks[0], ids.original_key(self.ids[image])
        self.run(stack.blobs.put(key, IMAGES[image]))
        collector = Collector(stack.repo, stack.blobs, timedelta(0))
        orphan = Orphan(key, len(IMAGES[image]), "crash")
        upload = _upload(self.stacks[1], IMAGES[image])
        body, _ = self.run(_together(upload, collector.remove(orphan)))
        self._uploaded(image, body)

    @precondition(lambda self: bool(self.deleted - self.swept))
    @rule(sweeper=st.integers(0, 1))
    def sweep(self, sweeper: int) -> None:
        for image in sorted(self.deleted - self.swept):
            assert self.run(self.stacks[sweeper].deletion.sweep(self.ids[image]))
            self.swept.add(image)

    def _uploaded(self, image: int, body: dict[str, Any]) -> None:
        assert body["id"] == self.ids.setdefault(image, body["id"])  # the same bytes, one id
        self.claims[image].append(body["delete_url"].split("://", 1)[1].split("/", 1)[1])
        self.deleted.discard(image)
        self.swept.discard(image)

    # --- invariants -------------------------------------------------------------------------

    def teardown(self) -> None:
        """Every claim this example made goes, and the sweep runs: the next example starts
        with no image claimed (the backends are shared by the examples)."""
        for image, paths in self.claims.items():
            for path in list(paths):
                self.run(_delete(self.stacks[0], path))
                paths.remove(path)
                if not paths:
                    self.run(self.stacks[0].deletion.sweep(self.ids[image]))

    @invariant()
    def acknowledged_uploads_are_viewable(self) -> None:
        """At once in the process that took the upload; in the others as soon as their fence
        asks the database again (a re-upload of deleted bytes: RECHECK_SECONDS)."""
        for image, paths in self.claims.items():
            if paths:
                for stack in self.stacks:
                    self.run(_until_200(stack, f"/i/{self.ids[image]}?size=small"))

    @invariant()
    def deleted_images_are_404_everywhere(self) -> None:
        for image in self.deleted:
            for stack in self.stacks:
                self.run(_until_404(stack, f"/i/{self.ids[image]}?size=small"))

    @invariant()
    def swept_images_leave_nothing(self) -> None:
        for image in self.swept:
            image_id = self.ids[image]
            for stack in self.stacks:  # every process has read the deletion log
                self.run(_until_404(stack, f"/i/{image_id}?w=321"))
            assert self.run(traces_left(self.stacks, image_id)) == {}


async def _later(seconds: float, coro: Coroutine[Any, Any, T]) -> T:
    await asyncio.sleep(seconds)
    return await coro


async def _together(*coros: Coroutine[Any, Any, Any]) -> list[Any]:
    return list(await asyncio.gather(*coros))


async def _upload(stack: Stack, data: bytes) -> dict[str, Any]:
    response = await stack.upload(data)
    assert response.status == 201, await response.text()
    body: dict[str, Any] = await response.json()
    return body


async def _delete(stack: Stack, path: str) -> None:
    async with stack.client.delete(f"/{path}") as response:
        assert response.status == 204, await response.text()


async def _status(stack: Stack, path: str) -> int:
    async with stack.client.get(path) as response:
        await response.read()
        return response.status


async def _until_200(stack: Stack, path: str) -> None:
    deadline = time.monotonic() + 2 * RECHECK_SECONDS + 1.0
    while (status := await _status(stack, path)) != 200:
        assert time.monotonic() < deadline, f"an acknowledged upload answers {status}"
        await asyncio.sleep(0.02)


async def _until_404(stack: Stack, path: str) -> None:
    deadline = time.monotonic() + BOUND
    while (status := await _status(stack, path)) != 404:
        assert time.monotonic() < deadline, f"a deleted image still answers {status}"
        await asyncio.sleep(0.02)


async def _open(settings: Settings) -> Stack:
    client: TestClient[Any, Any] = TestClient(TestServer(build_app(settings)))
    await client.start_server()
    return Stack(client=client, settings=settings, kind="")


def test_the_promises_hold_whatever_the_order(backend_settings: Settings) -> None:
    tuned = backend_settings.model_copy(
        update={
            "deletion_poll_seconds": 0.05,
            "deletion_sweep_seconds": 0.0,  # the machine sweeps when it chooses
            "master_side": 200,  # small images take masters (after answers: memory, disk, store)
            # The examples upload far more than a person a minute, from one address; the limit
            # has its own tests (test_rate_limits.py).
            "rate_limit_uploads": 0,
            "rate_limit_renders": 0,
            # The promises under any order of steps, not the deadlines under overload (those
            # have their own tests: test_deadlines.py, tests/faults): a CI machine running two
            # suites at once took a Postgres connection past its 2 s wait, and answered 503.
            **{name: 30.0 for name in _DEADLINES},
        }
    )
    loop = asyncio.new_event_loop()
    stacks = tuple(loop.run_until_complete(_open(tuned)) for _ in range(2))

    def machine() -> Lifecycle:
        # The examples share the backends: each deletes what it leaves claimed (teardown).
        Lifecycle.loop, Lifecycle.stacks = loop, stacks
        return Lifecycle()

    try:
        run_state_machine_as_test(
            machine,
            settings=settings(
                max_examples=10,
                stateful_step_count=12,
                deadline=None,
                suppress_health_check=list(HealthCheck),
                database=None,
            ),
        )
    finally:
        for stack in stacks:
            loop.run_until_complete(stack.client.close())
        loop.close()
