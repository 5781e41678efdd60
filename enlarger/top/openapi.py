"""The OpenAPI 3.1 description of the whole HTTP API, served at ``/v1/openapi.json``. Tests keep it
true: every route is here and nothing else (``tests/e2e/test_openapi.py``), it validates, and
schemathesis against a live server finds no 5xx and no answer outside it."""

from __future__ import annotations

from typing import Any

from enlarger.proxy import text
from enlarger.proxy.spec import (
    ALIASES,
    AUTO_TARGET,
    BUILTIN_PRESETS,
    FITS,
    GRAVITIES,
    MAX_BYTES_RANGE,
    OUTPUT_FORMATS,
    SIZE_NAMES,
    WM_MARGIN,
    WM_POSITIONS,
)
from enlarger.settings import Settings
from enlarger.top.openapi_schemas import SCHEMAS

Json = dict[str, Any]

ERROR_STATUSES = {
    400: "bad input (a parameter named in the error)",
    401: "no API key, or an unknown or revoked one",
    403: "not allowed for this caller",
    404: "no such image or path",
    405: "method not allowed",
    408: "the upload did not finish in time",
    413: "the upload exceeds the byte limit",
    415: "not an accepted image format, or a compressed body",
    422: "an image that breaks a limit or cannot be decoded, or a max_bytes it cannot meet",
    429: "over a rate limit (Retry-After)",
    500: "unexpected failure (logged)",
    503: "a backend is unavailable or the renderer is full (Retry-After)",
}
ALWAYS = (405, 500, 503)
ID = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
BEARER: list[Json] = [{"bearer": []}]
OPTIONAL_BEARER: list[Json] = [{}, {"bearer": []}]


def _ref(name: str) -> Json:
    return {"$ref": f"#/components/schemas/{name}"}


def _errors(*statuses: int) -> Json:
    error = {"application/json": {"schema": _ref("Error")}}
    codes = sorted({*statuses, *ALWAYS})
    return {str(s): {"description": ERROR_STATUSES[s], "content": error} for s in codes}


def _json(description: str, schema: Json, status: int = 200) -> Json:
    return {
        str(status): {
            "description": description,
            "content": {"application/json": {"schema": schema}},
        }
    }


def _json_or_csv(description: str, schema: Json) -> Json:
    """``format=csv`` answers the same rows as CSV."""
    answer = _json(description + " (CSV with format=csv)", schema)
    answer["200"]["content"]["text/csv"] = {"schema": {"type": "string"}}
    return answer


def _text(description: str, media: str) -> Json:
    return {"200": {"description": description, "content": {media: {"schema": {"type": "string"}}}}}


def _op(summary: str, responses: Json, **extra: Any) -> Json:
    return {"summary": summary, "responses": responses, **extra}


def _query(name: str, schema: Json, description: str = "") -> Json:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": schema,
        "description": description,
    }


def _canonical_view_parameters(settings: Settings) -> list[Json]:
    side = {"type": "integer", "minimum": 1, "maximum": settings.max_side}
    step = {"type": "number", "minimum": 0}
    return [
        ID,
        _query("size", {"enum": list(SIZE_NAMES)}, "a named size (default large)"),
        _query(
            "w",
            {"oneOf": [side, {"enum": ["auto"]}]},
            "width, rounded up to the width ladder; auto: the Sec-CH-Width (or Width) hint",
        ),
        _query("h", side, "height"),
        _query(
            "q",
            {"oneOf": [{"type": "integer", "minimum": 1, "maximum": 100}, {"enum": ["auto"]}]},
            f"quality; auto: the lowest reaching SSIMULACRA2 {AUTO_TARGET:g}",
        ),
        _query("fmt", {"enum": list(OUTPUT_FORMATS)}, "output format; auto negotiates"),
        _query("fit", {"enum": list(FITS)}),
        _query("g", {"enum": list(GRAVITIES)}, "gravity of cover crops"),
        _query(
            "dpr",
            {"oneOf": [{"type": "number", "minimum": 1, "maximum": 4}, {"enum": ["auto"]}]},
            "device pixel ratio; auto: the Sec-CH-DPR (or DPR) hint, else 1",
        ),
        _query("crop", {"type": "string"}, "x,y,width,height in pixels of the original"),
        _query(
            "trim",
            {"type": "integer", "minimum": 0, "maximum": 254},
            "remove a uniform border: 1 (threshold 10), 0, or a threshold 2-254",
        ),
        _query("rot", {"enum": [0, 90, 180, 270]}),
        _query("flip", {"enum": [0, 1]}),
        _query("flop", {"enum": [0, 1]}),
        _query("blur", {**step, "maximum": 50}),
        _query("sharpen", {**step, "maximum": 10}),
        _query("bg", {"type": "string"}, "background: rgb, rrggbb, rrggbbaa or a name"),
        _query(
            "max_bytes",
            {"type": "integer", "minimum": MAX_BYTES_RANGE[0], "maximum": MAX_BYTES_RANGE[1]},
            "the answer takes at most this many bytes (snapped down to a budget step);"
            " 422 max_bytes_unreachable when it cannot",
        ),
        _query(
            "hdr",
            {"enum": [0, 1]},
            "1 (default): an Ultra HDR original stays Ultra HDR (gain map kept) in JPEG answers;"
            " 0: plain SDR. WebP, AVIF, PNG and GIF answers are always SDR",
        ),
        *_text_parameters(),
        _query(
            "preset",
            {"enum": sorted({*BUILTIN_PRESETS, *settings.presets})},
            "a named set of parameters (ENLARGER_PRESETS, or a named size); parameters beside"
            " it override its own. With ENLARGER_PRESETS_ONLY only preset, size and fmt"
            " (403 presets_only)",
        ),
        *_overlay_parameters(),
        _query("sig", {"type": "string"}, "HMAC signature, last (docs/security.md)"),
        *_hint_headers(),
    ]


