"""Decoded masters shared by the processes of one machine: raw pixels, then the master's record,
in ``<data dir>/masters``, mapped by every process (the page cache, not each heap). Bounded
(``ENLARGER_MASTER_DISK_BYTES``, oldest out); renamed into place over an empty file saying it is on
its way; a file of the wrong shape is ignored and rewritten."""

from __future__ import annotations

import contextlib
import mmap
import os
import secrets
import struct
import time
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import pyvips

from enlarger import traces

SUFFIX = traces.SPILL_SUFFIX
TEMP_PREFIX = ".~"
ON_ITS_WAY_SECONDS = 2.0  # an empty file younger than this: a spill is being written
_MAGIC = b"ENLS"
_TAIL = struct.Struct(">IIH4s")  # after the pixels and the record: width, height, record length


class Spill:
    def __init__(
        self, folder: Path, max_bytes: int, deleted: Callable[[str], bool] = lambda _: False
    ) -> None:
        self.folder = folder
        self.max_bytes = max_bytes
        self._deleted = deleted  # the deletion fence (enlarger.traces.Tombstones.holds)

    def path(self, image_id: str) -> Path:
        return self.folder / traces.spill_name(image_id)

    def open(self, image_id: str) -> tuple[bytes, pyvips.Image] | None:
        """The spilled record and pixels of ``image_id``, mapped; None when absent or not whole.
        (In the render pool: a file open, a few bytes read and an mmap.)"""
        path = self.path(image_id)
        try:
            with open(path, "rb") as file:
                shape = _shape(file)
                if shape is None:
                    return None
                width, height, record = shape
                view = mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ)
        except (OSError, ValueError):  # absent, or a folder that is not one
            return None
        with contextlib.suppress(OSError):
            os.utime(path)  # recently used: evicted last
        pixels = memoryview(view)[: width * height * 3]
        image = pyvips.Image.new_from_memory(pixels, width, height, 3, "uchar")
        return record, image.copy(interpretation="srgb")

    def announce(self, image_id: str) -> None:
        """Say that ``image_id``'s pixels are about to be spilled (an empty file in their place,
        unless one is there), so that another process waits for them rather than decoding the
        original (:meth:`on_its_way`). :meth:`write` replaces it, or removes it if it writes
        nothing; a deletion removes it as it does a spill."""
        if self._deleted(image_id):
            return
        with contextlib.suppress(OSError):
            self.folder.mkdir(parents=True, exist_ok=True)
            os.close(os.open(self.path(image_id), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))

    def on_its_way(self, image_id: str) -> bool:
        """Whether a process of this machine announced a spill of ``image_id`` that is not whole
        yet (a stat, on the event loop; an announcement older than ``ON_ITS_WAY_SECONDS`` is a
        build that died: not waited for)."""
        try:
            stat = os.stat(self.path(image_id))
        except OSError:
            return False
        return stat.st_size == 0 and time.time() - stat.st_mtime < ON_ITS_WAY_SECONDS

    def whole(self, image_id: str) -> bool:
        """Whether a whole spill of ``image_id`` is there (a stat: its size says so)."""
        try:
            size = os.stat(self.path(image_id)).st_size
        except OSError:
            return False
        return size > _TAIL.size

    def write(self, image_id: str, pixels: pyvips.Image, record: bytes) -> None:
        """Spill ``pixels`` (8-bit sRGB, 3 bands) and ``record`` unless they are there or the
        image was deleted meanwhile (the ``deleted`` fence, asked again right before the rename;
        the deletion watcher removes the file once more after the sweep delay, for the race
        left); keep the folder within its bound. Never raises for a full or read-only disk: it
        is a cache."""
        path = self.path(image_id)
        if pixels.bands != 3 or pixels.format != "uchar" or _whole(path):
            self.withdraw(image_id)
            return
        if self._deleted(image_id):
            self.withdraw(image_id)
            return
        temp = self.folder / f"{TEMP_PREFIX}{secrets.token_hex(8)}.tmp"
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            pixels.rawsave(str(temp))
            with open(temp, "ab") as file:
                file.write(record + _TAIL.pack(pixels.width, pixels.height, len(record), _MAGIC))
            if self._deleted(image_id):
                raise OSError("deleted meanwhile")
            os.replace(temp, path)
        except (OSError, pyvips.Error):
            with contextlib.suppress(OSError):
                temp.unlink()
            self.withdraw(image_id)
            return
        self._trim()

    def withdraw(self, image_id: str) -> None:
        """An announced spill that will not come: its empty file goes (a whole one stays)."""
        path = self.path(image_id)
        with contextlib.suppress(OSError):
            if os.stat(path).st_size == 0:
                path.unlink()

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


def _shape(file: BinaryIO) -> tuple[int, int, bytes] | None:
    """(width, height, record) of an open spilled file; None for one of another format or size
    (an older format's, a torn copy)."""
    size = os.fstat(file.fileno()).st_size
    if size < _TAIL.size:
        return None
    file.seek(size - _TAIL.size)
    width, height, length, magic = _TAIL.unpack(file.read(_TAIL.size))
    if magic != _MAGIC or size != width * height * 3 + length + _TAIL.size:
        return None
    file.seek(width * height * 3)
    return width, height, file.read(length)


def _whole(path: Path) -> bool:
    try:
        with open(path, "rb") as file:
            return _shape(file) is not None
    except OSError:
        return False
