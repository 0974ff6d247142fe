"""The download script of a share: `share_download.sh` with the share's files written in.

The template is plain bash (3.2 or later, so macOS's own bash runs it) that needs curl and
md5sum (or macOS's md5) and nothing else. Its file list is a quoted here-document at the end,
one line per file: MD5 (hex), size, path relative to the shared folder, link, separated by tabs.
A path that could break that format or lead outside the download folder (a control character,
an empty, '.' or '..' part, a leading '/') is refused here, before any script is written, and
the script checks each path again before it writes anything.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

TEMPLATE = Path(__file__).with_name("share_download.sh")
_TOKEN = re.compile(r"__([A-Z_]+)__")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_MD5_HEX = re.compile(r"[0-9a-f]{32}")
# what a URL may hold in the script: a percent-encoded URL, nothing curl's config would unquote
_URL = re.compile(r"https?://[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+")


@dataclass(frozen=True)
class ScriptFile:
    md5_hex: str
    size: int
    path: str  # relative to the shared folder
    url: str  # read-only link


def unshareable_path(path: str) -> str | None:
    """Why `path` cannot go into a download script, or None."""
    if _CONTROL.search(path):
        return "its name holds a control character"
    if path.startswith("/") or any(part in ("", ".", "..") for part in path.split("/")):
        return "its name has an empty, '.' or '..' part"
    return None


def _file_line(file: ScriptFile) -> str:
    problem = unshareable_path(file.path)
    if problem:
        raise ValueError(f"{file.path!r}: {problem}")
    if not _MD5_HEX.fullmatch(file.md5_hex) or file.size < 0:
        raise ValueError(f"{file.path!r}: bad MD5 or size")
    if not _URL.fullmatch(file.url):
        raise ValueError(f"{file.path!r}: the link is not a plain percent-encoded URL")
    return f"{file.md5_hex}\t{file.size}\t{file.path}\t{file.url}"


def render_script(share_id: str, source_label: str, expires: datetime,
                  files: Iterable[ScriptFile]) -> str:
    """The script's text for these files (see module doc)."""
    lines = [_file_line(file) for file in files]
    if not lines:
        raise ValueError("a share holds at least one file")
    sizes = sum(int(line.split("\t")[1]) for line in lines)
    values = {
        "SHARE_ID": shlex.quote(share_id),
        "SOURCE": shlex.quote(source_label),
        "EXPIRES": shlex.quote(expires.strftime("%Y-%m-%dT%H:%M:%SZ")),
        "FILE_COUNT": str(len(lines)),
        "TOTAL_BYTES": str(sizes),
        "FILES": "\n".join(lines),
    }
    # one pass: nothing substituted is searched again
    return _TOKEN.sub(lambda found: values[found.group(1)], TEMPLATE.read_text("utf-8"))
