"""POSIX access control lists as ADLS Gen2 keeps them, for the Data Lake stand-in.

An ACL is written as ADLS writes it in `x-ms-acl`: comma-separated entries
``[default:]user|group|mask|other:[object id]:rwx``; the three base entries (``user::``,
``group::``, ``other::``) carry the path's permission bits. Rules followed here, each from
the ADLS access control documentation (``data-lake-storage-access-control.md``) or the Data
Lake REST protocol (``DataLakeStorage.json``, Path Update):

- at most 32 entries in the access ACL and 32 in the default ACL (the docs' limit: "32 ACL
  entries (effectively 28 ACL entries) per file, ... default and access ACL entries each");
- files have no default ACL;
- a new child takes its parent's default ACL (as its access ACL, and a directory also as its
  default ACL); without one, a new directory is ``rwxr-x---`` and a new file ``rw-r-----``;
- named entries are limited by the mask; when a change adds named entries without giving a
  mask, the mask becomes the union of the owning group and the named entries (POSIX);
- `x-ms-permissions` shows the mask in the group position and ends with ``+`` when the ACL
  holds named entries.

An ACL text the service would refuse raises `AclSyntaxError` (answered 400
``InvaldAccessControlList``, "The access control list value is invalid.", the service's own
code and text as the Azure SDK for .NET's recorded tests assert them).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Literal

Scope = Literal["access", "default"]
MAX_ENTRIES = 32
_PERMS = re.compile(r"[r-][w-][x-]")
_KINDS = ("user", "group", "mask", "other")
_NEW_DIRECTORY = "rwxr-x---"
_NEW_FILE = "rw-r-----"
SUPERUSER = "$superuser"


class AclSyntaxError(ValueError):
    """The ACL text is not one the service accepts."""


@dataclass(frozen=True)
class AclEntry:
    scope: Scope
    kind: str  # user, group, mask or other
    qualifier: str  # an object id for named entries, '' for the base entries and the mask
    perms: str  # 'rwx' form; '' in a removal list

    @property
    def key(self) -> tuple[Scope, str, str]:
        return (self.scope, self.kind, self.qualifier)

    @property
    def named(self) -> bool:
        return self.kind in ("user", "group") and bool(self.qualifier)

    def text(self) -> str:
        prefix = "default:" if self.scope == "default" else ""
        return f"{prefix}{self.kind}:{self.qualifier}:{self.perms}"


def parse_acl(text: str, *, with_perms: bool = True) -> list[AclEntry]:
    """Entries of an `x-ms-acl` value; `with_perms=False` for a removal list (no rwx)."""
    entries = []
    for raw in text.split(","):
        parts = raw.strip().split(":")
        scope: Scope = "access"
        if parts and parts[0] == "default":
            scope, parts = "default", parts[1:]
        expected = 3 if with_perms else 2
        if len(parts) == expected - 1 and not with_perms and parts[0] in ("mask", "other"):
            parts.append("")
        if len(parts) != expected or parts[0] not in _KINDS:
            raise AclSyntaxError(raw)
        kind, qualifier = parts[0], parts[1]
        perms = parts[2] if with_perms else ""
        if with_perms and not _PERMS.fullmatch(perms):
            raise AclSyntaxError(raw)
        if kind in ("mask", "other") and qualifier:
            raise AclSyntaxError(raw)
        entries.append(AclEntry(scope, kind, qualifier, perms))
    return entries


@dataclass
class PathAccess:
    """Owner, owning group and ACL (access and default entries) of one path."""

    owner: str
    group: str
    is_directory: bool
    entries: dict[tuple[Scope, str, str], AclEntry] = field(default_factory=dict)

    # ----- reading ------------------------------------------------------------------------
    def acl_text(self) -> str:
        # getfacl's order: owner, named users, owning group, named groups, mask, other
        order = {"user": 0, "group": 2, "mask": 4, "other": 5}

        def sort_key(entry: AclEntry) -> tuple[int, int, str]:
            rank = order[entry.kind] + (1 if entry.named else 0)
            return (0 if entry.scope == "access" else 1, rank, entry.qualifier)

        return ",".join(entry.text() for entry in sorted(self.entries.values(), key=sort_key))

    def permissions(self) -> str:
        def perms(kind: str) -> str:
            entry = self.entries.get(("access", kind, ""))
            return entry.perms if entry else "---"

        extended = any(entry.named for entry in self.entries.values()
                       if entry.scope == "access")
        group_bits = perms("mask") if ("access", "mask", "") in self.entries else perms("group")
        return perms("user") + group_bits + perms("other") + ("+" if extended else "")

    def default_entries(self) -> list[AclEntry]:
        return [entry for entry in self.entries.values() if entry.scope == "default"]

    # ----- changing -----------------------------------------------------------------------
    def set_acl(self, entries: list[AclEntry]) -> None:
        """Replace the whole ACL (x-ms-acl of Set Access Control, or mode=set)."""
        kinds = {(entry.scope, entry.kind) for entry in entries if not entry.qualifier}
        if not {("access", "user"), ("access", "group"), ("access", "other")} <= kinds:
            raise AclSyntaxError("an ACL must give user::, group:: and other::")
        self._check_files(entries)
        self.entries = {entry.key: entry for entry in entries}
        self._fix_masks(given=entries)

    def modify_acl(self, entries: list[AclEntry], *, skip_defaults_on_files: bool) -> None:
        """Add or update the given entries, keep the others (mode=modify)."""
        if not self.is_directory and skip_defaults_on_files:
            entries = [entry for entry in entries if entry.scope == "access"]
        self._check_files(entries)
        if any(entry.scope == "default" for entry in entries):
            # as POSIX setfacl does: a default ACL starts from the access ACL's base entries
            for kind in ("user", "group", "other"):
                base = self.entries.get(("access", kind, ""))
                if base is not None and ("default", kind, "") not in self.entries:
                    self.entries[("default", kind, "")] = replace(base, scope="default")
        for entry in entries:
            self.entries[entry.key] = entry
        self._fix_masks(given=entries)

    def remove_acl(self, entries: list[AclEntry]) -> None:
        """Remove the named entries given (mode=remove)."""
        for entry in entries:
            self.entries.pop(entry.key, None)
        self._fix_masks(given=[])

    def set_permissions(self, permissions: str) -> None:
        """x-ms-permissions: the base entries in symbolic form (rwxr-x---), or 4 octal digits."""
        if re.fullmatch(r"[0-7]{3,4}", permissions):
            octal = permissions[-3:]
            permissions = "".join(
                ("r" if int(digit) & 4 else "-") + ("w" if int(digit) & 2 else "-")
                + ("x" if int(digit) & 1 else "-") for digit in octal)
        if not re.fullmatch(r"(?:[r-][w-][x-]){3}[+]?", permissions.replace("t", "x")):
            raise AclSyntaxError(permissions)
        for kind, perms in zip(("user", "group", "other"),
                               (permissions[0:3], permissions[3:6], permissions[6:9]),
                               strict=True):
            target = "mask" if kind == "group" and ("access", "mask", "") in self.entries \
                else kind
            self.entries[("access", target, "")] = AclEntry("access", target, "", perms)

    def _check_files(self, entries: list[AclEntry]) -> None:
        if not self.is_directory and any(entry.scope == "default" for entry in entries):
            raise AclSyntaxError("a file has no default ACL")

    def _fix_masks(self, given: list[AclEntry]) -> None:
        scopes: tuple[Scope, ...] = ("access", "default")
        for scope in scopes:
            scoped = [entry for entry in self.entries.values() if entry.scope == scope]
            if len(scoped) > MAX_ENTRIES:
                raise AclSyntaxError(f"more than {MAX_ENTRIES} {scope} entries")
            if not any(entry.named for entry in scoped):
                continue
            mask_given = any(entry.scope == scope and entry.kind == "mask" for entry in given)
            if mask_given:
                continue
            union = set()
            for entry in scoped:
                if entry.named or (entry.kind == "group" and not entry.qualifier):
                    union |= {index for index, bit in enumerate(entry.perms) if bit != "-"}
            perms = "".join("rwx"[index] if index in union else "-" for index in range(3))
            self.entries[(scope, "mask", "")] = AclEntry(scope, "mask", "", perms)
            if len([e for e in self.entries.values() if e.scope == scope]) > MAX_ENTRIES:
                raise AclSyntaxError(f"more than {MAX_ENTRIES} {scope} entries")


def new_path_access(parent: PathAccess | None, *, is_directory: bool,
                    owner: str = SUPERUSER) -> PathAccess:
    """The access of a path created now under `parent` (its default ACL, if it has one)."""
    group = parent.group if parent is not None else SUPERUSER
    created = PathAccess(owner=owner, group=group, is_directory=is_directory)
    defaults = parent.default_entries() if parent is not None else []
    if defaults:
        for entry in defaults:
            perms = entry.perms
            if not is_directory and not entry.named:
                perms = perms[:2] + "-"  # a file is created with mode 0666
            created.entries[("access", entry.kind, entry.qualifier)] = replace(
                entry, scope="access", perms=perms)
            if is_directory:
                created.entries[entry.key] = entry
        return created
    base = _NEW_DIRECTORY if is_directory else _NEW_FILE
    created.set_permissions(base)
    return created
