"""The blob store protocol. Byte-level, small, one implementation per backend."""

from __future__ import annotations

import mmap
import re
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

# What a local store's reader returns: a blob's bytes, or its file mapped read-only (the page
# cache's own pages: no copy, no fresh memory to fault in). Sliced, it gives bytes.
Readable = bytes | mmap.mmap

_KEY = re.compile(r"^[A-Za-z0-9_.=-]+(/[A-Za-z0-9_.=-]+)*$")


def check_key(key: str) -> str:
    """Refuse keys that could escape a folder or confuse an object store."""
    if not _KEY.match(key) or any(part in (".", "..") for part in key.split("/")):
        raise ValueError(f"invalid blob key: {key!r}")
    return key


@dataclass(frozen=True, slots=True)
class BlobEntry:
    """One stored blob as :meth:`BlobStore.walk` sees it; ``modified`` is timezone-aware."""

    key: str
    size: int
    modified: datetime


class BlobStore(Protocol):
    """Stores immutable blobs. Keys are slash-separated, made of ``[A-Za-z0-9_.=-]``.

    ``put`` is atomic (a reader sees the whole blob or none) and idempotent (the same key may be
    written again with the same bytes). ``get`` returns ``None`` for a missing key. Backend
    failures raise :class:`enlarger.errors.BackendUnavailable`.
    """

    async def put(self, key: str, data: bytes, content_type: str | None = None) -> None: ...

    async def put_file(self, key: str, path: Path, content_type: str | None = None) -> None:
        """Store the local file at ``path`` (complete, closed) as ``key``, as atomically as
        :meth:`put`. The file stays where it is (the caller removes it): a hard link when it
        lies in :meth:`spool_folder`, else a copy or an upload."""
        ...

    def spool_folder(self) -> Path | None:
        """A local folder from which :meth:`put_file` stores cheaply (the filesystem store's
        root: a link), or ``None`` when any local folder is as good."""
        ...

    async def get(self, key: str) -> bytes | None: ...

    def reader(self) -> Callable[[str], Readable | None] | None:
        """A blocking :meth:`get` for a worker thread, when the store is local (a render job reads
        the original itself: no hand-off to a thread of its own), or ``None`` (remote). What it
        reads may be the file mapped (:data:`Readable`), valid while referenced."""
        ...

    async def exists(self, key: str) -> bool: ...

    async def delete(self, key: str) -> None: ...

    async def list_keys(self, folder: str, limit: int) -> list[str]:
        """Up to ``limit`` keys of the blobs directly inside ``folder`` (``a/b`` lists ``a/b/c``
        but not ``a/b/c/d``), in no particular order."""

    def walk(self, prefix: str) -> AsyncIterator[BlobEntry]:
        """Every blob whose key starts with ``prefix + "/"`` (every blob for ``""``), at any
        depth, in no particular order; for maintenance (``enlarger gc``), never on a request
        path (``list_keys`` is the bounded one-folder listing for those)."""
        ...

    async def sweep(self, older_than: datetime, dry_run: bool = False) -> Sequence[BlobEntry]:
        """Remove (unless ``dry_run``) what interrupted puts left behind — never a blob — when
        last modified before ``older_than``; return it. Keys are relative to the store."""
        ...

    async def ping(self) -> None: ...

    async def close(self) -> None: ...
