"""The answer schemas of :mod:`enlarger.top.openapi` (JSON Schema 2020-12, as OpenAPI 3.1 uses)."""

from __future__ import annotations

from typing import Any

from enlarger.proxy.spec import SIZE_NAMES

Json = dict[str, Any]

STRING = {"type": "string"}
INTEGER = {"type": "integer"}
URL = {"type": "string", "format": "uri"}
NULLABLE_STRING = {"type": ["string", "null"]}
DATE_TIME = {"type": "string", "format": "date-time"}


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
        "created_at": {
            "type": ["string", "null"],
            "format": "date-time",
            "description": "the caller's own upload time (an API key holding the image), else "
            "null; never another uploader's",
        },
        "sizes": _object({name: URL for name in SIZE_NAMES}),
    },
    renderable={"type": "boolean"},
    unrenderable_reason=NULLABLE_STRING,
)

IMAGE_RECORD = {  # GET /v1/images/<id>: the image and its placeholder for clients
    **IMAGE,
    "required": [*IMAGE["required"], "thumbhash", "dominant_color"],
    "properties": {
        **IMAGE["properties"],
        "thumbhash": {
            **NULLABLE_STRING,
            "description": "a ThumbHash (base64) of the image: decode it with thumbHashToDataURL "
            "of https://github.com/evanw/thumbhash for a blurred placeholder; null while it "
            "cannot be made (a later GET tries again)",
        },
        "dominant_color": {
            "type": ["string", "null"],
            "pattern": "^#[0-9a-f]{6}$",
            "description": "the dominant colour, #rrggbb: the mean of the most populated bin of "
            "a 16x16x16 RGB histogram of a 100 px decode (pixels at least half opaque); null "
            "as thumbhash",
        },
    },
}

UPLOADED = {
    **IMAGE,
    "required": [*IMAGE["required"], "deduplicated"],
    "properties": {
        **IMAGE["properties"],
        "created_at": {**DATE_TIME, "description": "this upload's claim: its own time"},
        "deduplicated": {
            "type": "boolean",
            "description": "true only when this API key's user had uploaded these bytes "
            "before (the answer is then their entry); never says whether anyone else did",
        },
        "delete_url": {**URL, "description": "anonymous uploads: DELETE this URL to delete"},
        "delete_page": {**URL, "description": "the same as a page to open in a browser"},
    },
}

LISTED = {
    **IMAGE,
    "required": [*IMAGE["required"], "uploaded_at", "views", "bytes_served"],
    "properties": {
        **IMAGE["properties"],
        "created_at": {**DATE_TIME, "description": "the same as uploaded_at"},
        "uploaded_at": DATE_TIME,
        "filename": NULLABLE_STRING,
        "views": {**INTEGER, "description": "views since this user's upload"},
        "bytes_served": {**INTEGER, "description": "bytes served since this user's upload"},
    },
}


NULLABLE_NUMBER = {"type": ["number", "null"]}
NULLABLE_INTEGER = {"type": ["integer", "null"]}

META = _object(
    {
        "id": STRING,
        "width": {**INTEGER, "description": "upright (after the EXIF orientation), one frame"},
        "height": INTEGER,
        "format": STRING,
        "frames": INTEGER,
        "orientation": {**INTEGER, "description": "the EXIF orientation (1-8) of the original"},
        "color_space": {**STRING, "description": "libvips' interpretation: srgb, b-w, cmyk…"},
        "bands": INTEGER,
        "alpha": {"type": "boolean"},
        "icc_profile": {**NULLABLE_STRING, "description": "the embedded profile's description"},
        "hdr": {"type": "boolean", "description": "an Ultra HDR JPEG (with a gain map)"},
        "exif": {
            **_object(
                {
                    "make": NULLABLE_STRING,
                    "model": NULLABLE_STRING,
                    "lens_make": NULLABLE_STRING,
                    "lens_model": NULLABLE_STRING,
                    "exposure_time": {**NULLABLE_STRING, "description": "seconds: 1/250, 2"},
                    "f_number": NULLABLE_NUMBER,
                    "iso": NULLABLE_INTEGER,
                    "focal_length_mm": NULLABLE_NUMBER,
                    "focal_length_35mm": NULLABLE_INTEGER,
                    "taken_at": {
                        **NULLABLE_STRING,
                        "description": "ISO 8601, with the camera's offset when it wrote one",
                    },
                }
            ),
            "additionalProperties": False,
            "description": "an allow-list: never GPS, serial numbers, owners or maker notes",
        },
    }
)


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
    "ImageRecord": IMAGE_RECORD,
    "Uploaded": UPLOADED,
    "ImageMeta": META,
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
