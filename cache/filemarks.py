"""Small values (marks, never variants) in files under the data dir: the shared tier of the embedded
defaults, so that the processes of one machine share a mark as they share the render locks. A file
holds its expiry and value, is renamed into place and removed when found expired; an OS error is a
miss."""

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
