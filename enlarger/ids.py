"""Public ids, blob keys and API keys. A public id is a keyed BLAKE2b of the original's SHA-256 (128
bits, base32, 26 characters): identical uploads share one id, but holding a file does not tell
whether it is hosted without the server's key."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets

PUBLIC_ID_LENGTH = 26
_PUBLIC_ID = re.compile(r"[a-z2-7]{26}")
API_KEY_PREFIX = "enl_"
DELETE_TOKEN_PREFIX = "del_"


def new_secret() -> bytes:
    """A fresh server key for public ids."""
    return secrets.token_bytes(32)


def public_id(secret: bytes, sha256_hex: str) -> str:
    digest = hashlib.blake2b(bytes.fromhex(sha256_hex), key=secret, digest_size=16).digest()
    return base64.b32encode(digest).decode("ascii").rstrip("=").lower()


def is_public_id(value: str) -> bool:
    return _PUBLIC_ID.fullmatch(value) is not None


def is_path_id(raw: str) -> bool:
    """The ``{id}`` of a path: a public id, optionally followed by a file extension of ASCII
    letters and digits (``/i/<id>.webp``; elsewhere an extension finds no image)."""
    stem, dot, extension = raw.partition(".")
    if dot and not (extension.isascii() and extension.isalnum() and len(extension) <= 8):
        return False
    return is_public_id(stem)


def _shard(image_id: str) -> str:
    return f"{image_id[:2]}/{image_id[2:4]}/{image_id}"


def original_key(image_id: str) -> str:
    return f"originals/{_shard(image_id)}"


def variant_key(image_id: str, spec_key: str) -> str:
    return f"variants/{_shard(image_id)}/{spec_key}"


def master_blob_key(image_id: str, master_key: str) -> str:
    """The kept master (proxy.master_image): beside the variants, never counted or served as one."""
    return f"masters/{_shard(image_id)}/{master_key}"


def new_api_key() -> str:
    return API_KEY_PREFIX + secrets.token_urlsafe(32)


def hash_api_key(key: str) -> str:
    """API keys carry 256 random bits, so a plain SHA-256 is a sound one-way hash."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def new_delete_token() -> str:
    """The secret of an anonymous upload's ``delete_url`` (only its hash is stored)."""
    return DELETE_TOKEN_PREFIX + secrets.token_urlsafe(24)


def hash_token(token: str) -> str:
    """As for API keys: the token carries 192 random bits, so a SHA-256 is a sound hash."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()
