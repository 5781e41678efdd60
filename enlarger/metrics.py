"""Prometheus metrics, one registry per application (no module-level metric globals)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
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
        self.renders = Counter("enlarger_renders", "Variants rendered", ["format"], registry=r)
        self.render_seconds = Histogram(
            "enlarger_render_seconds",
            "Render time in the pool",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.cache_hits = Counter(
            "enlarger_cache_hits", "Views served without rendering, by tier", ["tier"], registry=r
        )
        self.render_queue = Gauge(
            "enlarger_render_queue_depth", "Renders running or queued", registry=r
        )
        self.singleflight_waits = Counter(
            "enlarger_singleflight_waits", "Requests that waited on another's render", registry=r
        )
        self.uploads = Counter("enlarger_uploads", "Uploads accepted", ["deduplicated"], registry=r)
        self.upload_rejections = Counter(
            "enlarger_upload_rejections", "Uploads refused", ["code"], registry=r
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
