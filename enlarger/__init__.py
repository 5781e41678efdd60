"""Enlarger: an image host and on-demand image transformation proxy."""

__version__ = "0.1.0"