def _hint_headers() -> list[Json]:
    """Client hints, read only for w=auto and dpr=auto; a bad value is no hint (never a 400)."""
    width = "device pixels, read for w=auto"
    dpr = "device pixel ratio, read for dpr=auto"
    return [
        {"name": name, "in": "header", "required": False, "schema": schema, "description": text}
        for name, schema, text in (
            ("Sec-CH-Width", {"type": "integer", "minimum": 1}, width),
            ("Width", {"type": "integer", "minimum": 1}, f"legacy Sec-CH-Width; {width}"),
            ("Sec-CH-DPR", {"type": "number", "exclusiveMinimum": 0}, dpr),
            ("DPR", {"type": "number", "exclusiveMinimum": 0}, f"legacy Sec-CH-DPR; {dpr}"),
        )
    ]


def _text_parameters() -> list[Json]:
    """``txt`` (docs/api.md, "Text overlay")."""
    low, high = text.SIZES
    return [
        _query(
            "txt",
            {"type": "string", "maxLength": text.MAX_CHARACTERS},
            f"text drawn over the image in {text.FAMILY}: no control characters, only characters"
            " the font draws (no CJK); markup is shown as text",
        ),
        _query("txt_pos", {"enum": list(GRAVITIES[:9])}, f"default {text.DEFAULT_POSITION}"),
        _query("txt_size", {"type": "integer", "minimum": low, "maximum": high}, "px, times dpr"),
        _query("txt_color", {"type": "string"}, "text colour: rgb, rrggbb, rrggbbaa or a name"),
        _query("txt_opacity", {"type": "number", "minimum": 0, "maximum": 1}),
    ]


def _overlay_parameters() -> list[Json]:
    """``wm``: another hosted image over the output (docs/api.md, "Image overlay")."""
    fraction = {"type": "number", "minimum": 0, "maximum": 1}
    margin = {"type": "integer", "minimum": WM_MARGIN[0], "maximum": WM_MARGIN[1]}
    return [
        _query("wm", {"type": "string"}, "id of an image laid over the output (404 if none)"),
        _query("wm_pos", {"type": "string"}, f"{', '.join(WM_POSITIONS)} or n, ne, …"),
        _query("wm_scale", fraction, "overlay width / output width, 0.01-1 (default 0.25)"),
        _query("wm_opacity", fraction, "0-1, step 0.05 (default 1)"),
        _query("wm_margin", margin, "px from the named edges (default 16)"),
    ]


def _view_parameters(settings: Settings) -> list[Json]:
    """Every parameter under each of its names (a second name of one parameter is a 400)."""
    found = [ID]
    for parameter in _canonical_view_parameters(settings)[1:]:
        canonical = parameter["name"]
        found.append(parameter)
        for name in ALIASES.get(canonical, (canonical,))[1:]:
            found.append({**parameter, "name": name, "description": f"another name of {canonical}"})
    return found


