"""Typed errors, each an HTTP status, a stable snake_case code and a message for people; one
middleware (``enlarger.web.error_middleware``) answers them in the JSON error shape,
``{"error": {"code": "...", "message": "...", ...details}}`` (docs/architecture.md, "Errors")."""

from __future__ import annotations

from typing import Any, ClassVar


class EnlargerError(Exception):
    """Base of every error that may reach a client."""

    status: ClassVar[int] = 500
    code: ClassVar[str] = "internal_error"
    headers: dict[str, str]

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        self.headers = {}

    def to_dict(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, **self.details}}


class ConfigurationError(EnlargerError):
    """Invalid settings: stops start-up; never sent to a client."""

    code = "configuration_error"


class SetupError(ConfigurationError):
    """A command cannot run where it is pointed (a port in use, no database there): the CLI
    says so in one line and exits with status 2."""


class BadRequest(EnlargerError):
    status = 400
    code = "bad_request"


class HostNotAllowed(BadRequest):
    """The Host (or a trusted proxy's X-Forwarded-Host) is not in ENLARGER_ALLOWED_HOSTS."""

    code = "host_not_allowed"


class InvalidParameter(BadRequest):
    code = "invalid_parameter"


class UnknownParameter(BadRequest):
    code = "unknown_parameter"


class DuplicateParameter(BadRequest):
    code = "duplicate_parameter"


class UnknownPreset(BadRequest):
    code = "unknown_preset"


class MissingFile(BadRequest):
    code = "missing_file"


class Unauthorized(EnlargerError):
    status = 401
    code = "unauthorized"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message, **details)
        self.headers["WWW-Authenticate"] = 'Bearer realm="enlarger"'


class InvalidApiKey(Unauthorized):
    code = "invalid_api_key"


class Forbidden(EnlargerError):
    status = 403
    code = "forbidden"


class BadSignature(Forbidden):
    code = "bad_signature"


class SignatureRequired(Forbidden):
    code = "signature_required"


class PresetsOnly(Forbidden):
    code = "presets_only"


class InvalidDeleteToken(Forbidden):
    code = "invalid_delete_token"


class NotFound(EnlargerError):
    status = 404
    code = "not_found"


class ImageNotFound(NotFound):
    code = "image_not_found"


class UnknownOverlay(NotFound):
    """``wm=`` names no image (never uploaded, or deleted): the overlay cannot be shown."""

    code = "unknown_overlay"


class Conflict(EnlargerError):
    status = 409
    code = "conflict"


class UserExists(Conflict):
    code = "user_exists"


class UploadTimeout(EnlargerError):
    status = 408
    code = "upload_timeout"


class ExpectationFailed(EnlargerError):
    status = 417
    code = "expectation_failed"


class PayloadTooLarge(EnlargerError):
    status = 413
    code = "payload_too_large"


class UnsupportedMediaType(EnlargerError):
    status = 415
    code = "unsupported_media_type"


class UnsupportedFormat(UnsupportedMediaType):
    code = "unsupported_format"


class InvalidImage(EnlargerError):
    status = 422
    code = "invalid_image"


class UndecodableOverlay(InvalidImage):
    """``wm=`` names an image whose pixels cannot be decoded (the base image is not at fault)."""

    code = "undecodable_overlay"


class ImageTooLarge(EnlargerError):
    status = 422
    code = "image_too_large"


class MaxBytesUnreachable(EnlargerError):
    """``max_bytes`` cannot be met for this image (its details say the smallest answer made)."""

    status = 422
    code = "max_bytes_unreachable"


class RateLimited(EnlargerError):
    """Over a per-client token bucket; ``Retry-After`` says when the next token comes."""

    status = 429
    code = "rate_limited"

    def __init__(self, message: str, retry_after: int = 1, **details: Any) -> None:
        super().__init__(message, retry_after=retry_after, **details)
        self.headers["Retry-After"] = str(retry_after)


class ServiceUnavailable(EnlargerError):
    status = 503
    code = "service_unavailable"

    def __init__(self, message: str, retry_after: int = 1, **details: Any) -> None:
        super().__init__(message, **details)
        self.headers["Retry-After"] = str(retry_after)


class Overloaded(ServiceUnavailable):
    code = "overloaded"


class BackendUnavailable(ServiceUnavailable):
    code = "backend_unavailable"


class RenderTimeout(ServiceUnavailable):
    code = "render_timeout"
