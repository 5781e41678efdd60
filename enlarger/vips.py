"""Process-wide libvips policy: set once at start-up by the composition root."""

from __future__ import annotations

import logging

import pyvips

# Loaders we never want reached, whatever the sniffing says: vector and document formats run
# interpreters, and "untrusted" loaders (libvips' own flag) are not fuzzed for hostile input.
_BLOCKED_OPERATIONS = (
    "VipsForeignLoadSvg",
    "VipsForeignLoadPdf",
    "VipsForeignLoadMagick",
    "VipsForeignLoadMatlab",
    "VipsForeignLoadOpenslide",
    "VipsForeignLoadFits",
    "VipsForeignLoadAnalyze",
)


def configure_vips(concurrency: int | None = None) -> None:
    # libvips reports every operation's progress at INFO (about 14 lines a render).
    logging.getLogger("pyvips").setLevel(logging.WARNING)
    pyvips.block_untrusted_set(True)
    for operation in _BLOCKED_OPERATIONS:
        pyvips.operation_block_set(operation, True)
    # The operation cache would pin decoded originals in memory between requests; our own
    # caches hold encoded variants instead.
    pyvips.cache_set_max(0)
    pyvips.cache_set_max_mem(0)
    if concurrency:
        pyvips.concurrency_set(concurrency)