def _image_paths(settings: Settings) -> Json:
    upload_body = {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {"file": {"type": "string", "format": "binary"}},
                }
            },
            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
            "image/*": {"schema": {"type": "string", "format": "binary"}},
        },
    }
    created = _json("uploaded (or already known: deduplicated)", _ref("Uploaded"), 201)
    created["201"]["headers"] = {"Location": {"schema": {"type": "string"}}}
    no_content = {"204": {"description": "the caller's claim is gone"}}
    return {
        "/v1/images": {
            "post": _op(
                "Upload an image",
                {**created, **_errors(400, 401, 408, 413, 415, 422, 429)},
                requestBody=upload_body,
                security=OPTIONAL_BEARER,
            )
        },
        "/v1/images/{id}": {
            "get": _op(
                "Metadata of an image (created_at: the caller's own upload time, else null) and "
                "its placeholder (thumbhash, dominant_color)",
                {**_json("the image", _ref("ImageRecord")), **_errors(401, 404)},
                security=OPTIONAL_BEARER,
            ),
            "delete": _op(
                "Delete the caller's upload (the image goes with its last uploader)",
                {**no_content, **_errors(401, 403, 404)},
                security=BEARER,
            ),
            "parameters": [ID],
        },
        "/v1/images/{id}/delete/{token}": {
            "delete": _op(
                "Delete an anonymous upload with the token of its delete_url",
                {**no_content, **_errors(403, 404)},
            ),
            "get": _op(
                "A browser (Accept: text/html) is sent to the delete_page; others get 405",
                {"303": {"description": "to /me#delete=<id>.<token>"}, **_errors(404)},
            ),
            "parameters": [ID, {**ID, "name": "token"}],
        },
        "/v1/images/{id}/meta": {
            "get": _op(
                "What the original's header says: size, format, frames, colour, ICC profile, "
                "and the safe EXIF (camera, lens, exposure, time taken; never GPS, serial "
                "numbers or owners)",
                {
                    **_json("the metadata", _ref("ImageMeta")),
                    "304": {"description": "If-None-Match matched the ETag"},
                    **_errors(404, 422, 429),
                },
                parameters=[ID],
            )
        },
        "/v1/images/{id}/stats": {
            "get": _op(
                "Views of an image (its uploaders, or everyone with ENLARGER_PUBLIC_STATS)",
                {
                    **_json_or_csv("statistics", _ref("Stats")),
                    **_errors(400, 401, 403, 404),
                },
                parameters=[
                    ID,
                    _query("from", {"type": "string", "format": "date"}),
                    _query("to", {"type": "string", "format": "date"}),
                    _query("format", {"enum": ["json", "csv"]}),
                ],
                security=OPTIONAL_BEARER,
            )
        },
        "/v1/me/images": {
            "get": _op(
                "The caller's images with their views",
                {**_json_or_csv("the list", _ref("ImageList")), **_errors(400, 401)},
                parameters=[
                    _query("sort", {"enum": ["uploaded", "views"]}),
                    _query("limit", {"type": "integer", "minimum": 1, "maximum": 1000}),
                    _query("offset", {"type": "integer", "minimum": 0}),
                    _query("format", {"enum": ["json", "csv"]}),
                ],
                security=BEARER,
            )
        },
        "/i/{id}": {
            "get": _op("View an image", _view_answers(), parameters=_view_parameters(settings)),
            "head": _op(
                "Headers of a view", _view_answers(), parameters=_view_parameters(settings)
            ),
        },
    }


def _view_answers() -> Json:
    media = {
        f"image/{f}": {"schema": {"type": "string", "format": "binary"}}
        for f in ("jpeg", "png", "webp", "avif", "gif")
    }
    return {
        "200": {
            "description": "the image bytes",
            "content": media,
            "headers": {
                "Vary": {
                    "description": "Accept for fmt=auto; the hint headers w=auto, dpr=auto read",
                    "schema": {"type": "string"},
                }
            },
        },
        "304": {"description": "If-None-Match matched the ETag"},
        **_errors(400, 403, 404, 422, 429),
    }


def _service_paths() -> Json:
    anything = {"type": "object"}
    html = "text/html"
    return {
        "/v1/limits": {
            "get": _op(
                "Limits and parameter values in force", {**_json("limits", anything), **_errors()}
            )
        },
        "/v1/sharex.sxcu": {
            "get": _op(
                "A ShareX custom-uploader file for this server (with the caller's key)",
                {**_json("the .sxcu file", _ref("ShareX")), **_errors(401)},
                security=OPTIONAL_BEARER,
            )
        },
        "/v1/openapi.json": {
            "get": _op("This document", {**_json("OpenAPI 3.1", anything), **_errors()})
        },
        "/healthz": {"get": _op("Liveness", {**_json("alive", anything), **_errors()})},
        "/readyz": {
            "get": _op(
                "Readiness (database and blob store; Redis degrades it)",
                {**_json("ready or degraded", anything), **_errors()},
            )
        },
        "/metrics": {
            "get": _op("Prometheus metrics", {**_text("metrics", "text/plain"), **_errors()})
        },
        "/": {"get": _op("The upload page", {**_text("HTML", html), **_errors()})},
        "/me": {
            "get": _op("My images (signs in with an API key)", {**_text("HTML", html), **_errors()})
        },
        "/p/{id}": {
            "get": _op(
                "The share page of an image",
                {**_text("HTML", html), **_errors(404)},
                parameters=[ID],
            )
        },
        "/p/{id}/stats": {
            "get": _op(
                "The statistics page of an image",
                {**_text("HTML", html), **_errors(404)},
                parameters=[ID],
            )
        },
        "/favicon.ico": {
            "get": _op("The site's icon", {**_text("icon", "image/x-icon"), **_errors()})
        },
        "/static/{name}": {
            "get": _op(
                "Scripts and styles of the pages",
                {
                    "200": {
                        "description": "the file",
                        "content": {"*/*": {"schema": {"type": "string"}}},
                    },
                    **_errors(404),
                },
                parameters=[{**ID, "name": "name"}],
            )
        },
    }


def document(settings: Settings, base: str) -> Json:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Enlarger",
            "version": "1",
            "description": "Image host and on-demand image transformation proxy.",
        },
        "servers": [{"url": base}],
        "paths": {**_image_paths(settings), **_service_paths()},
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
