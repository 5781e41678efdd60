"""The answer schemas of :mod:`enlarger.openapi` (JSON Schema 2020-12, as OpenAPI 3.1 uses)."""

from __future__ import annotations

from typing import Any

from enlarger.proxy.spec import SIZE_NAMES

Json = dict[str, Any]

STRING = {"type": "string"}
INTEGER = {"type": "integer"}
URL = {"type": "string", "format": "uri"}
NULLABLE_STRING = {"type": ["string", "null"]}


def _object(required: dict[str, Json], **optional: Json) -> Json:
    return {
        "type": "object",
        "required": list(required),
        "properties": {**required, **optional},
    }


IMAGE = _object(
    {
        "id": STRING,
        "url": URL,
        "width": INTEGER,
        "height": INTEGER,
        "format": STRING,
        "bytes": INTEGER,
        "frames": INTEGER,
        "created_at": {"type": "string", "format": "date-time"},
        "sizes": _object({name: URL for name in SIZE_NAMES}),
    },
    renderable={"type": "boolean"},
    unrenderable_reason=NULLABLE_STRING,
)

UPLOADED = {
    **IMAGE,
    "required": [*IMAGE["required"], "deduplicated"],
    "properties": {
        **IMAGE["properties"],
        "deduplicated": {"type": "boolean"},
        "delete_url": {**URL, "description": "anonymous uploads: DELETE this URL to delete"},
        "delete_page": {**URL, "description": "the same as a page to open in a browser"},
    },
}

LISTED = {
    **IMAGE,
    "required": [*IMAGE["required"], "uploaded_at", "views", "bytes_served"],
    "properties": {
        **IMAGE["properties"],
        "uploaded_at": {"type": "string", "format": "date-time"},
        "filename": NULLABLE_STRING,
        "views": INTEGER,
        "bytes_served": INTEGER,
    },
}


def _counted(key: str, key_schema: Json) -> Json:
    return {
        "type": "array",
        "items": _object({key: key_schema, "views": INTEGER, "bytes": INTEGER}),
    }


SCHEMAS: dict[str, Json] = {
    "Error": _object(
        {
            "error": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {"code": STRING, "message": STRING},
                "additionalProperties": True,
            }
        }
    ),
    "Image": IMAGE,
    "Uploaded": UPLOADED,
    "ImageList": _object(
        {
            "user": STRING,
            "images": {"type": "array", "items": LISTED},
            "limit": INTEGER,
            "offset": INTEGER,
            "sort": {"enum": ["uploaded", "views"]},
        }
    ),
    "Stats": _object(
        {
            "id": STRING,
            "from": NULLABLE_STRING,
            "to": NULLABLE_STRING,
            "views": INTEGER,
            "bytes": INTEGER,
            "days": _counted("day", STRING),
            "months": _counted("month", STRING),
            "variants": _counted("variant", STRING),
            "referrers": _counted("host", NULLABLE_STRING),
            "tiers": _counted("tier", STRING),
        }
    ),
    "ShareX": _object(
        {
            "Version": STRING,
            "Name": STRING,
            "DestinationType": STRING,
            "RequestMethod": STRING,
            "RequestURL": URL,
            "Body": STRING,
            "FileFormName": STRING,
            "URL": STRING,
        },
        Headers={"type": "object", "additionalProperties": STRING},
        ThumbnailURL=STRING,
        DeletionURL=STRING,
        ErrorMessage=STRING,
    ),
}
