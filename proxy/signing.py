"""Signed view URLs: a URL ending in ``&sig=S``, S the unpadded base64url HMAC-SHA256 (under one of
``ENLARGER_SIGNING_KEYS``) of the path and query before it, may ask for exact sizes; a wrong S is
403 ``bad_signature``, and ``ENLARGER_REQUIRE_SIGNATURE`` leaves unsigned URLs the named sizes and
presets only (docs/security.md)."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from enlarger.errors import BadSignature, ConfigurationError, SignatureRequired
from enlarger.settings import Settings

SIG = "sig"
_MARKERS = ("&sig=", "?sig=")
# named sizes and the operator's presets (ENLARGER_PRESETS), in any format
UNSIGNED_ALLOWED = frozenset({"size", "preset", "fmt", "format", "f"})


def signature(key: bytes, message: str) -> str:
    digest = hmac.new(key, message.encode("utf-8", "surrogateescape"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def split_signed(raw_path: str) -> tuple[str, str | None]:
    """``/i/x?w=1&sig=S`` → (``/i/x?w=1``, ``S``); without a trailing signature (raw, None)."""
    for marker in _MARKERS:
        head, found, sig = raw_path.rpartition(marker)
        if found and "&" not in sig and (marker == "&sig=" or "?" not in head):
            return head, sig
    return raw_path, None


@dataclass(frozen=True, slots=True)
class Signer:
    keys: tuple[bytes, ...]
    required: bool = False

    @classmethod
    def from_settings(cls, settings: Settings) -> Signer:
        return cls(settings.signing_secrets, settings.require_signature)

    def sign(self, url: str) -> str:
        """``url`` (a path and query, or a whole URL, as it will be sent) with its signature
        appended, made with the first key."""
        if not self.keys:
            raise ConfigurationError("no signing keys: set ENLARGER_SIGNING_KEYS")
        parts = urlsplit(url)
        if parts.fragment or not parts.path.startswith("/"):
            raise ConfigurationError("give a URL or a path starting with / (and no #fragment)")
        path = url[len(parts.scheme) + 3 + len(parts.netloc) :] if parts.netloc else url
        if split_signed(path)[1] is not None:
            raise ConfigurationError("the URL is signed already")
        joiner = "&" if "?" in path else "?"
        return f"{url}{joiner}{SIG}={signature(self.keys[0], path)}"

    def verify(self, raw_path: str) -> tuple[str, bool]:
        """The signed message and whether it carries a valid signature; a wrong signature raises
        :class:`BadSignature`."""
        message, sig = split_signed(raw_path)
        if sig is None:
            return raw_path, False
        if not self.keys:
            raise BadSignature("this server has no signing keys: send the URL without sig")
        if not any(hmac.compare_digest(signature(key, message), sig) for key in self.keys):
            raise BadSignature("the signature does not match the URL", parameter=SIG)
        return message, True

    def check_unsigned(self, names: Sequence[str]) -> None:
        """Under ``ENLARGER_REQUIRE_SIGNATURE``, only named sizes and presets go unsigned."""
        if self.required and not set(names) <= UNSIGNED_ALLOWED:
            raise SignatureRequired(
                "this server only serves named sizes and presets without a signature: sign the URL",
                allowed=sorted(UNSIGNED_ALLOWED),
            )
