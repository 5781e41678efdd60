"""Caches for rendered variants: a byte-bounded in-process LRU, Redis, and the tiered pair."""

from enlarger.cache.protocol import Cache

__all__ = ["Cache"]
