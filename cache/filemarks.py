"""Small values in files under the data dir: the shared tier of the embedded defaults, for marks.

Without Redis, every ``enlarger serve --workers N`` process has its own memory, so a mark that one
process made (an image whose pixel data cannot be decoded) would be found anew, by decoding, in
every other. Kept as files beside the render locks, the processes on one machine share it, as
they share the render locks. For small values only (marks); variants never go here. A file holds
its expiry time and the value, is written to a temporary name and renamed (readers never see half
a value), and is removed when found expired. The calls are small syscalls, cheap enough for the
event loop, like the ``flock`` render locks. Implements :class:`cache.protocol.Cache`; an OS
error is a miss, as a Redis failure is.
"""

from __future__ import annotations

import hashlib
import os
import struct
import time
from pathlib import Path

from enlarger.errors import BackendUnavailable

_EXPIRY = struct.Struct(">d")  # a float: time.time() at which the value expires (0: never)


class FileMarks:
    def __init__(self, folder: Path, max_value_bytes: int = 64 * 1024) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self._folder = folder
        self._max = max_value_bytes

    def _path(self, key: str) -> Path:
        return self._folder / hashlib.blake2b(key.encode(), digest_size=16).hexdigest()

    async def get(self, key: str) -> bytes | None:
        path = self._path(key)
        try:
            content = path.read_bytes()
        except OSError:
            return None
        if len(content) < _EXPIRY.size:
            return None
        (expires,) = _EXPIRY.unpack_from(content)
        if expires and expires <= time.time():
            path.unlink(missing_ok=True)
            return None
        return content[_EXPIRY.size :]

    async def set(self, key: str, value: bytes, ttl: float | None = None) -> None:
        if len(value) > self._max:
            return
        expires = time.time() + ttl if ttl else 0.0
        path = self._path(key)
        temporary = path.with_name(f".{path.name}.{os.getpid()}")
        try:
            temporary.write_bytes(_EXPIRY.pack(expires) + value)
            temporary.replace(path)
        except OSError:
            temporary.unlink(missing_ok=True)

    async def delete(self, key: str) -> None:
        try:
            self._path(key).unlink(missing_ok=True)
        except OSError:
            return

    async def ping(self) -> None:
        if not os.access(self._folder, os.W_OK):
            raise BackendUnavailable(f"{self._folder} is not writable")

    async def close(self) -> None:
        return None
