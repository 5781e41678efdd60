"""Decoded masters shared by the processes of one machine: raw pixels in ``<data dir>/masters``,
mapped by every process (the page cache, not each heap). Bounded (``ENLARGER_MASTER_DISK_BYTES``,
oldest out); a file is renamed into place, and one of the wrong size is ignored and rewritten.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import secrets
from collections.abc import Callable
from pathlib import Path

import pyvips

from enlarger import traces

SUFFIX = traces.SPILL_SUFFIX
TEMP_PREFIX = ".~"


class Spill:
    def __init__(
        self, folder: Path, max_bytes: int, deleted: Callable[[str], bool] = lambda _: False
    ) -> None:
        self.folder = folder
        self.max_bytes = max_bytes
        self._deleted = deleted  # the deletion fence (enlarger.traces.Tombstones.holds)

    def path(self, image_id: str) -> Path:
        return self.folder / traces.spill_name(image_id)

    def open(self, image_id: str, width: int, height: int) -> pyvips.Image | None:
        """The spilled pixels of a ``width`` x ``height`` master, mapped; None when absent.
        (In the render pool: a file open and an mmap, no read.)"""
        path = self.path(image_id)
        try:
            with open(path, "rb") as file:
                if os.fstat(file.fileno()).st_size != width * height * 3:
                    return None
                view = mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ)
        except (OSError, ValueError):  # absent, or a folder that is not one
            return None
        with contextlib.suppress(OSError):
            os.utime(path)  # recently used: evicted last
        image = pyvips.Image.new_from_memory(memoryview(view), width, height, 3, "uchar")
        return image.copy(interpretation="srgb")

    def write(self, image_id: str, pixels: pyvips.Image) -> None:
        """Spill ``pixels`` (8-bit sRGB, 3 bands) unless they are there or the image was
        deleted meanwhile (the ``deleted`` fence, asked again right before the rename; the deletion
        watcher removes the file once more after the sweep delay, for the race left); keep the
        folder within its bound. Never raises for a full or read-only disk: it is a cache."""
        path = self.path(image_id)
        if pixels.bands != 3 or pixels.format != "uchar" or path.exists():
            return
        if self._deleted(image_id):
            return
        temp = self.folder / f"{TEMP_PREFIX}{secrets.token_hex(8)}.tmp"
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            pixels.rawsave(str(temp))
            if self._deleted(image_id):
                raise OSError("deleted meanwhile")
            os.replace(temp, path)
        except (OSError, pyvips.Error):
            with contextlib.suppress(OSError):
                temp.unlink()
            return
        self._trim()

    def forget(self, image_id: str) -> None:
        with contextlib.suppress(OSError):
            self.path(image_id).unlink()

    def _trim(self) -> None:
        """The oldest files out until the folder is within its bound."""
        entries = []
        with contextlib.suppress(OSError), os.scandir(self.folder) as found:
            for entry in found:
                if entry.name.endswith(SUFFIX):
                    with contextlib.suppress(OSError):
                        stat = entry.stat()
                        entries.append((stat.st_mtime, stat.st_size, entry.path))
        total = sum(size for _, size, _ in entries)
        for _, size, name in sorted(entries):
            if total <= self.max_bytes:
                break
            with contextlib.suppress(OSError):
                os.unlink(name)
            total -= size
