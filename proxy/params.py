"""Parsers for single query values: strict, bounded, and snapped so keys stay canonical."""

from __future__ import annotations

from collections.abc import Sequence

from enlarger.errors import InvalidParameter

_TRUE = ("1", "true", "yes", "on", "")
_FALSE = ("0", "false", "no", "off")
_NAMED_COLOURS = {
    "white": (255, 255, 255, 255),
    "black": (0, 0, 0, 255),
    "transparent": (0, 0, 0, 0),
}


def as_integer(name: str, raw: str, low: int, high: int, label: str | None = None) -> int:
    """A whole number from ``low`` to ``high``; every refusal names the range. ``label`` names
    the value in the message when it is one part of ``name`` (``crop``'s width)."""
    value = raw.strip()
    digits = value.removeprefix("-")
    allowed = f"{label or name} must be a whole number from {low} to {high}"
    if not digits.isascii() or not digits.isdigit() or len(digits) > 12:
        raise InvalidParameter(allowed, parameter=name, value=raw[:32], minimum=low, maximum=high)
    number = int(value)
    if not low <= number <= high:
        raise InvalidParameter(
            f"{allowed} (not {number})", parameter=name, minimum=low, maximum=high
        )
    return number


def as_float(name: str, raw: str, low: float, high: float, step: float) -> float:
    value = raw.strip()
    allowed = f"{name} must be a number from {low:g} to {high:g}"
    try:
        if not value.isascii() or len(value) > 10:
            raise ValueError(value)
        number = float(value)
    except ValueError:
        raise InvalidParameter(
            allowed, parameter=name, value=raw[:32], minimum=low, maximum=high
        ) from None
    if not low <= number <= high:  # NaN fails here too
        raise InvalidParameter(
            f"{allowed} (not {value})", parameter=name, minimum=low, maximum=high
        )
    return round(round(number / step) * step, 3)


def as_bool(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise InvalidParameter(f"{name} must be 1 or 0", parameter=name)


def as_colour(raw: str, name: str = "bg") -> tuple[int, int, int, int]:
    """``fff``, ``ffffff``, ``ffffff80`` (optionally with ``#``), or white/black/transparent."""
    value = raw.strip().lower().removeprefix("#")
    if value in _NAMED_COLOURS:
        return _NAMED_COLOURS[value]
    if len(value) == 3:
        value = "".join(ch * 2 for ch in value)
    if len(value) == 6:
        value += "ff"
    try:
        if len(value) != 8:
            raise ValueError(value)
        channels = bytes.fromhex(value)
    except ValueError:
        raise InvalidParameter(
            f"{name} must be a hex colour (fff, ffffff, ffffff80) or white, black, transparent",
            parameter=name,
        ) from None
    return channels[0], channels[1], channels[2], channels[3]


def colour_key(colour: tuple[int, int, int, int]) -> str:
    return bytes(colour).hex()


def as_crop(raw: str, max_side: int) -> tuple[int, int, int, int]:
    """``x,y,width,height`` in pixels of the upright original."""
    parts = raw.split(",")
    if len(parts) != 4:
        raise InvalidParameter("crop must be x,y,width,height in pixels", parameter="crop")
    x, y = (
        as_integer("crop", part, 0, max_side, f"crop's {label}")
        for label, part in zip(("x", "y"), parts[:2], strict=True)
    )
    width, height = (
        as_integer("crop", part, 1, max_side, f"crop's {label}")
        for label, part in zip(("width", "height"), parts[2:], strict=True)
    )
    return x, y, width, height


def snap_nearest(requested: int, ladder: Sequence[int]) -> int:
    """The ladder step nearest to what was asked; halfway between two steps, the higher one
    (a quality a little better than asked, never worse by more than half a step)."""
    return min(ladder, key=lambda step: (abs(step - requested), -step))


def snap_up(requested: int, ladder: Sequence[int]) -> int:
    """The smallest ladder step at least as large as asked (the largest step past the top)."""
    for step in ladder:
        if step >= requested:
            return step
    return ladder[-1]
