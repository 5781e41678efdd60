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
    _hand_pyvips_warnings_only()
    pyvips.block_untrusted_set(True)
    for operation in _BLOCKED_OPERATIONS:
        pyvips.operation_block_set(operation, True)
    # The operation cache would pin decoded originals in memory between requests; our own
    # caches hold encoded variants instead.
    pyvips.cache_set_max(0)
    pyvips.cache_set_max_mem(0)
    if concurrency:
        pyvips.concurrency_set(concurrency)


def _hand_pyvips_warnings_only() -> None:
    """pyvips hands every libvips log level to Python's logging, which drops the INFO lines (15
    a render, most from libvips' own threads, each taking the GIL from the event loop and the
    renders: docs/architecture.md, "libvips' log lines"). Hand it only the levels it logs; INFO
    and DEBUG go to GLib's default handler (silent unless ``G_MESSAGES_DEBUG=VIPS``)."""
    handler = getattr(pyvips, "_log_handler_id", None)
    callback = getattr(pyvips, "_log_handler_cb", None)
    if not handler or callback is None:  # (another pyvips: left as it is)
        return
    flags = pyvips.GLogLevelFlags
    logged = (
        flags.LEVEL_MESSAGE
        | flags.LEVEL_WARNING
        | flags.LEVEL_CRITICAL
        | flags.LEVEL_ERROR
        | flags.FLAG_FATAL
        | flags.FLAG_RECURSION
    )
    domain = b"VIPS"
    pyvips.glib_lib.g_log_remove_handler(domain, handler)
    # pyvips removes the handler its module global names at exit: name ours
    pyvips._log_handler_id = pyvips.glib_lib.g_log_set_handler(
        domain, logged, callback, pyvips.ffi.NULL
    )
