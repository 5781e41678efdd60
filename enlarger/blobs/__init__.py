"""Blob stores: originals and rendered variants, addressed by content-derived keys."""

from aiohttp import web

from enlarger.blobs.protocol import BlobStore, check_key

BLOBS: web.AppKey[BlobStore] = web.AppKey("blobs", BlobStore)

__all__ = ["BLOBS", "BlobStore", "check_key"]
