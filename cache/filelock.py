"""The render lock without Redis: ``flock`` on one of a fixed number of striped lock files in the
data dir, so that the processes of one machine render a variant once. The folder never grows, the
kernel frees a dead holder's lock (no expiry), and the calls are cheap enough for the event loop."""

from __future__ import annotations

import fcntl
import hashlib
import os
from pathlib import Path

from enlarger.cache.lock import Claim, LockOutcome

STRIPES = 4096


class FileRenderLock:
    """:class:`cache.lock.RenderLock` over ``flock``; any OS error answers ``LOCAL``."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self._folder = folder
        self._held: dict[str, int] = {}  # token → open descriptor

    def _path(self, key: str) -> Path:
        stripe = int.from_bytes(hashlib.blake2b(key.encode(), digest_size=4).digest()) % STRIPES
        return self._folder / f"{stripe:04x}.lock"

    async def acquire(self, key: str, ttl: float) -> Claim:
        try:
            fd = os.open(self._path(key), os.O_RDWR | os.O_CREAT, 0o600)
        except OSError:
            return Claim(LockOutcome.LOCAL)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return Claim(LockOutcome.HELD)
        except OSError:
            os.close(fd)
            return Claim(LockOutcome.LOCAL)
        token = f"{fd}:{key}"
        self._held[token] = fd
        return Claim(LockOutcome.ACQUIRED, token)

    async def held(self, key: str) -> bool:
        try:
            fd = os.open(self._path(key), os.O_RDWR | os.O_CREAT, 0o600)
        except OSError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            return True
        finally:
            os.close(fd)  # closing drops the probe's shared lock
        return False

    async def release(self, key: str, claim: Claim) -> None:
        fd = self._held.pop(claim.token, None) if claim.outcome is LockOutcome.ACQUIRED else None
        if fd is not None:
            os.close(fd)  # closing the descriptor releases its flock

    async def close(self) -> None:
        for fd in self._held.values():
            os.close(fd)
        self._held.clear()
