"""Metadata: users, API keys, images, variants and view counts, on SQLite or PostgreSQL."""

from db.models import ApiKey, Image, User, UserImage, Variant
from db.protocol import Repository

__all__ = ["ApiKey", "Image", "Repository", "User", "UserImage", "Variant"]
