"""Who gets read access on a delivered folder: the `DDD_DELIVERED_FOLDER_READERS` setting.

Entries are separated by ';', each ``<sink account>[/<container>]=<principal>[,<principal>...]``
with a principal written ``user:<object id>`` or ``group:<object id>`` (Microsoft Entra object
ids). A delivery into ``account/container`` grants the principals of the entry for the whole
account and those of the entry for that container. Empty (the default): no grant.

    labsmith=group:1b2c3d4e-0000-4000-8000-000000000001;otherlab/incoming=user:9f8e...

Each principal gets ``r-x`` on the delivered folder and everything under it, and the same as
default ACL on every directory there, so what is written later inherits it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, cast

from shared.core.naming import check_account_name, check_container_name

OBJECT_ID = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")
# An ADLS ACL holds at most 32 entries, 4 of them the owner, owning group, mask and other
# ("32 ACL entries (effectively 28 ACL entries) per file, ... per directory").
MAX_READERS = 28
READ_PERMISSIONS = "r-x"
PrincipalKind = Literal["user", "group"]


@dataclass(frozen=True, order=True)
class Reader:
    kind: PrincipalKind
    object_id: str  # lowercase

    def acl_entries(self) -> list[str]:
        """The access entry and the default entry this reader is granted."""
        entry = f"{self.kind}:{self.object_id}:{READ_PERMISSIONS}"
        return [entry, f"default:{entry}"]

    def __str__(self) -> str:
        return f"{self.kind}:{self.object_id}"


SinkScope = tuple[str, str | None]  # (account, container or None for the whole account)


@dataclass(frozen=True)
class FolderReaders:
    entries: Mapping[SinkScope, frozenset[Reader]] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str) -> FolderReaders:
        entries: dict[SinkScope, frozenset[Reader]] = {}
        for raw_entry in text.split(";"):
            entry = raw_entry.strip()
            if not entry:
                continue
            sink, equals, principals = entry.partition("=")
            account, slash, container = sink.strip().partition("/")
            try:
                check_account_name(account)
                if slash:
                    check_container_name(container)
            except ValueError as error:
                raise ValueError(f"entry '{entry}': {error}") from None
            if not equals or not principals.strip():
                raise ValueError(f"entry '{entry}': must be '<account>[/<container>]="
                                 "user:<object id>,group:<object id>,...'")
            readers = frozenset(_reader(entry, text.strip())
                                for text in principals.split(",") if text.strip())
            scope: SinkScope = (account, container if slash else None)
            entries[scope] = entries.get(scope, frozenset()) | readers
        parsed = cls(entries)
        for scope_account, scope_container in entries:
            granted = parsed.for_sink(scope_account, scope_container or "")
            if len(granted) > MAX_READERS:
                where = scope_account + (f"/{scope_container}" if scope_container else "")
                raise ValueError(f"'{where}': {len(granted)} readers; an ACL holds at most "
                                 f"{MAX_READERS}")
        return parsed

    def for_sink(self, account: str, container: str) -> tuple[Reader, ...]:
        """The readers of a delivery into `account/container`, in a stable order."""
        readers = self.entries.get((account, None), frozenset()) | self.entries.get(
            (account, container), frozenset())
        return tuple(sorted(readers))

    @property
    def scopes(self) -> list[SinkScope]:
        return sorted(self.entries, key=lambda scope: (scope[0], scope[1] or ""))

    def __str__(self) -> str:
        return ";".join(
            f"{account}{'/' + container if container else ''}="
            + ",".join(str(reader) for reader in sorted(self.entries[(account, container)]))
            for account, container in self.scopes)


def _reader(entry: str, text: str) -> Reader:
    kind, colon, object_id = text.partition(":")
    if kind not in ("user", "group") or not colon or not OBJECT_ID.fullmatch(object_id):
        raise ValueError(f"entry '{entry}': '{text}' must be user:<object id> or "
                         "group:<object id> (a Microsoft Entra object id, 8-4-4-4-12 hex)")
    return Reader(cast(PrincipalKind, kind), object_id.lower())
