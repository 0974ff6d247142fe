"""An MD5 whose running state can be saved and restored: a file copied in segments, one
activity each, carries its whole-file MD5 from one segment to the next.

hashlib cannot serialize a hash object's state. `rehashes` (CERT Polska, BSD-3) can: an MD5
state is 88 bytes. Measured here on 64 MiB: 0.13 s, hashlib 0.11 s; unlike hashlib it holds
the GIL while it hashes, so only a file copied in segments uses it (a file of one segment
hashes with hashlib).
"""

from __future__ import annotations

import base64
from typing import Protocol

import rehashes


class RunningMd5(Protocol):
    def update(self, piece: bytes, /) -> None: ...


class ResumableMd5:
    """An MD5 of bytes fed in order, whose state survives the process as text."""

    def __init__(self, state: rehashes.PyMd5 | None = None) -> None:
        self._md5 = state if state is not None else rehashes.PyMd5()

    def update(self, piece: bytes, /) -> None:
        self._md5.update(piece)

    def saved(self) -> str:
        """The running state (base64 text); `restored` continues from it."""
        return base64.b64encode(self._md5.serialize()).decode("ascii")

    @classmethod
    def restored(cls, saved: str) -> ResumableMd5:
        return cls(rehashes.PyMd5.deserialize(base64.b64decode(saved)))

    def hexdigest(self) -> str:
        """The MD5 of every byte fed (ends this object: feed nothing after)."""
        digest = self._md5.finalize()
        return digest if isinstance(digest, str) else bytes(digest).hex()
