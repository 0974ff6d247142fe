"""What each attempt of a delivery wrote into the destination: the only blobs it may remove.

Every blob an attempt creates in the delivered folder (a file, a folder marker or directory,
the manifest and checksum file) is recorded in the app's work container with the ETag the
service gave it, as the attempt goes:

    owned/<run id>/<writer>-<id>.jsonl   one {"path", "etag", "kind"} a line

`writer` names the work unit, `folders` or `manifest`; each try of a writer adds a file of its
own, so nothing recorded is ever overwritten. A file is created with If-None-Match `*`
(`shared.copy.file`), so a record always names a blob the attempt made, never one it replaced.
Should an attempt die between its commit and its record, the blob still says who wrote it: its
committed block ids name the attempt (`shared.copy.resume.written_by`).

The clean-up of a failed attempt (`shared.destination.cleanup`) deletes a blob only when it is
recorded (or its block ids say so) and its ETag is still the one written: a blob someone changed
since is left alone, and so is every blob the attempt did not write.
"""

from __future__ import annotations

import logging

logger = logging.getLogger(__name__)


