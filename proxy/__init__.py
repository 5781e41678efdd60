"""The view route, query → canonical spec, render pipeline, bounded renderer, variant service."""
