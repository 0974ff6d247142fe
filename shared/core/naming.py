"""Rules for names: storage accounts, containers and folder paths the website sends, run ids,
and URLs that name this machine.

Each check returns the (normalised) value or raises ValueError with a message a person can act on.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

ACCOUNT_NAME = re.compile(r"[a-z0-9]{3,24}")
# 3-63 characters; lowercase letters, digits and hyphens; starts and ends with a letter or digit;
# no two hyphens in a row (Azure's container / ADLS Gen2 file system rules).
CONTAINER_NAME = re.compile(r"(?=.{3,63}$)[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9]))*")
FOLDER_MAX_CHARS = 1024
# Inside the delivered folder, the service keeps its claim, manifest and checksum file here.
RESERVED_FOLDER = "_ddd_transfer"
BLOB_NAME_MAX_CHARS = 1024
# Run ids name folders of the work container (plans/<run id>/...): one safe path segment.
RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")


def check_account_name(name: str) -> str:
    if not ACCOUNT_NAME.fullmatch(name):
        raise ValueError("must be a storage account name: 3 to 24 lowercase letters and digits")
    return name


def check_run_id(run_id: str) -> str:
    if not RUN_ID.fullmatch(run_id):
        raise ValueError(
            "must be 1 to 128 letters, digits, '.', '_', ':' or '-', "
            "starting with a letter or digit"
        )
    return run_id


def check_container_name(name: str) -> str:
    if not CONTAINER_NAME.fullmatch(name):
        raise ValueError(
            "must be a container name: 3 to 63 lowercase letters, digits and single hyphens, "
            "starting and ending with a letter or digit"
        )
    return name


# Characters that make a name read differently from what it is: bidi embeddings, overrides,
# isolates and marks (the "Trojan Source" characters), zero-width characters and the BOM.
MISLEADING_CHARACTERS = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
    "\u200b\u200c\u200d\u2060\ufeff"
)


def _has_control_character(text: str) -> bool:
    return any(ord(character) < 0x20 or 0x7F <= ord(character) <= 0x9F for character in text)


def _has_lone_surrogate(text: str) -> bool:
    return any(0xD800 <= ord(character) <= 0xDFFF for character in text)


def normalize_folder(path: str) -> str:
    """A folder path relative to its container, without a trailing slash.

    Refused: empty, leading '/', backslashes (Azure turns them into '/'), control characters,
    characters that mislead a reader (bidi controls, zero-width characters, BOM), lone
    surrogates (not Unicode text), empty / '.' / '..' segments, more than 1,024 characters.
    One trailing '/' is dropped.
    """
    if path.endswith("/"):
        path = path[:-1]
    if not path:
        raise ValueError("must be a folder path, not empty")
    if path.startswith("/"):
        raise ValueError("must be relative to its container (no leading '/')")
    if len(path) > FOLDER_MAX_CHARS:
        raise ValueError(f"must be at most {FOLDER_MAX_CHARS} characters")
    if _has_control_character(path):
        raise ValueError("must not contain control characters")
    if _has_lone_surrogate(path):
        raise ValueError("must be valid Unicode text (it holds a lone surrogate)")
    if any(character in MISLEADING_CHARACTERS for character in path):
        raise ValueError(
            "must not contain bidirectional-text controls, zero-width characters or a "
            "byte order mark (they make the name read differently from what it is)"
        )
    if "\\" in path:
        raise ValueError("must use '/' between folders, not '\\'")
    for segment in path.split("/"):
        if segment in ("", ".", ".."):
            raise ValueError("must not contain empty, '.' or '..' segments")
    return path


def folder_contains(outer: str, inner: str) -> bool:
    """True when `inner` is `outer` or lies inside it (both normalised folder paths)."""
    return inner == outer or inner.startswith(outer + "/")


def is_loopback_url(url: str) -> bool:
    """The URL names this machine (localhost or a loopback address)."""
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
