"""Metadata: users, API keys, images, variants and view counts, on SQLite or PostgreSQL."""

from enlarger.db.models import ApiKey, Image, User, UserImage, UserSummary, Variant
from enlarger.db.protocol import Repository

__all__ = ["ApiKey", "Image", "Repository", "User", "UserImage", "UserSummary", "Variant"]
