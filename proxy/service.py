"""The variant service, the only place that knows the tier order: memory, Redis, the markers, the
stored variant, then a render (from the kept master where it serves). Past the caches once per
variant per process, a render once across processes; never the database; 422 at every size for
undecodable pixels (docs/operations.md, "The view path")."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, TypeVar

import pyvips

from enlarger import ids
from enlarger.access.ratelimit import Charge, free
from enlarger.blobs import BlobStore
from enlarger.blobs.protocol import Readable
from enlarger.cache.lock import LockOutcome, RenderLock
from enlarger.cache.negative import NegativeCache
from enlarger.cache.tiered import TieredCache
from enlarger.db import Variant
from enlarger.errors import (
    BackendUnavailable,
    ImageNotFound,
    InvalidImage,
    Overloaded,
    RateLimited,
    RenderTimeout,
)
from enlarger.media import sniff
from enlarger.metrics import Metrics
from enlarger.proxy.budget import Budgeted, NoBudget, VariantBudget
from enlarger.proxy.fallback import Fallback, variant_cache_key
from enlarger.proxy.master_image import (
    Master,
    build_master,
    decode_and_render,
    finish_master,
    first_render,
    render_from_master,
    render_from_pixels,
    render_spilled,
)
from enlarger.proxy.master_store import Masters, MasterSettings, machine_quiet
from enlarger.proxy.overlay import Overlays
from enlarger.proxy.pipeline import MIME_TYPES, Rendered, RenderOptions, render
from enlarger.proxy.polish import polish_jpeg
from enlarger.proxy.recorder import Unrenderable, VariantRecorder
from enlarger.proxy.renderer import Renderer, Slot
from enlarger.proxy.singleflight import SingleFlight
from enlarger.proxy.source import decoder_said
from enlarger.proxy.spec import PIPELINE_VERSION, VariantSpec, ViewPolicy, Watermark
from enlarger.proxy.strip import Malformed, strip
from enlarger.proxy.writeback import Writeback
from enlarger.traces import UNDECODABLE, Tombstones

T = TypeVar("T")
log = logging.getLogger(__name__)

LOCK_MARGIN_SECONDS = 5.0  # the lock outlives the render timeout by this much
WRITEBACK_CLOSE_SECONDS = 10.0  # at shutdown, the longest the variant writes in flight get
_POLL_FIRST, _POLL_MAX = 0.01, 0.2  # how often a lock waiter looks again (grows 1.5x)
FINISH_AFTER_SECONDS = 1.0  # a master built from spilled pixels: the spiller's first
POLISHES_LIMIT = 4  # quick answers being polished at once, per process (their pixels held)
# A polish waits for a quiet moment (no render here, a core of the machine idle, seen
# QUIET_LOOKS times in a row, QUIET_POLL_SECONDS apart), at most POLISH_WAIT_SECONDS, else the
# quick bytes stay: it never takes a core from the views that follow (a later size asked right
# after `large` measured 0.29x the floor without polishes, 0.37x with them started at once).
QUIET_LOOKS, QUIET_POLL_SECONDS, POLISH_WAIT_SECONDS = 3, 0.02, 3.0


# Every tier a view can name in Server-Timing and in the analytics (documented in README.md,
# docs/api.md and docs/operations.md; a test keeps them true).
REVALIDATED = "etag"  # a 304: If-None-Match matched, nothing read
ORIGINAL_AS_IS = f"p{PIPELINE_VERSION}.original-as-is"  # the stripped original's key (its ETag)
TIERS = ("memory", "redis", "store", "render", "fallback", REVALIDATED)


@dataclass(frozen=True, slots=True)
class Served:
    data: bytes
    content_type: str
    tier: str  # memory, redis, store, render, fallback
    key: str  # the spec key of these bytes (another size's for a fallback)
    render_seconds: float | None = None
    fallback: bool = False  # not the lasting answer: another size, or a render not stored
    provisional: bool = False  # a quick JPEG whose polished bytes replace it (proxy/polish.py)


@dataclass(frozen=True, slots=True)
class Tiers:
    """What the view path reads, in order (the negative cache and lock beside them)."""

    cache: TieredCache
    unknown_ids: NegativeCache
    undecodable: NegativeCache  # images whose pixel data cannot be decoded
    blobs: BlobStore
    lock: RenderLock


def etag_for_key(image_id: str, spec_key: str) -> str:
    """Strong ETag from the canonical key alone: computed without reading any bytes."""
    digest = hashlib.blake2b(f"{image_id}/{spec_key}".encode(), digest_size=12).hexdigest()
    return f'"{digest}"'


def etag_for(image_id: str, spec: VariantSpec) -> str:
    return etag_for_key(image_id, spec.key)


def content_type_of(data: bytes) -> str:
    """From the encoded bytes themselves, never from the request."""
    return MIME_TYPES.get(sniff(data[:64]), "application/octet-stream")


def _not_found(image_id: str) -> ImageNotFound:
    return ImageNotFound("no image with this id", id=image_id)


def _undecodable(image_id: str) -> InvalidImage:
    """The same answer for the first view (that decoded) and for every later one."""
    message = "the image's pixel data cannot be decoded: it cannot be shown at any size"
    return InvalidImage(message, reason=UNDECODABLE, id=image_id)


def _what_the_decoder_said(exc: InvalidImage) -> str:
    notes = getattr(exc, "__notes__", None)  # see proxy.pipeline._run
    return notes[0] if notes else decoder_said(exc.__cause__ or exc)


class VariantService:
    def __init__(
        self,
        tiers: Tiers,
        renderer: Renderer,
        recorder: VariantRecorder,
        options: RenderOptions,
        policy: ViewPolicy,
        metrics: Metrics,
        lock_wait: float,
        budget: VariantBudget | None = None,
        masters: Masters | None = None,
        tombstones: Tombstones | None = None,
    ) -> None:
        self._tiers = tiers
        self._masters = masters or Masters(MasterSettings(side=0), tiers.cache, tiers.blobs)
        self._tombstones = tombstones or Tombstones(0.0)
        self._renderer = renderer
        self._recorder = recorder
        self._options = options
        self._metrics = metrics
        self._lock_wait = lock_wait
        self._budget = budget or NoBudget()
        self._fallback = Fallback(tiers.blobs, tiers.cache, policy)
        self._flights: SingleFlight[Served] = SingleFlight()
        self._writeback = Writeback()
        self._polishes = Writeback(POLISHES_LIMIT, "polish")
        # its own thread, not a render slot: a polish never holds back a view or a master build
        self._polisher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="polish")
        self._polishing = False  # a polish is encoding now (it started at a quiet moment)
        # whether the machine has a core to spare for a polish now, and whether it is quiet
        # enough to run one (tests set them)
        self.spare_for_polish: Callable[[], bool] = lambda: self._masters.spare_core()
        self.quiet_for_polish: Callable[[], bool] = machine_quiet
        self._overlays = Overlays(
            tiers.cache, tiers.unknown_ids, tiers.undecodable, tiers.blobs, self._tombstones
        )

    @property
    def tiers(self) -> Tiers:
        return self._tiers

    @property
    def masters(self) -> Masters:
        return self._masters

    @property
    def shared_traces(self) -> tuple[VariantBudget, NegativeCache]:
        """What this service keeps of an image in shared places besides the cache and the
        blob store (the budget's count, the undecodable mark): a deletion clears them."""
        return self._budget, self._tiers.undecodable

    async def settle(self) -> None:
        """Wait until the variants rendered so far are stored (the writes after the answer) and
        recorded (their rows), and the masters started after their answers are made."""
        while self._writeback.pending or self._masters.builds.pending or self._polishes.pending:
            await self._masters.builds.settle()
            await self._polishes.settle()
            await self._writeback.settle()
        await self._recorder.settle()

    def start(self) -> None:
        """Start the background work (variant rows); :meth:`close` finishes it."""
        self._recorder.start()

    async def close(self) -> None:
        """Finish the background work and close the render lock (both made for this service)."""
        await self._masters.builds.close(WRITEBACK_CLOSE_SECONDS)
        await self._polishes.close(WRITEBACK_CLOSE_SECONDS)
        self._polisher.shutdown(wait=False, cancel_futures=True)
        await self._writeback.close(WRITEBACK_CLOSE_SECONDS)
        await self._recorder.close()
        await self._tiers.lock.close()
        await self._budget.close()

    async def get(self, image_id: str, spec: VariantSpec, charge: Charge = free) -> Served:
        """The variant's bytes; ``charge`` is awaited (and may raise) only before a render.
        An image this process knows was deleted is 404 before any tier is asked (a render in
        flight elsewhere may have written it back to Redis: :mod:`enlarger.traces`)."""
        if self._tombstones.holds(image_id):
            if await self._tombstones.dead(image_id):
                raise _not_found(image_id)
            self._tiers.unknown_ids.forget_here(image_id)  # uploaded again: that note is stale
        await self.check_overlay(spec)
        key = variant_cache_key(image_id, spec.key)
        hit = await self._tiers.cache.lookup(key)
        if hit is not None:
            return self._hit(hit[0], hit[1], spec.key)
        # The two markers are independent: asked at once, one round trip to Redis, not two.
        missing, undecodable = await asyncio.gather(
            self._tiers.unknown_ids.contains(image_id), self._tiers.undecodable.contains(image_id)
        )
        if missing:
            self._metrics.negative_hits.inc()
            raise _not_found(image_id)
        if undecodable:
            raise _undecodable(image_id)
        served, shared = await self._flight(image_id, spec, key, charge)
        if shared:
            self._metrics.singleflight_waits.labels(scope="process").inc()
        return served

    async def check_overlay(self, spec: VariantSpec) -> None:
        """A variant showing another image (``wm=``) is served, from any tier, and revalidated
        only while that image exists: 404 ``unknown_overlay`` once it is deleted."""
        if spec.watermark is not None:
            await self._overlays.check(spec.watermark.image_id)

    def _overlay_gone(self, spec: VariantSpec) -> bool:
        """The fence for a variant showing an overlay deleted here meanwhile: not kept."""
        mark = spec.watermark
        return mark is not None and self._overlays.gone(mark.image_id)

    async def _render_options(self, spec: VariantSpec) -> RenderOptions:
        """The options of one render: with ``wm=``, the overlay's original fetched now."""
        mark: Watermark | None = spec.watermark
        if mark is None:
            return self._options
        return replace(self._options, overlay=await self._overlays.fetch(mark.image_id))

    async def known_undecodable(self, image_id: str) -> bool:
        """Whether a render found the image undecodable lately (the caches' marker)."""
        return await self._tiers.undecodable.contains(image_id)

    async def _flight(
        self, image_id: str, spec: VariantSpec, key: str, charge: Charge
    ) -> tuple[Served, bool]:
        """The cold path, once per variant in this process. A waiter whose leader was over
        *its* render limit tries again under its own (a flight shares results, not limits)."""
        led = False

        def work() -> Awaitable[Served]:
            nonlocal led
            led = True
            return self._cold(image_id, spec, key, charge)

        try:
            return await self._flights.run(key, work)
        except RateLimited:
            if led:
                raise
            return await self._flights.run(key, work)

    def _deleted(self, image_id: str) -> bool:
        """The fence every writer of a trace asks right before it writes."""
        return self._tombstones.holds(image_id)

    def _hit(self, data: bytes, tier: str, spec_key: str) -> Served:
        self._metrics.cache_hit(tier).inc()
        return Served(data, content_type_of(data), tier, spec_key)

    async def _cold(self, image_id: str, spec: VariantSpec, key: str, charge: Charge) -> Served:
        """Once per variant per process: the stored variant, else a render (ours or another
        process's), else (renderer full) the nearest stored size. Past the image's variant
        budget: the nearest stored size, else a render that is not stored."""
        budgeted = await self._budget.check(image_id, spec.key)
        if budgeted is not Budgeted.ABSENT:  # (absent: never stored, the store need not be asked)
            stored = await self._stored(image_id, spec, key)
            if stored is not None:
                return stored
        if budgeted is Budgeted.FULL:
            stand_in = await self._stand_in(image_id, spec)
            return stand_in or await self._render(image_id, spec, key, charge)
        try:
            return await self._render_once(image_id, spec, key, charge)
        except Overloaded:
            stand_in = await self._stand_in(image_id, spec)
            if stand_in is None and spec.watermark is None and spec.text is None:
                stand_in = await self._original_as_is(image_id)  # never the picture without them
            if stand_in is None or (spec.max_bytes and len(stand_in.data) > spec.max_bytes):
                raise
            return stand_in

    async def _original_as_is(self, image_id: str) -> Served | None:
        """The seed's last resort before a 503: the original itself, its metadata cut out without
        re-encoding (:mod:`proxy.strip`: no CPU to spare now). Kept in memory for the next
        request under the same load. None for formats that cannot be served that way."""
        key = variant_cache_key(image_id, ORIGINAL_AS_IS)
        data = self._tiers.cache.memory.get_now(key)
        if data is None:
            original = await self._tiers.blobs.get(ids.original_key(image_id))
            if original is None:
                return None
            try:
                data = strip(original, sniff(original[:64]))
            except Malformed:
                return None
            if data is None or self._deleted(image_id):
                return None
            self._tiers.cache.memory.set_now(key, data, None)
        self._metrics.fallbacks.inc()
        return Served(data, content_type_of(data), "fallback", ORIGINAL_AS_IS, fallback=True)

    async def _stand_in(self, image_id: str, spec: VariantSpec) -> Served | None:
        found = await self._fallback.find(image_id, spec)
        if found is None:
            return None
        self._metrics.fallbacks.inc()
        other, data = found
        return Served(data, content_type_of(data), "fallback", other.key, fallback=True)

    async def _stored(self, image_id: str, spec: VariantSpec, key: str) -> Served | None:
        data = await self._tiers.blobs.get(ids.variant_key(image_id, spec.key))
        if data is None or self._deleted(image_id) or self._overlay_gone(spec):
            return None
        await self._tiers.cache.set(key, data)
        return self._hit(data, "store", spec.key)

    async def _render_once(
        self, image_id: str, spec: VariantSpec, key: str, charge: Charge
    ) -> Served:
        """Render under the cross-process lock; while another process holds it, wait (bounded)
        for its result. Past the wait, or without Redis, render here."""
        deadline = time.monotonic() + self._lock_wait
        while True:
            claim = await self._tiers.lock.acquire(key, self._lock_wait + LOCK_MARGIN_SECONDS)
            self._metrics.render_lock.labels(outcome=claim.outcome.value).inc()
            if claim.outcome is not LockOutcome.HELD or time.monotonic() >= deadline:
                break
            found = await self._await_other(image_id, spec, key, deadline)
            if found is not None:
                self._metrics.singleflight_waits.labels(scope="cluster").inc()
                return found
        try:
            if claim.outcome is LockOutcome.ACQUIRED:  # the last holder may have just finished
                hit = await self._tiers.cache.lookup(key)
                if hit is not None:
                    return self._hit(hit[0], hit[1], spec.key)
            return await self._render(image_id, spec, key, charge)
        finally:
            await self._tiers.lock.release(key, claim)

    async def _await_other(
        self, image_id: str, spec: VariantSpec, key: str, deadline: float
    ) -> Served | None:
        delay = _POLL_FIRST
        while time.monotonic() < deadline and await self._tiers.lock.held(key):
            await asyncio.sleep(delay)
            delay = min(delay * 1.5, _POLL_MAX)
        hit = await self._tiers.cache.lookup(key)
        if hit is not None:
            return self._hit(hit[0], hit[1], spec.key)
        if await self._tiers.undecodable.contains(image_id):  # the holder's render failed
            raise _undecodable(image_id)
        return await self._stored(image_id, spec, key)

    async def _render(self, image_id: str, spec: VariantSpec, key: str, charge: Charge) -> Served:
        master = await self._masters.find(image_id) if self._masters.enabled else None
        with self._renderer.reserve() as slot:  # fails fast before fetching the original
            await charge()  # only a render that got a slot pays (429 frees the slot)
            options = replace(
                await self._render_options(spec), quick_jpeg=True, keep_pixels=self._may_polish()
            )
            try:
                rendered, seconds = await self._run(slot, image_id, spec, master, options)
            except InvalidImage as exc:
                if exc.details.get("reason") != UNDECODABLE:
                    raise
                await self._remember_undecodable(image_id, exc)
                raise _undecodable(image_id) from exc
        self._metrics.renders.labels(format=rendered.format).inc()
        self._metrics.render_seconds.observe(seconds)
        content_type = MIME_TYPES[rendered.format]
        if not await self._budget.admit(image_id, spec.key):  # over budget: serve, never store
            return Served(rendered.data, content_type, "render", spec.key, seconds, fallback=True)
        polishing = await self._keep(image_id, spec, key, rendered)
        return Served(
            rendered.data, content_type, "render", spec.key, seconds, provisional=polishing
        )

    async def _remember_undecodable(self, image_id: str, exc: InvalidImage) -> None:
        """One log line (no traceback: the image is at fault, not the server), a marker in the
        caches, a durable mark in the background."""
        ttl = self._tiers.undecodable.ttl
        log.warning(
            "image %s cannot be decoded (%s): answering 422 for %g s without decoding again",
            image_id,
            _what_the_decoder_said(exc),
            ttl,
        )
        if self._deleted(image_id):
            return
        await self._tiers.undecodable.add(image_id)
        self._recorder.record(Unrenderable(image_id, UNDECODABLE))

    async def _run(
        self,
        slot: Slot,
        image_id: str,
        spec: VariantSpec,
        master: Master | None,
        options: RenderOptions,
    ) -> tuple[Rendered, float]:
        """The render job: from the master's pixels or the master where they serve ``spec``;
        else from the original, exactly as a direct render. A master is never made here: only
        after the answer (:meth:`_after_answer`)."""
        local = self._masters.local(image_id)
        if local is not None and local[0].serves(spec):  # decoded here (maybe not encoded yet)
            result = await slot.run(render_from_pixels, *local, spec, options)
            self._metrics.master_renders.inc()
            if local[0].data is None:  # a first view's pixels: a second size, now worth a master
                self._finish(image_id, *local)
            return result
        if master is not None and master.serves(spec):
            result = await self._from_master(slot, image_id, master, spec, options)
            self._metrics.master_renders.inc()
            return result
        if master is None and self._masters.enabled:
            await self._masters.spill_on_its_way(image_id)  # a first view's, on another worker
            if self._masters.spill_whole(image_id):  # (a stat) the original is not even read
                spilled = self._masters.spilled(image_id)
                found, seconds = await slot.run(render_spilled, spilled, spec, options)
                if found is not None:
                    self._rendered_from_spill(image_id, found[1], found[2])
                    return found[0], seconds
                with self._renderer.reserve() as again:  # they do not serve it (rare)
                    return await self._from_original(again, image_id, spec, master, options)
        return await self._from_original(slot, image_id, spec, master, options)

    def _rendered_from_spill(self, image_id: str, record: Master, pixels: pyvips.Image) -> None:
        """Pixels another worker spilled at a first view served this size: kept here, and the
        master made from them if their spiller does not make it (:meth:`_finish_unless_made`)."""
        self._metrics.master_renders.inc()
        self._masters.keep_pixels(image_id, record, pixels)
        if self._masters.builds.room():
            self._masters.builds.start(self._finish_unless_made(image_id, record, pixels))

    async def _from_original(
        self,
        slot: Slot,
        image_id: str,
        spec: VariantSpec,
        master: Master | None,
        options: RenderOptions,
    ) -> tuple[Rendered, float]:
        if master is not None or not self._masters.enabled:
            (_, _, rendered), seconds = await self._on_original(
                slot, image_id, render, spec, options
            )
            return rendered, seconds
        spilled = self._masters.spilled(image_id)
        side = self._masters.settings.side
        # kept pixels spilled at once, their master after; a polish running here is no load: it
        # started at a quiet moment, and gives way (without this, a `large` first view during
        # one kept no spill, and its next size decoded the original on another worker)
        spare = self._polishing or self._masters.spare_core()
        spill = self._spiller(image_id) if spare else None
        job = (first_render, spec, options, side, spilled, spill)
        (original, fmt, made), seconds = await self._on_original(slot, image_id, *job)
        rendered, record, pixels, spilled_here = made
        if spilled_here and record is not None and pixels is not None:  # spilled meanwhile
            self._rendered_from_spill(image_id, record, pixels)
        else:
            self._after_answer(image_id, spec, original, fmt, record, pixels, spare)
        return rendered, seconds

    async def _on_original(
        self, slot: Slot, image_id: str, fn: Callable[..., T], *args: object
    ) -> tuple[tuple[Readable, str, T], float]:
        """``fn(original, its format, *args)`` in ``slot``, with the original and its format. A
        local store's original is read by the job itself (no hand-off to a thread of its own:
        docs/architecture.md, "the first view's hand-offs"); a remote one's before it."""
        read = self._tiers.blobs.reader()
        if read is None:
            original = await self._original(image_id)
            return await slot.run(on_bytes, original, fn, *args)
        found, seconds = await slot.run(read_then, read, ids.original_key(image_id), fn, *args)
        if found is None:
            await self._tiers.unknown_ids.add(image_id)
            raise _not_found(image_id)
        return found, seconds

    def _after_answer(
        self,
        image_id: str,
        spec: VariantSpec,
        original: Readable,
        fmt: str,
        record: Master | None,
        pixels: pyvips.Image | None,
        spare: bool,
    ) -> None:
        """What a render of an image with no master leaves for after its answer: the pixels it
        decoded at the master's scale are kept here at once (no copy: the render's own), and
        when the machine had CPU to spare (``spare``: its cores not oversubscribed; the render
        spilled them already) become the master now, else when a second size renders from them
        (:meth:`_finish`: a saturated machine spends nothing on a master its first views would
        pay for); an image's second distinct size builds the master from the original in the
        background; a record saying the image takes none is kept. Background builds are bounded
        and dropped while no render thread is idle (never queued behind views)."""
        if record is not None and not record.side:
            if self._masters.builds.room():  # a few bytes: it spares the next render the look
                self._masters.builds.start(self._share_master(image_id, record))
            return
        if pixels is not None and record is not None:
            self._masters.keep_pixels(image_id, record, pixels)
            self._masters.second_size(image_id, spec.key)
            if spare:  # else it waits for a second size
                self._finish(image_id, record, pixels, spilled=True)
            return
        if not self._masters.second_size(image_id, spec.key) or not self._masters.claim(image_id):
            return
        settings = self._masters.settings
        job: tuple[Any, ...] = (build_master, original, fmt, settings.side, settings.quality)
        self._build(image_id, (*job, self._spiller(image_id)))

    def _finish(
        self, image_id: str, record: Master, pixels: pyvips.Image, spilled: bool = False
    ) -> None:
        """A first view's kept pixels become the master after the answer: spilled for this
        machine's other workers (unless ``spilled`` already), encoded and stored."""
        if not self._masters.claim(image_id):
            return
        quality = self._masters.settings.quality
        spill = None if spilled else self._spiller(image_id)
        self._build(image_id, (finish_master, record, pixels, quality, spill))

    async def _finish_unless_made(
        self, image_id: str, record: Master, pixels: pyvips.Image
    ) -> None:
        """Pixels another worker spilled at a first view, rendered from here: that worker makes
        the master after its answer unless it dropped the build under load; if no master shows
        up meanwhile, this one makes it (never two encodes of one master in the usual case)."""
        await asyncio.sleep(FINISH_AFTER_SECONDS)
        if not self._deleted(image_id) and await self._masters.find(image_id) is None:
            self._finish(image_id, record, pixels, spilled=True)

    def _spiller(self, image_id: str) -> Any:
        return self._masters.spiller(image_id)

    def _build(self, image_id: str, job: tuple[Any, ...]) -> None:
        """Start a master build after the answer, or drop it (and the claim) under load."""
        idle = self._renderer.in_flight < self._renderer.threads
        if not idle or not self._masters.builds.room() or self._deleted(image_id):
            self._masters.release(image_id)
            self._metrics.master_builds.labels(outcome="dropped").inc()
            return
        if job[-1] is not None:  # it spills: the other workers wait for the pixels, not decode
            self._masters.announce_spill(image_id)
        self._masters.builds.start(self._build_master(image_id, job))

    async def _build_master(self, image_id: str, job: tuple[Any, ...]) -> None:
        try:
            with self._renderer.reserve() as slot:
                made, _ = await slot.run(*job)
        except (Overloaded, RenderTimeout, InvalidImage):
            self._metrics.master_builds.labels(outcome="dropped").inc()
            return
        finally:
            self._masters.release(image_id)
            self._masters.withdraw_spill(image_id)  # announced, not written (a whole one stays)
        master, pixels = made if isinstance(made, tuple) else (made, None)
        if pixels is not None:
            self._masters.keep_pixels(image_id, master, pixels)
        elif master.side:  # made from a first view's pixels, kept here already: now encoded
            kept = self._masters.pixels(image_id)
            if kept is not None:
                self._masters.keep_pixels(image_id, master, kept)
        self._metrics.master_builds.labels(outcome="made").inc()
        await self._share_master(image_id, master)

    async def _share_master(self, image_id: str, master: Master) -> None:
        await self._masters.share(image_id, master)
        await self._masters.store(image_id, master)

    async def _from_master(
        self, slot: Slot, image_id: str, master: Master, spec: VariantSpec, options: RenderOptions
    ) -> tuple[Rendered, float]:
        """From the decoded master this process keeps (a resize); else from the encoded one,
        decoding it whole to keep when the process keeps decoded masters at all."""
        pixels = self._masters.pixels(image_id)
        if pixels is not None:
            return await slot.run(render_from_pixels, master, pixels, spec, options)
        settings = self._masters.settings
        if not settings.memory_bytes and not settings.disk_bytes:
            return await slot.run(render_from_master, master, spec, options)
        spilled, spill = self._masters.spilled(image_id), self._masters.spiller(image_id)
        job = (decode_and_render, master, spec, options, spilled, spill)
        (rendered, pixels), seconds = await slot.run(*job)
        self._masters.keep_pixels(image_id, master, pixels)
        return rendered, seconds

    async def _original(self, image_id: str) -> bytes:
        original = await self._tiers.blobs.get(ids.original_key(image_id))
        if original is None:
            await self._tiers.unknown_ids.add(image_id)
            raise _not_found(image_id)
        return original

    async def _keep(self, image_id: str, spec: VariantSpec, key: str, rendered: Rendered) -> bool:
        """Cache, store, record. With Redis the variant is shared once cached, and the store's
        copy is written after the answer (:mod:`proxy.writeback`). If storing fails the rendered
        bytes are still served (and cached): they are the right answer, and the next render
        after eviction stores them. An image deleted while it rendered is not kept: 404. A quick
        JPEG with its pixels is polished after the answer (:meth:`_polish`): True then."""
        if self._deleted(image_id):
            raise _not_found(image_id)
        if self._overlay_gone(spec):  # its overlay deleted while it rendered: not kept, not shown
            await self.check_overlay(spec)
        await self._tiers.cache.set(key, rendered.data)
        polish = rendered.pixels is not None and self._polishes.room()
        write = self._store(image_id, spec, rendered, record=not polish)
        if not polish:
            await self._write(write)
            return False
        later: Coroutine[Any, Any, None] | None = write
        if self._tiers.cache.remote is None:  # stored before the answer, as every variant here
            await write
            later = None
        self._polishes.start(self._polish(image_id, spec, key, rendered, later))
        return True

    async def _quiet_moment(self) -> bool:
        """Wait for a quiet moment (:data:`QUIET_LOOKS`); False past the wait."""
        deadline, seen = time.monotonic() + POLISH_WAIT_SECONDS, 0
        while time.monotonic() < deadline:
            quiet = self._renderer.in_flight == 0 and self.quiet_for_polish()
            seen = seen + 1 if quiet else 0
            if seen >= QUIET_LOOKS:
                return True
            await asyncio.sleep(QUIET_POLL_SECONDS)
        return False

    def _may_polish(self) -> bool:
        """Whether a render about to run may keep its pixels for a polish: room for one, a
        render thread idle besides its own, and a core of the machine with CPU to spare."""
        idle = self._renderer.in_flight <= self._renderer.threads  # (its own slot is taken)
        return idle and self._polishes.room() and self.spare_for_polish()

    async def _polish(
        self,
        image_id: str,
        spec: VariantSpec,
        key: str,
        rendered: Rendered,
        write: Coroutine[Any, Any, None] | None,
    ) -> None:
        """After the answer: the quick bytes stored (if not yet), then, at a quiet moment,
        their pixels encoded with optimised Huffman tables on the polish thread, written over
        them in the cache and the store (the fence asked before each write: an image deleted
        meanwhile gets nothing back). The variant's row names the bytes kept."""
        if write is not None:
            await write
        kept = rendered
        try:
            if await self._quiet_moment():  # else dropped: the views come first
                loop, pixels = asyncio.get_running_loop(), rendered.pixels
                self._polishing = True
                try:
                    job = loop.run_in_executor(self._polisher, polish_jpeg, pixels, spec.quality)
                    data = await job
                finally:
                    self._polishing = False
                polished = replace(rendered, data=data, quick=False, pixels=None)
                if self._deleted(image_id) or self._overlay_gone(spec):
                    return
                await self._tiers.cache.set(key, data)
                await self._store(image_id, spec, polished, record=False)  # (asks the fence)
                kept = polished
        except pyvips.Error:
            log.warning("could not polish variant %s/%s; keeping the quick one", image_id, spec.key)
        finally:
            outcome = "dropped" if kept is rendered else "made"
            self._metrics.polishes.labels(outcome=outcome).inc()
            if not self._deleted(image_id):
                self._recorder.record(_variant_row(image_id, spec, kept))

    async def _write(self, write: Coroutine[Any, Any, None]) -> None:
        """A blob store write of something already cached: after the answer when Redis shares
        the cache with every instance (and there is room), else now."""
        if self._tiers.cache.remote is not None and self._writeback.room():
            self._writeback.start(write)
        else:
            await write

    async def _store(
        self, image_id: str, spec: VariantSpec, rendered: Rendered, record: bool = True
    ) -> None:
        if self._deleted(image_id) or self._overlay_gone(spec):  # (after the answer: gone now?)
            return
        content_type = MIME_TYPES[rendered.format]
        try:
            await self._tiers.blobs.put(
                ids.variant_key(image_id, spec.key), rendered.data, content_type
            )
        except BackendUnavailable:
            self._metrics.store_failures.inc()
            log.warning("could not store variant %s/%s; serving it anyway", image_id, spec.key)
        if record:
            self._recorder.record(_variant_row(image_id, spec, rendered))


def on_bytes(original: Readable, fn: Callable[..., T], *args: object) -> tuple[Readable, str, T]:
    """In a render job: ``fn(original, its format, *args)``, with the original and its format."""
    fmt = sniff(original[:64])
    return original, fmt, fn(original, fmt, *args)


def read_then(
    read: Callable[[str], Readable | None], key: str, fn: Callable[..., T], *args: object
) -> tuple[Readable, str, T] | None:
    """In a render job: the original read here, then :func:`on_bytes`; None when it is gone."""
    original = read(key)
    return None if original is None else on_bytes(original, fn, *args)


def _variant_row(image_id: str, spec: VariantSpec, rendered: Rendered) -> Variant:
    return Variant(
        image_id=image_id,
        key=spec.key,
        format=rendered.format,
        width=rendered.width,
        height=rendered.height,
        bytes=len(rendered.data),
        created_at=datetime.now(UTC),
    )
