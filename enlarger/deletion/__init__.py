"""Deleting an image: claims removed, the last one erases every trace (docs/architecture.md,
"Delete flow"), the CDN purged, other processes told."""
