"""``enlarger doctor``: what this machine and process bring: the configuration, the data dir,
libvips' loaders and savers, HEIC decoding, and the memory allocator."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from pathlib import Path

import pyvips

from enlarger.settings import Settings
from enlarger.top import allocator, envnames
from enlarger.top.doctor import Broken
from enlarger.vips import configure_vips

# Formats an answer may be encoded to, and the suffix libvips saves them by.
SAVERS = {"jpeg": ".jpg", "png": ".png", "webp": ".webp", "gif": ".gif", "avif": ".avif"}


def check_configuration(settings: Settings, environ: Mapping[str, str]) -> str:
    """The settings were read (a bad value stops the command before this); name unknown
    ENLARGER_* variables, which are otherwise ignored silently (a typo keeps a default)."""
    unknown = [envnames.describe(name) for name in envnames.unknown(environ)]
    summary = (
        f"database {_scheme(settings.resolved_database_url)}, blobs"
        f" {_scheme(settings.resolved_blob_url)}, cache"
        f" {'memory+redis' if settings.redis_url else 'memory'}, public URL"
        f" {settings.public_url or 'from each request'}"
    )
    if unknown:
        return f"warning: {summary}; not settings (typos?): {', '.join(unknown)}"
    return summary


def check_links(settings: Settings) -> str:
    """Links in answers (upload answers, share pages, the ShareX file, delete links) built from
    whatever ``Host`` a client sends are a warning on a production stack (PostgreSQL or S3)."""
    if settings.public_url:
        return f"links from ENLARGER_PUBLIC_URL ({settings.public_url})"
    if settings.allowed_host_list:
        return f"links from the request's host, one of: {', '.join(settings.allowed_host_list)}"
    production = _scheme(settings.resolved_database_url).startswith("postgres") or (
        _scheme(settings.resolved_blob_url) == "s3"
    )
    words = "links are built from whatever Host a client sends"
    advice = "set ENLARGER_PUBLIC_URL or ENLARGER_ALLOWED_HOSTS (docs/security.md)"
    return f"warning: {words}: {advice}" if production else f"{words} (embedded stack)"


def check_data_dir(settings: Settings) -> str:
    root = settings.data_dir.resolve()
    if not root.is_dir():  # not created here: serve does that
        parent = next(p for p in root.parents if p.exists())
        if not os.access(parent, os.W_OK | os.X_OK):
            raise Broken(f"{root} does not exist, and {parent} is not writable to create it")
        return f"warning: {root} does not exist yet: serve creates it"
    try:
        probe = root / f".doctor-{secrets.token_hex(4)}"
        probe.write_bytes(b"ok")
        probe.unlink()
    except OSError as exc:
        raise Broken(f"{root} is not writable: {exc.strerror or exc}") from exc
    return f"{root}: writable"


def check_vips() -> str:
    """Every saver the answers use, and its loader, on a tiny image."""
    configure_vips()
    image = pyvips.Image.black(8, 8, bands=3)
    missing = []
    for name, suffix in SAVERS.items():
        try:
            decoded = pyvips.Image.new_from_buffer(image.write_to_buffer(suffix), "")
            decoded.avg()
        except pyvips.Error:
            missing.append(name)
    version = ".".join(str(pyvips.version(part)) for part in range(3))
    if missing:
        raise Broken(f"libvips {version} cannot encode and decode: {', '.join(missing)}")
    return f"libvips {version}: loads and saves {', '.join(SAVERS)}"


def check_heic() -> str:
    """HEIC (HEVC) decoding comes from pillow-heif: decode one made here."""
    import pillow_heif

    decoders = pillow_heif.libheif_info().get("decoders", {})
    if not any("HEVC" in str(value) for value in decoders.values()):
        raise Broken("pillow-heif has no HEVC decoder: HEIC uploads cannot be viewed")
    sample = pillow_heif.from_bytes("RGB", (16, 16), bytes(16 * 16 * 3))
    heic = _encode_heic(sample)
    if heic is not None and pillow_heif.open_heif(heic).size != (16, 16):
        raise Broken("pillow-heif decoded a 16x16 HEIC wrongly")
    versions = f"pillow-heif {pillow_heif.__version__} (libheif {pillow_heif.libheif_version()})"
    return f"{versions}: HEIC decodes"


def _encode_heic(sample: object) -> bytes | None:
    import io

    out = io.BytesIO()
    try:
        sample.save(out, format="HEIF")  # type: ignore[attr-defined]
    except (ValueError, RuntimeError, KeyError):
        return None  # no HEVC encoder: the decoder alone is what views need
    return out.getvalue()


def check_allocator(maps: Path = Path("/proc/self/maps")) -> str:
    """libvips servers on glibc's malloc grow (an arena per thread, fragmented memory):
    ``enlarger serve`` bounds the arenas itself unless the operator chose
    (enlarger.top.allocator)."""
    found = allocator.chosen(os.environ, maps)
    if found is not None:
        return found
    return (
        f"glibc malloc: enlarger serve bounds its arenas to {allocator.ARENAS} "
        "(MALLOC_ARENA_MAX); jemalloc (LD_PRELOAD=libjemalloc.so.2, as the image does) "
        "keeps memory lower still (docs/deploy.md)"
    )


def _scheme(url: str) -> str:
    return url.split(":", 1)[0]
