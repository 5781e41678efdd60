"""Blob stores: originals and rendered variants, addressed by content-derived keys."""

from enlarger.blobs.protocol import BlobStore, check_key

__all__ = ["BlobStore", "check_key"]
