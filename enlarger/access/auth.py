"""API-key authentication: ``Authorization: Bearer <key>``; only a hash of a key is kept."""

from __future__ import annotations

from aiohttp import web

from enlarger import ids
from enlarger.db import Repository, User
from enlarger.errors import InvalidApiKey, Unauthorized


async def optional_user(request: web.Request, repo: Repository) -> User | None:
    """The key's user; ``None`` when no credentials were sent; 401 for a bad key."""
    header = request.headers.get("Authorization")
    if header is None:
        return None
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise InvalidApiKey("use 'Authorization: Bearer <api key>'")
    user = await repo.user_for_api_key(ids.hash_api_key(key.strip()))
    if user is None:
        raise InvalidApiKey("the API key is unknown or revoked")
    return user


async def required_user(request: web.Request, repo: Repository) -> User:
    user = await optional_user(request, repo)
    if user is None:
        raise Unauthorized("this needs an API key: 'Authorization: Bearer <api key>'")
    return user
