"""Photos whose header is valid but whose pixel data is corrupt, made for the tests.

Upload validation reads the header and checks that the container is whole (an end-of-image
marker after the first scan); only a decode finds this damage. libjpeg shrugs off one bad
segment (it fills it in with a warning), so the damage is spread: the JPEG is written with a
restart marker every two MCUs, and three quarters of every segment's entropy-coded data is cut,
keeping every marker, the header and the EOI. Each segment then ends early ("premature end of
data segment"), and libvips (``fail_on=error``) gives up while decoding.
"""

from __future__ import annotations

import re

import pyvips

_RESTART = re.compile(rb"(\xff[\xd0-\xd7])")


def corrupt_jpeg(width: int = 900, height: int = 600, seed: int = 0) -> bytes:
    noise = pyvips.Image.gaussnoise(width, height, mean=128 + seed % 64, sigma=40).cast("uchar")
    rgb = noise.bandjoin([noise.rot180(), noise.fliphor()]).copy(interpretation="srgb")
    whole: bytes = rgb.jpegsave_buffer(Q=90, restart_interval=2)
    sos = whole.index(b"\xff\xda")
    start = sos + 2 + int.from_bytes(whole[sos + 2 : sos + 4], "big")  # after the scan header
    assert whole.endswith(b"\xff\xd9")
    damaged = bytearray()
    for part in _RESTART.split(whole[start:-2]):
        damaged += part if _RESTART.fullmatch(part) else part[: max(1, len(part) // 4)]
    return whole[:start] + bytes(damaged) + b"\xff\xd9"
