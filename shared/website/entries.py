"""The manifest's entries, as the website reads them, and the callback body that carries them.

Each path is one entry with the ADLS Gen2 property names the website's own code read
(`name`, `is_directory`, `content_length`, `content_settings.content_md5`...) and what this
service adds (`source_path`, `verification`, and for a policy's delivery what a file replaced).
The callback body POSTed to the website is at most `DDD_CALLBACK_MAX_BYTES` encoded and its
manifest is always a list of such entries (`CallbackEntries`): the full entries when they fit;
else every entry shrunk to the keys the website reads (`shrunk_entry`); else the shrunk entries
that fit, in manifest order, followed by one entry for the full manifest file (its size and
MD5), so a reader of the list finds the rest.
"""

from __future__ import annotations

import json
from typing import Any, NamedTuple

from shared.core.models import FileResult
from shared.core.request import DeliveryRequest
from shared.website.callback import encode_body, transfer_result_body


def md5sum_line(md5_hex: str, relative_path: str) -> str:
    """One line of `md5sum` output (text mode), with GNU coreutils' escaping of file names."""
    if any(character in relative_path for character in "\\\n\r"):
        escaped = (
            relative_path.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r")
        )
        return f"\\{md5_hex}  {escaped}\n"
    return f"{md5_hex}  {relative_path}\n"


def manifest_file_entry(result: FileResult, request: DeliveryRequest) -> dict[str, Any]:
    """A file's manifest entry: the legacy ADLS keys first, then what this service adds."""
    return {
        "name": result.destination_path,
        "is_directory": False,
        "content_length": result.size,
        "last_modified": result.last_modified.isoformat() if result.last_modified else None,
        "etag": result.etag,
        "content_settings": {
            "content_type": result.content_type,
            "content_md5": result.content_md5,
        },
        "source_path": request.source_path(result.path),
        "destination_path": result.destination_path,
        "verification": result.verification,
        "checksum_algorithm": "md5",
        **({"replaced": result.replaced.to_json()} if result.replaced else {}),
    }


def present_entry(name: str, size: int, md5_hex: str | None) -> dict[str, Any]:
    """A file in the delivered folder that is not part of the delivery (a policy's delivery
    into a folder that held files): listed, not delivered."""
    return {
        "name": name,
        "is_directory": False,
        "content_length": size,
        "content_settings": {"content_md5": md5_hex},
        "present_not_delivered": True,
    }


def manifest_folder_entry(folder_path: str) -> dict[str, Any]:
    return {
        "name": folder_path,
        "is_directory": True,
        "content_length": 0,
        "last_modified": None,
        "etag": None,
        "content_settings": None,
    }


def _encoded(document: Any) -> bytes:
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def shrunk_entry(entry: dict[str, Any]) -> dict[str, Any]:
    """An entry with only what the website's summary code reads (`name`, `is_directory`,
    `content_length`) and the MD5 a file is checked against (`content_settings.content_md5`)."""
    content_settings = entry["content_settings"]
    return {
        "name": entry["name"],
        "is_directory": entry["is_directory"],
        "content_length": entry["content_length"],
        "content_settings": (
            None if content_settings is None
            else {"content_md5": content_settings["content_md5"]}
        ),
    }


def manifest_pointer_entry(path: str, size: int, md5_hex: str) -> dict[str, Any]:
    """The last entry of a callback that leaves entries out: the full manifest file, as any
    (shrunk) file entry."""
    return shrunk_entry(
        {
            "name": path,
            "is_directory": False,
            "content_length": size,
            "content_settings": {"content_md5": md5_hex},
        }
    )


class _KeptEntries:
    """Encoded entries, kept in order while they (and a comma after each) fit in max_bytes."""

    def __init__(self, max_bytes: int, *, keep_prefix: bool) -> None:
        self.max_bytes = max_bytes
        self.keep_prefix = keep_prefix  # keep the entries that fit once one does not
        self.encoded: list[bytes] = []
        self.total_bytes = 0
        self.complete = True

    def offer(self, encoded_entry: bytes) -> None:
        if not self.complete:
            return
        if self.total_bytes + len(encoded_entry) + 1 > self.max_bytes:
            self.complete = False
            if not self.keep_prefix:
                self.encoded = []
            return
        self.encoded.append(encoded_entry)
        self.total_bytes += len(encoded_entry) + 1


class CallbackBody(NamedTuple):
    body: dict[str, Any]  # transfer_uuid, delivery_id and manifest: a list of path entries
    entries_shrunk: bool  # its entries keep only what the website reads (`shrunk_entry`)
    entries_left_out: int  # manifest entries not in it (then it ends with the manifest file)


class CallbackEntries:
    """The manifest entries the callback body may carry, kept while they could still fit: the
    full entries (while all of them could), and the same entries shrunk (`shrunk_entry`)."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.entry_count = 0
        self._full = _KeptEntries(max_bytes, keep_prefix=False)
        self._shrunk = _KeptEntries(max_bytes, keep_prefix=True)

    def offer(self, entry: dict[str, Any], encoded_entry: bytes | None = None) -> None:
        self.entry_count += 1
        self._full.offer(_encoded(entry) if encoded_entry is None else encoded_entry)
        if self._shrunk.complete:
            self._shrunk.offer(_encoded(shrunk_entry(entry)))

    def body(self, request: DeliveryRequest, manifest_entry: dict[str, Any]) -> CallbackBody:
        """The body to POST, at most max_bytes encoded. Its manifest is the full entries if
        they fit, else the shrunk ones if they fit, else the shrunk entries that fit followed
        by `manifest_entry` (the full manifest file)."""
        empty_list_bytes = len(encode_body(transfer_result_body(request, manifest=[])))
        for kept, shrunk in ((self._full, False), (self._shrunk, True)):
            # total_bytes counts a comma after each entry; a list has one fewer
            list_bytes = empty_list_bytes + max(kept.total_bytes - 1, 0)
            if kept.complete and list_bytes <= self.max_bytes:
                return CallbackBody(_body_of(request, kept.encoded), shrunk, 0)
        encoded_manifest_entry = _encoded(manifest_entry)
        room = self.max_bytes - empty_list_bytes - len(encoded_manifest_entry)
        if room < 0:
            raise ManifestError(
                f"DDD_CALLBACK_MAX_BYTES ({self.max_bytes}) is too small for even one entry"
            )
        kept_count = 0
        for encoded_entry in self._shrunk.encoded:
            if len(encoded_entry) + 1 > room:  # the entry and the comma after it
                break
            room -= len(encoded_entry) + 1
            kept_count += 1
        encoded_entries = [*self._shrunk.encoded[:kept_count], encoded_manifest_entry]
        return CallbackBody(
            _body_of(request, encoded_entries), True, self.entry_count - kept_count
        )


def _body_of(request: DeliveryRequest, encoded_entries: list[bytes]) -> dict[str, Any]:
    return transfer_result_body(
        request, manifest=[json.loads(encoded_entry) for encoded_entry in encoded_entries]
    )


class ManifestError(RuntimeError):
    """The results do not allow a manifest (a file is missing or not verified)."""
