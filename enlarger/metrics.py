"""Prometheus metrics, one registry per application (no module-level metric globals). Under
``--workers N`` the supervisor's ``PROMETHEUS_MULTIPROC_DIR`` makes ``/metrics``, whichever worker
answers, add up every worker's values (gauges: the live ones); one process keeps them in memory."""

from __future__ import annotations

import os
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

# Label values created at start with a zero value: with several workers the multi-process
# collector shows only children that exist, so a family nobody touched yet would be missing
# from /metrics and dashboards would see "no data" instead of 0.
RENDER_FORMATS = ("jpeg", "png", "webp", "avif", "gif")
CACHE_TIERS = ("memory", "redis", "store")
SINGLEFLIGHT_SCOPES = ("process", "cluster")
LOCK_OUTCOMES = ("acquired", "held", "local")
# a prerender's outcome: the tier that answered it (render: it rendered), or dropped, failed
PRERENDER_OUTCOMES = ("render", "memory", "redis", "store", "fallback", "dropped", "failed")
DEDUPLICATED = ("true", "false")
UPLOAD_REJECTION_CODES = (  # what POST /v1/images answers with; others appear when they happen
    "bad_request",
    "missing_file",
    "unauthorized",
    "invalid_api_key",
    "upload_timeout",
    "payload_too_large",
    "unsupported_media_type",
    "unsupported_format",
    "invalid_image",
    "image_too_large",
    "rate_limited",
    "backend_unavailable",
    "internal_error",
)
_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class Metrics:
    def __init__(self) -> None:
        # prometheus_client chose where values live when it was imported, from this variable.
        self.multiprocess_dir = os.environ.get(MULTIPROC_ENV) or None
        self.registry = CollectorRegistry()
        self._children: dict[object, Any] = {}  # bounded: routes x methods x statuses, tiers
        self._http()
        self._views()
        self._renders()
        self._uploads()
        self._zeros()

    def _zeros(self) -> None:
        for metric, values in (
            (self.renders, RENDER_FORMATS),
            (self.cache_hits, CACHE_TIERS),
            (self.singleflight_waits, SINGLEFLIGHT_SCOPES),
            (self.render_lock, LOCK_OUTCOMES),
            (self.prerenders, PRERENDER_OUTCOMES),
            (self.uploads, DEDUPLICATED),
            (self.upload_rejections, UPLOAD_REJECTION_CODES),
        ):
            for value in values:
                metric.labels(value)

    def _uploads(self) -> None:
        r = self.registry
        self.uploads = Counter("enlarger_uploads", "Uploads accepted", ["deduplicated"], registry=r)
        self.upload_rejections = Counter(
            "enlarger_upload_rejections", "Uploads refused, by error code", ["code"], registry=r
        )

    def _http(self) -> None:
        r = self.registry
        self.requests = Counter(
            "enlarger_requests", "HTTP requests", ["route", "method", "status"], registry=r
        )
        self.request_seconds = Histogram(
            "enlarger_request_seconds",
            "HTTP request latency",
            ["route"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )

    def _views(self) -> None:
        r = self.registry
        self.cache_hits = Counter(
            "enlarger_cache_hits", "Views served without rendering, by tier", ["tier"], registry=r
        )
        self.negative_hits = Counter(
            "enlarger_negative_cache_hits", "Views of ids remembered as unknown", registry=r
        )
        self.fallbacks = Counter(
            "enlarger_fallbacks", "Nearest stored variants served while overloaded", registry=r
        )
        self.singleflight_waits = Counter(
            "enlarger_singleflight_waits",
            "Requests that waited on another's render (scope: process or cluster)",
            ["scope"],
            registry=r,
        )
        self.prerenders = Counter(
            "enlarger_prerenders",
            "Sizes offered for rendering right after an upload, by outcome",
            ["outcome"],
            registry=r,
        )
        self.render_lock = Counter(
            "enlarger_render_lock",
            "Cross-process render lock attempts by outcome (acquired, held, local)",
            ["outcome"],
            registry=r,
        )
        self.store_failures = Counter(
            "enlarger_variant_store_failures",
            "Rendered variants served although storing them failed",
            registry=r,
        )

    def _renders(self) -> None:
        r = self.registry
        self.renders = Counter("enlarger_renders", "Variants rendered", ["format"], registry=r)
        self.renders_stopped = Counter(
            "enlarger_renders_stopped",
            "Renders stopped inside libvips at their deadline (ENLARGER_RENDER_TIMEOUT_SECONDS)",
            registry=r,
        )
        self.master_renders = Counter(
            "enlarger_master_renders",
            "Variants rendered from an image's kept master instead of its original",
            registry=r,
        )
        self.master_builds = Counter(
            "enlarger_master_builds",
            "Kept masters made after an answer (made), or not started under load (dropped)",
            ["outcome"],
            registry=r,
        )
        self.polishes = Counter(
            "enlarger_polishes",
            "Quick JPEG answers re-encoded with optimised Huffman tables after the answer (made), "
            "or kept as they were under load (dropped)",
            ["outcome"],
            registry=r,
        )
        self.render_seconds = Histogram(
            "enlarger_render_seconds",
            "Render time in the pool",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.render_queue = Gauge(
            "enlarger_render_queue_depth",
            "Render slots taken: running, queued or reserved",
            multiprocess_mode="livesum",
            registry=r,
        )
        self.render_capacity = Gauge(
            "enlarger_render_capacity",
            "Render slots (threads + queue)",
            multiprocess_mode="livesum",
            registry=r,
        )

    # Label lookups cost more than the increments on the hot path: children are bound once.
    def request_counter(self, route: str, method: str, status: int) -> Any:
        token = (route, method, status)
        child = self._children.get(token)
        if child is None:
            child = self._children[token] = self.requests.labels(route, method, status)
        return child

    def request_timer(self, route: str) -> Any:
        child = self._children.get(route)
        if child is None:
            child = self._children[route] = self.request_seconds.labels(route)
        return child

    def cache_hit(self, tier: str) -> Any:
        token = ("tier", tier)
        child = self._children.get(token)
        if child is None:
            child = self._children[token] = self.cache_hits.labels(tier)
        return child

    def upload_accepted(self, deduplicated: bool) -> None:
        self.uploads.labels("true" if deduplicated else "false").inc()

    def upload_rejected(self, code: str) -> None:
        self.upload_rejections.labels(code).inc()

    def render(self) -> bytes:
        if self.multiprocess_dir is None:
            return generate_latest(self.registry)
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=self.multiprocess_dir)  # type: ignore[no-untyped-call]
        return generate_latest(registry)
