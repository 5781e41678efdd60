"""Canonical key → spec, the inverse of :attr:`proxy.spec.VariantSpec.key`, for what reads the blob
store (the variant budget, clean-ups, operators). Only a current-version canonical key parses (its
spec gives back the same key); a text overlay's key holds a hash, so it gives back no spec (a
typed error). :func:`key_version` reads the version of any stored name (variant, master)."""

from __future__ import annotations

import re

from enlarger.errors import InvalidParameter
from enlarger.proxy.spec import (
    AUTO_QUALITY,
    PIPELINE_VERSION,
    WHITE,
    WM_SHORT,
    VariantSpec,
    Watermark,
)

_VERSIONED = re.compile(r"p(0|[1-9][0-9]*)\.")
_NUMBER = r"\d+(?:\.\d+)?"
_KEY = re.compile(
    r"p(?P<version>\d+)\."
    r"(?:b(?P<box>\d+)|(?P<orig>orig)|(?:w(?P<w>\d+))?(?:h(?P<h>\d+))?"
    r"(?:-(?P<fit>fill|cover|pad)(?:-(?P<g>[a-z-]+))?)?)"
    r"(?:\.c(?P<crop>\d+_\d+_\d+_\d+))?"
    r"(?:\.trim(?P<trim>\d+))?"
    r"(?:\.r(?P<rot>\d+))?"
    r"(?P<flip>\.flip)?(?P<flop>\.flop)?"
    rf"(?:\.blur(?P<blur>{_NUMBER}))?"
    rf"(?:\.sh(?P<sh>{_NUMBER}))?"
    r"(?:\.bg(?P<bg>[0-9a-f]{8}))?"
    r"(?:\.mb(?P<mb>\d+))?"
    r"(?P<hdr0>\.hdr0)?"
    r"(?:\.txt(?P<txt>[0-9a-f]{32}))?"
    rf"(?:\.wm(?P<wm>[a-z2-7]{{26}})-(?P<wmpos>[a-z]+)-s(?P<wms>{_NUMBER})-o(?P<wmo>{_NUMBER})"
    r"-m(?P<wmm>\d+))?"
    r"\.q(?P<q>\d+|auto)\.(?P<fmt>[a-z-]+)"
)


_POSITIONS = {short: name for name, short in WM_SHORT.items()}


def _watermark(parts: dict[str, str | None]) -> Watermark | None:
    if parts["wm"] is None or parts["wmpos"] not in _POSITIONS:
        return None
    position = _POSITIONS[parts["wmpos"] or ""]
    scale, opacity = float(parts["wms"] or 0), float(parts["wmo"] or 0)
    return Watermark(parts["wm"], position, scale, opacity, int(parts["wmm"] or 0))


def _int(value: str | None) -> int | None:
    return int(value) if value is not None else None


def _four(values: tuple[int, ...]) -> tuple[int, int, int, int]:
    a, b, c, d = values  # four by the pattern
    return a, b, c, d


def key_version(name: str) -> int | None:
    """The pipeline version a stored name starts with (2 for ``p2.w640.q80.same`` and for
    ``p2.master1.s1600.q95``); None for a name that does not start with one."""
    found = _VERSIONED.match(name)
    return int(found[1]) if found else None


def is_current(name: str) -> bool:
    """True for a stored name of this pipeline version (the only names it reads)."""
    return key_version(name) == PIPELINE_VERSION


def spec_from_key(key: str) -> VariantSpec:
    """The spec whose canonical key is ``key``; :class:`InvalidParameter` for anything else."""
    found = _KEY.fullmatch(key)
    if found is None or int(found["version"]) != PIPELINE_VERSION:
        raise InvalidParameter("not a variant key of this pipeline", parameter="key")
    parts = found.groupdict()
    if parts["txt"]:
        raise InvalidParameter("a text overlay's key holds no text to give back", parameter="key")
    crop = _four(tuple(int(v) for v in parts["crop"].split("_"))) if parts["crop"] else None
    background = _four(tuple(bytes.fromhex(parts["bg"]))) if parts["bg"] else WHITE
    spec = VariantSpec(
        width=_int(parts["w"]),
        height=_int(parts["h"]),
        box=_int(parts["box"]),
        quality=AUTO_QUALITY if parts["q"] == "auto" else int(parts["q"]),
        format=parts["fmt"],
        fit=parts["fit"] or "inside",
        gravity=parts["g"] or "centre",
        crop=crop,
        trim=int(parts["trim"] or 0),
        rotate=int(parts["rot"] or 0),
        flip=parts["flip"] is not None,
        flop=parts["flop"] is not None,
        blur=float(parts["blur"] or 0),
        sharpen=float(parts["sh"] or 0),
        background=background,
        max_bytes=int(parts["mb"] or 0),
        hdr=parts["hdr0"] is None,
        watermark=_watermark(parts),
    )
    if spec.key != key:
        raise InvalidParameter("not a canonical variant key", parameter="key")
    return spec
