"""Documents the app writes into a delivered folder (the manifest, the checksum file), verified.

`BlockWriter` writes one blob as a stream of blocks, so the app never holds the whole document:

- every staged block carries its MD5 (`Content-MD5`, `validate_content="md5"`), so the service
  refuses a block whose bytes changed on the way; a refused block is sent again (at most
  `STAGE_ATTEMPTS` times in all);
- `close()` commits the block list with the content type and the MD5 of everything written
  (Content-MD5), then reads the blob's properties back (size and Content-MD5 must be what was
  written) and reads its content back once, hashing it; a read that does not hash right is read
  once more before the write counts as failed (a corrupted read must not fail a good write).

Block ids are deterministic, so writing the same document again replaces it. A write that does
not verify raises `WriteNotVerifiedError`: the activity fails and its retry writes it again.
"""

from __future__ import annotations

import hashlib

from azure.core.exceptions import HttpResponseError
from azure.storage.blob import BlobBlock, BlobClient, ContentSettings

from shared.storage.checksum import md5_of_blob
from shared.storage.clients import WRITE_BLOCK_BYTES, md5_hex_of
from shared.storage.errors import StorageFault

STAGE_ATTEMPTS = 3
READS_BEFORE_MISMATCH_IS_FINAL = 2


class WriteNotVerifiedError(RuntimeError):
    """A document written into the delivered folder does not read back as written."""


class BlockWriter:
    """Writes one blob as a stream of blocks and verifies it (see the module doc)."""

    def __init__(
        self, blob: BlobClient, *, content_type: str, block_bytes: int = WRITE_BLOCK_BYTES
    ) -> None:
        self._blob = blob
        self._content_type = content_type
        self._block_bytes = block_bytes
        self._buffer = bytearray()
        self._block_ids: list[str] = []
        self._md5 = hashlib.md5()
        self.size = 0
        self.etag: str | None = None  # once closed: the ETag of what was written
        self.blob_name: str = blob.blob_name

    def write(self, content: bytes) -> None:
        self._buffer += content
        self._md5.update(content)
        self.size += len(content)
        if len(self._buffer) >= self._block_bytes:
            self._stage()

    def _stage(self) -> None:
        block_id = f"{len(self._block_ids):06d}"
        block = bytes(self._buffer)
        for attempt in range(1, STAGE_ATTEMPTS + 1):
            try:
                self._blob.stage_block(block_id, block, validate_content="md5")
                break
            except HttpResponseError as error:
                if StorageFault.of(error) is not StorageFault.MD5_MISMATCH \
                        or attempt == STAGE_ATTEMPTS:
                    raise
        self._block_ids.append(block_id)
        self._buffer.clear()

    def close(self) -> str:
        """Commit the blob and verify it; returns the MD5 (hex) of its content."""
        if self._buffer:
            self._stage()
        md5_hex = self._md5.hexdigest()
        self._blob.commit_block_list(
            [BlobBlock(block_id) for block_id in self._block_ids],
            content_settings=ContentSettings(
                content_type=self._content_type, content_md5=bytearray(self._md5.digest())
            ),
        )
        self.etag = verify_written(self._blob, md5_hex, self.size)
        return md5_hex


def verify_written(blob: BlobClient, md5_hex: str, size: int) -> str:
    """Raise WriteNotVerifiedError unless the blob's size, Content-MD5 and the MD5 of its bytes
    (read back, once more if the first read does not match) are those written; its ETag."""
    properties = blob.get_blob_properties()
    stored_md5 = md5_hex_of(properties.content_settings)
    if properties.size != size or stored_md5 != md5_hex:
        raise WriteNotVerifiedError(
            f"{blob.blob_name} holds {properties.size} bytes with Content-MD5 {stored_md5}; "
            f"{size} bytes with MD5 {md5_hex} were written"
        )
    read_md5 = read_size = None
    for _read in range(READS_BEFORE_MISMATCH_IS_FINAL):
        read_md5, read_size, _properties = md5_of_blob(blob, etag=properties.etag, counted=False)
        if (read_md5, read_size) == (md5_hex, size):
            return str(properties.etag)
    raise WriteNotVerifiedError(
        f"{blob.blob_name} reads back as {read_size} bytes with MD5 {read_md5} "
        f"({READS_BEFORE_MISMATCH_IS_FINAL} reads); {size} bytes with MD5 {md5_hex} were written"
    )
