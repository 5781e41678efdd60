"""The EXIF fields ``/v1/images/<id>/meta`` may show, read from libvips' ``exif-ifdN-*`` strings by
an allow-list: camera, lens, exposure and the time taken; never GPS, serial numbers, owner names or
maker notes (docs/api.md, "Image metadata"). Pure functions over strings, no pyvips here.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from fractions import Fraction
from typing import Any

MAX_TEXT = 128  # longest text value shown (characters)

# libvips writes each entry as "<value> (<libexif's rendering>, <type>, <n> components, <n> bytes)"
_ENTRY = re.compile(
    r"^(?P<body>.*) \((?P<shown>.*), (?P<type>[A-Za-z]+), \d+ components, \d+ bytes\)$", re.DOTALL
)
_DATE = re.compile(r"^(\d{4}):(\d{2}):(\d{2})[ T](\d{2}):(\d{2}):(\d{2})$")
_OFFSET = re.compile(r"^[+-]\d{2}:\d{2}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def entry_value(raw: str) -> tuple[str, str] | None:
    """``(value, type)`` of one libvips EXIF string, or None when it is not in that shape."""
    match = _ENTRY.match(raw)
    if match is None:
        return None
    body, kind = match["body"], match["type"]
    if kind == "ASCII":
        # the value and libexif's rendering of it are the same text: "v (v"; split in the middle
        # so that a value holding " (" itself stays whole
        whole = f"{body} ({match['shown']}"
        half = (len(whole) - 2) // 2
        if whole[half : half + 2] == " (" and whole[:half] == whole[half + 2 :]:
            return whole[:half], kind
        return body, kind
    return body.split(" (", 1)[0], kind


def text(raw: str) -> str | None:
    parsed = entry_value(raw)
    if parsed is None or parsed[1] != "ASCII":
        return None
    value = _CONTROL.sub("", parsed[0]).strip()
    return value[:MAX_TEXT] or None


def _rational(raw: str) -> Fraction | None:
    parsed = entry_value(raw)
    if parsed is None or parsed[1] not in ("Rational", "SRational"):
        return None
    first = parsed[0].split(" ", 1)[0]
    numerator, slash, denominator = first.partition("/")
    try:
        value = Fraction(int(numerator), int(denominator)) if slash else Fraction(int(numerator))
    except (ValueError, ZeroDivisionError):
        return None
    return value if value > 0 else None


def number(raw: str) -> float | None:
    value = _rational(raw)
    return round(float(value), 2) if value is not None else None


def integer(raw: str) -> int | None:
    parsed = entry_value(raw)
    if parsed is None or parsed[1] not in ("Short", "Long", "SShort", "SLong"):
        return None
    first = parsed[0].split(" ", 1)[0]
    return int(first) if first.isdigit() and 0 < int(first) < 10_000_000 else None


def exposure(raw: str) -> str | None:
    """Seconds as photographers write them: ``1/250``, ``0.5`` below a second is ``1/2``, ``2``."""
    value = _rational(raw)
    if value is None:
        return None
    if value < 1:
        return f"1/{round(1 / value)}"
    return f"{float(value):g}"


def date(raw: str) -> str | None:
    """``YYYY:MM:DD HH:MM:SS`` as ISO 8601 (no zone: EXIF's own time is the camera's clock)."""
    value = text(raw)
    match = _DATE.match(value or "")
    if match is None:
        return None
    year, month, day, hour, minute, second = match.groups()
    return f"{year}-{month}-{day}T{hour}:{minute}:{second}"


def offset(raw: str) -> str | None:
    value = text(raw)
    return value if value and _OFFSET.match(value) else None


# The allow-list: the answer's name, the libvips field, how it is read. Nothing else is read.
ALLOWED: tuple[tuple[str, str, Callable[[str], Any]], ...] = (
    ("make", "exif-ifd0-Make", text),
    ("model", "exif-ifd0-Model", text),
    ("lens_make", "exif-ifd2-LensMake", text),
    ("lens_model", "exif-ifd2-LensModel", text),
    ("exposure_time", "exif-ifd2-ExposureTime", exposure),
    ("f_number", "exif-ifd2-FNumber", number),
    ("iso", "exif-ifd2-ISOSpeedRatings", integer),
    ("focal_length_mm", "exif-ifd2-FocalLength", number),
    ("focal_length_35mm", "exif-ifd2-FocalLengthIn35mmFilm", integer),
    ("taken_at", "exif-ifd2-DateTimeOriginal", date),
)
OFFSET_FIELD = "exif-ifd2-OffsetTimeOriginal"
FIELDS = frozenset({field for _, field, _ in ALLOWED} | {OFFSET_FIELD})


def safe_exif(fields: Mapping[str, str]) -> dict[str, Any]:
    """The allow-listed values of ``fields`` (libvips field name → its string), every name of
    :data:`ALLOWED` present (null when absent or unreadable). ``taken_at`` gains the offset
    (``+02:00``) when the camera wrote one."""
    answer: dict[str, Any] = {}
    for name, field, read in ALLOWED:
        raw = fields.get(field)
        answer[name] = read(raw) if isinstance(raw, str) else None
    zone = fields.get(OFFSET_FIELD)
    if answer["taken_at"] and isinstance(zone, str) and offset(zone):
        answer["taken_at"] += offset(zone)
    return answer
