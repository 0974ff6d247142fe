"""The Data Lake (dfs) operations the stand-in serves, in the published REST protocol.

Requests and answers follow the Data Lake Storage REST specification
(`Azure/azure-rest-api-specs`, `specification/storage/data-plane/Azure.Storage.Files.DataLake/
stable/2026-06-06/DataLakeStorage.json`: FileSystem_GetProperties, FileSystem_ListPaths,
Path_Create, Path_GetProperties with action=getAccessControl, Path_Update with
action=setAccessControl and setAccessControlRecursive) as `azure-storage-file-datalake`
sends and parses them. Errors are JSON ``{"error": {"code", "message"}}`` with
``x-ms-error-code``, in the service's words where a source gives them (see devhost/README.md).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass, field

from devhost.dfs_acl import AclSyntaxError, PathAccess, parse_acl
from devhost.dfs_auth import Caller
from devhost.dfs_paths import Namespace, PathItem, filetime, rfc1123

LIST_PATHS_MAX = 5000  # "If omitted or greater than 5,000, the response will include up to
RECURSIVE_ACL_BATCH = 2000  # 5,000 items"; setAccessControlRecursive's default batch size
NOT_HNS = ("HierarchicalNamespaceNotEnabled",
           "This operation is only supported on a hierarchical namespace account.")


@dataclass
class Answer:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


@dataclass(frozen=True)
class DfsRequest:
    account: str
    container: str
    path: str  # '' for the file system's root
    query: Mapping[str, str]
    headers: Mapping[str, str]  # lowercase names
    caller: Caller


class DfsError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message

    def answer(self) -> Answer:
        body = json.dumps({"error": {"code": self.code, "message": self.message}}).encode()
        return Answer(self.status, {"x-ms-error-code": self.code,
                                    "Content-Type": "application/json;charset=utf-8"}, body)


FILESYSTEM_NOT_FOUND = (404, "FilesystemNotFound", "The specified filesystem does not exist.")
PATH_NOT_FOUND = (404, "PathNotFound", "The specified path does not exist.")
INVALID_ACL = (400, "InvaldAccessControlList", "The access control list value is invalid.")
NOT_AUTHORIZED = (403, "AuthorizationPermissionMismatch",
                  "This request is not authorized to perform this operation using this "
                  "permission.")


class DataLakeOperations:
    """One instance per stand-in; `hierarchical` names the accounts with a namespace."""

    def __init__(self, namespace: Namespace, hierarchical: frozenset[str]) -> None:
        self.namespace = namespace
        self.hierarchical = hierarchical

    def serve(self, method: str, account: str, container: str, path: str,
              query: Mapping[str, str], headers: Mapping[str, str], caller: Caller) -> Answer:
        try:
            if not self.namespace.container_exists(account, container):
                raise DfsError(*FILESYSTEM_NOT_FOUND)
            operation = self._operation(method, path, query)
            if operation is None:
                raise DfsError(501, "APINotImplemented",
                               "This Data Lake operation is not served by the devhost stand-in.")
            if account not in self.hierarchical and operation != "filesystem-properties":
                raise DfsError(400, *NOT_HNS)
            request = DfsRequest(account, container, path, query, headers, caller)
            answer = getattr(self, "_" + operation.replace("-", "_"))(request)
            answer.headers["x-ms-namespace-enabled"] = str(account in self.hierarchical).lower()
            return answer
        except DfsError as error:
            return error.answer()

    @staticmethod
    def _operation(method: str, path: str, query: Mapping[str, str]) -> str | None:
        resource, action = query.get("resource"), query.get("action")
        if resource == "filesystem" and not path:
            return {"HEAD": "filesystem-properties", "GET": "list-paths"}.get(method)
        if method == "PUT" and resource == "directory" and path:
            return "create-directory"
        if method == "HEAD" and action == "getAccessControl":
            return "get-access-control"
        if method == "PATCH" and action == "setAccessControl":
            return "set-access-control"
        if method == "PATCH" and action == "setAccessControlRecursive":
            return "set-access-control-recursive"
        return None

    # ----- file system ----------------------------------------------------------------------
    def _filesystem_properties(self, request: DfsRequest) -> Answer:
        account, container = request.account, request.container
        properties = self.namespace.container(account, container).get_container_properties()
        return Answer(200, {"ETag": str(properties.etag),
                            "Last-Modified": rfc1123(properties.last_modified),
                            "x-ms-properties": ""})

    def _list_paths(self, request: DfsRequest) -> Answer:
        account, container = request.account, request.container
        query = request.query
        recursive = _boolean(query, "recursive", required=True)
        directory = query.get("directory", "").strip("/")
        if directory:
            found = self.namespace.item(account, container, directory)
            if found is None or not found.is_directory:
                raise DfsError(*PATH_NOT_FOUND)
        limit = min(_positive(query, "maxResults", LIST_PATHS_MAX), LIST_PATHS_MAX)
        resume_at = _from_token(query.get("continuation"))
        paths: list[dict[str, str]] = []
        next_name = None
        skipping = resume_at is not None
        for item in self.namespace.walk(account, container, directory, recursive):
            if skipping and item.name != resume_at:
                continue
            skipping = False
            if len(paths) == limit:
                next_name = item.name
                break
            paths.append(self._path_json(account, container, item))
        answer = Answer(200, {"Content-Type": "application/json;charset=utf-8"},
                        json.dumps({"paths": paths}).encode())
        if next_name is not None:
            answer.headers["x-ms-continuation"] = _token(next_name)
        return answer

    def _path_json(self, account: str, container: str, item: PathItem) -> dict[str, str]:
        access = self.namespace.access(account, container, item.name,
                                       is_directory=item.is_directory)
        entry = {"name": item.name, "contentLength": str(item.size),
                 "lastModified": rfc1123(item.last_modified), "etag": item.etag,
                 "owner": access.owner, "group": access.group,
                 "permissions": access.permissions(), "creationTime": filetime(item.created),
                 "expiryTime": "0"}
        if item.is_directory:
            entry["isDirectory"] = "true"
        return entry

    # ----- paths ----------------------------------------------------------------------------
    def _create_directory(self, request: DfsRequest) -> Answer:
        account, container, path = request.account, request.container, request.path
        headers, caller = request.headers, request.caller
        with self.namespace.lock:
            existing = self.namespace.item(account, container, path)
            if existing is not None and headers.get("if-none-match") == "*":
                raise DfsError(409, "PathAlreadyExists", "The specified path already exists.")
            if existing is not None and not existing.is_directory:
                raise DfsError(409, "PathConflict",
                               "The specified path, or an element of the path, exists and its "
                               "resource type is invalid for this operation.")
            for parent in _parents(path):
                found = self.namespace.item(account, container, parent)
                if found is not None and not found.is_directory:
                    raise DfsError(409, "PathConflict",
                                   "The specified path, or an element of the path, exists and "
                                   "its resource type is invalid for this operation.")
            self.namespace.make_directory(account, container, path, owner=caller.object_id)
            access = self.namespace.access(account, container, path, is_directory=True)
            permissions = headers.get("x-ms-permissions")
            if permissions and not access.default_entries():
                _apply(access.set_permissions, _masked(permissions, headers.get("x-ms-umask")))
        created = self.namespace.item(account, container, path)
        assert created is not None
        return Answer(201, {"ETag": f'"{created.etag}"',
                            "Last-Modified": rfc1123(created.last_modified),
                            "Content-Length": "0"})

    def _existing(self, account: str, container: str, path: str) -> PathItem:
        found = self.namespace.item(account, container, path)
        if found is None:
            raise DfsError(*PATH_NOT_FOUND)
        return found

    def _get_access_control(self, request: DfsRequest) -> Answer:
        account, container, path = request.account, request.container, request.path
        item = self._existing(account, container, path)
        access = self.namespace.access(account, container, path, is_directory=item.is_directory)
        return Answer(200, {"x-ms-owner": access.owner, "x-ms-group": access.group,
                            "x-ms-permissions": access.permissions(),
                            "x-ms-acl": access.acl_text(), "ETag": f'"{item.etag}"',
                            "Last-Modified": rfc1123(item.last_modified)})

    def _set_access_control(self, request: DfsRequest) -> Answer:
        account, container, path = request.account, request.container, request.path
        headers, caller = request.headers, request.caller
        acl, permissions = headers.get("x-ms-acl"), headers.get("x-ms-permissions")
        if acl and permissions:
            raise DfsError(400, "InvalidHeaderValue",
                           "The x-ms-permissions and x-ms-acl headers are mutually exclusive.")
        item = self._existing(account, container, path)
        with self.namespace.lock:
            access = self.namespace.access(account, container, path,
                                           is_directory=item.is_directory)
            changes_owner = bool(headers.get("x-ms-owner")) or bool(headers.get("x-ms-group"))
            if not caller.may_change_access(access.owner) or (
                    changes_owner and not caller.superuser):
                raise DfsError(*NOT_AUTHORIZED)
            changed = _copy(access)
            if acl:
                _apply(changed.set_acl, _parsed(acl))
            if permissions:
                _apply(changed.set_permissions, permissions)
            access.entries = changed.entries
            access.owner = headers.get("x-ms-owner") or access.owner
            access.group = headers.get("x-ms-group") or access.group
        return Answer(200, {"ETag": f'"{item.etag}"',
                            "Last-Modified": rfc1123(item.last_modified)})

    def _set_access_control_recursive(self, request: DfsRequest) -> Answer:
        account, container, path = request.account, request.container, request.path
        query, headers, caller = request.query, request.headers, request.caller
        mode = query.get("mode")
        if mode not in ("set", "modify", "remove"):
            raise DfsError(400, "InvalidQueryParameterValue",
                           "Value for one of the query parameters specified in the request URI "
                           "is invalid.")
        acl = headers.get("x-ms-acl")
        if not acl:
            raise DfsError(400, "MissingRequiredHeader",
                           "An HTTP header that's mandatory for this request is not specified.")
        entries = _parsed(acl, with_perms=mode != "remove")
        batch = min(_positive(query, "maxRecords", RECURSIVE_ACL_BATCH), RECURSIVE_ACL_BATCH)
        force = _boolean(query, "forceFlag", required=False)
        top = self._existing(account, container, path)
        items = [top]
        if top.is_directory:
            items += list(self.namespace.walk(account, container, path))
        resume_at = _from_token(query.get("continuation"))
        if resume_at is not None:
            names = [item.name for item in items]
            items = items[names.index(resume_at):] if resume_at in names else []
        counts = {"directoriesSuccessful": 0, "filesSuccessful": 0, "failureCount": 0}
        failed: list[dict[str, str]] = []
        next_name = None
        with self.namespace.lock:
            for index, item in enumerate(items):
                if index == batch:
                    next_name = item.name
                    break
                access = self.namespace.access(account, container, item.name,
                                               is_directory=item.is_directory)
                changed = _copy(access)
                try:
                    if not caller.may_change_access(access.owner):
                        raise PermissionError(NOT_AUTHORIZED[2])
                    if mode == "set":
                        changed.set_acl([e for e in entries
                                         if item.is_directory or e.scope == "access"])
                    elif mode == "modify":
                        changed.modify_acl(entries, skip_defaults_on_files=True)
                    else:
                        changed.remove_acl(entries)
                except (AclSyntaxError, PermissionError) as error:
                    counts["failureCount"] += 1
                    reason = str(error) if isinstance(error, PermissionError) \
                        else f"{INVALID_ACL[2]} {error}"
                    failed.append({"errorMessage": reason,
                                   "name": item.name,
                                   "type": "DIRECTORY" if item.is_directory else "FILE"})
                    if not force:
                        next_name = item.name
                        break
                    continue
                access.entries = changed.entries
                counts["directoriesSuccessful" if item.is_directory else "filesSuccessful"] += 1
        answer = Answer(200, {"Content-Type": "application/json;charset=utf-8"},
                        json.dumps({**counts, "failedEntries": failed}).encode())
        if next_name is not None:
            answer.headers["x-ms-continuation"] = _token(next_name)
        return answer


# ----- helpers ---------------------------------------------------------------------------------
def _parents(path: str) -> list[str]:
    parts = path.split("/")
    return ["/".join(parts[:depth]) for depth in range(1, len(parts))]


def _copy(access: PathAccess) -> PathAccess:
    return PathAccess(owner=access.owner, group=access.group, is_directory=access.is_directory,
                      entries=dict(access.entries))


def _parsed(acl: str, *, with_perms: bool = True) -> list:
    try:
        return parse_acl(acl, with_perms=with_perms)
    except AclSyntaxError:
        raise DfsError(*INVALID_ACL) from None


def _apply(change, value) -> None:
    try:
        change(value)
    except AclSyntaxError:
        raise DfsError(*INVALID_ACL) from None


def _masked(permissions: str, umask: str | None) -> str:
    if umask and len(permissions) in (3, 4) and permissions.isdigit():
        return f"{int(permissions, 8) & ~int(umask, 8) & 0o777:03o}"
    return permissions


def _boolean(query: Mapping[str, str], name: str, *, required: bool) -> bool:
    value = query.get(name)
    if value is None and not required:
        return False
    if value not in ("true", "false"):
        raise DfsError(400, "InvalidQueryParameterValue",
                       f"Value for one of the query parameters specified in the request URI is "
                       f"invalid. ({name})")
    return value == "true"


def _positive(query: Mapping[str, str], name: str, default: int) -> int:
    value = query.get(name)
    if value is None:
        return default
    if not value.isdigit() or int(value) < 1:
        raise DfsError(400, "InvalidQueryParameterValue",
                       f"Value for one of the query parameters specified in the request URI is "
                       f"invalid. ({name})")
    return int(value)


def _token(name: str) -> str:
    return base64.urlsafe_b64encode(name.encode()).decode()


def _from_token(token: str | None) -> str | None:
    if not token:
        return None
    try:
        return base64.urlsafe_b64decode(token.encode()).decode()
    except (ValueError, UnicodeDecodeError):
        raise DfsError(400, "InvalidQueryParameterValue",
                       "Value for one of the query parameters specified in the request URI is "
                       "invalid. (continuation)") from None

