"""Metadata: users, API keys, images, variants and view counts, on SQLite or PostgreSQL."""

from aiohttp import web

from enlarger.db.models import ApiKey, Image, ImagePreview, User, UserImage, UserSummary, Variant
from enlarger.db.protocol import Repository

REPO: web.AppKey[Repository] = web.AppKey("repo", Repository)

__all__ = [
    "REPO",
    "ApiKey",
    "Image",
    "ImagePreview",
    "Repository",
    "User",
    "UserImage",
    "UserSummary",
    "Variant",
]
