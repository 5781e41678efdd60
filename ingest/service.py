"""The ingest service: dedup on the content hash, validate, store the blob, then the row."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from enlarger import ids
from enlarger.blobs import BlobStore
from enlarger.cache.negative import NegativeCache
from enlarger.db import Image, Repository, User
from enlarger.db._claims import ImageGone
from enlarger.errors import InvalidImage
from enlarger.ingest.probe import ImageInfo, Limits, inspect_file, probe_head
from enlarger.ingest.reader import Upload
from enlarger.media import MIME_TYPES, SNIFF_BYTES, sniff
from enlarger.traces import Tombstones

_ORIGINAL_MIME = {**MIME_TYPES, "heic": "image/heic", "tiff": "image/tiff"}
# The formats whose placeholder is made at upload, by libvips shrinking on load; HEIC (no HEVC
# decoder in libvips here) and AVIF (slow in libvips) get theirs on the first GET of the image.


@dataclass(frozen=True, slots=True)
class Claimed:
    """The upload's claim: when it was made, whether this upload made it (false: the user had
    uploaded these bytes before), and an anonymous claim's delete token (only its hash is kept)."""

    at: datetime
    new: bool = True
    delete_token: str | None = None


@dataclass(frozen=True, slots=True)
class Ingested:
    image: Image
    deduplicated: bool  # the bytes were stored already (internal: never in a public answer)
    claim: Claimed


class IngestService:
    def __init__(
        self,
        repo: Repository,
        blobs: BlobStore,
        secret: bytes,
        limits: Limits,
        negative: NegativeCache | None = None,
        spool_folder: Path | None = None,
        tombstones: Tombstones | None = None,
    ) -> None:
        self._repo = repo
        self._blobs = blobs
        self._secret = secret
        self._limits = limits
        self._negative = negative
        self._tombstones = tombstones
        # Where bodies are spooled while they arrive: the blob store's own folder when it has
        # one (storing is then a rename), else the one given (the data directory's spool/).
        folder = blobs.spool_folder() or spool_folder
        if folder is None:
            raise ValueError("a blob store without a local folder needs a spool_folder")
        self.spool_folder: Path = folder

    async def check_head(self, head: bytes) -> ImageInfo | None:
        """The first bytes of an upload, while the rest arrives: a refused format or an image
        over the limits is answered now, before the body is read to its end."""
        fmt = sniff(head[:SNIFF_BYTES])
        return await asyncio.to_thread(probe_head, head, fmt, self._limits)

    async def ingest(self, upload: Upload, user: User | None) -> Ingested:
        """Known bytes answer at once (known unrenderable ones: 422 invalid_image); new bytes
        are sniffed and header-checked before anything is stored. The blob is written before
        the row, so a row never points at a missing blob (a crash leaves at most an orphan
        blob, which the next identical upload reuses)."""
        existing = await self._repo.get_image_by_sha256(upload.sha256)
        if existing is not None:
            if existing.unrenderable is not None:  # a render found no size can be made of it
                raise InvalidImage(
                    "the image cannot be shown at any size: " + existing.unrenderable,
                    reason=existing.unrenderable,
                )
            try:
                claim = await self._link(user, existing, upload)
                return Ingested(existing, deduplicated=True, claim=claim)
            except ImageGone:
                pass  # its last claim was removed just now: store it anew
        fmt = sniff(upload.head[:SNIFF_BYTES])
        info = await asyncio.to_thread(inspect_file, upload.path, fmt, self._limits, upload.probed)
        image = Image(
            id=ids.public_id(self._secret, upload.sha256),
            sha256=upload.sha256,
            format=fmt,
            width=info.width,
            height=info.height,
            frames=info.frames,
            bytes=upload.size,
            created_at=datetime.now(UTC),
        )
        key = ids.original_key(image.id)
        await self._blobs.put_file(key, upload.path, _ORIGINAL_MIME[fmt])
        inserted = await self._repo.insert_image(image)
        if not inserted:  # the same bytes won a race against us
            image = await self._repo.get_image_by_sha256(upload.sha256) or image
        else:
            await self._known_again(image.id)
            if not await self._blobs.exists(key):  # gc removed it while unclaimed: see gc.py
                await self._blobs.put_file(key, upload.path, _ORIGINAL_MIME[fmt])
        claim = await self._link(user, image, upload)
        return Ingested(image, deduplicated=not inserted, claim=claim)

    async def _known_again(self, image_id: str) -> None:
        """Deleted once and uploaded again (the same bytes, the same id): alive here at once,
        in the other processes at their next look at the database (:class:`Tombstones`)."""
        if self._tombstones is not None:
            self._tombstones.lift(image_id)
        if self._negative is not None:
            await self._negative.discard(image_id)

    async def _link(self, user: User | None, image: Image, upload: Upload) -> Claimed:
        """The upload's claim: the user's list, or an anonymous claim (its delete token)."""
        if user is not None:
            new = await self._repo.link_user_image(user.id, image.id, upload.filename)
            at = await self._repo.claim_time(user.id, image.id)
            return Claimed(at or datetime.now(UTC), new)
        token = ids.new_delete_token()
        await self._repo.add_anonymous_claim(image.id, ids.hash_token(token))
        return Claimed(datetime.now(UTC), delete_token=token)
