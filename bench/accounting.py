"""From one run's proxied traffic: file bytes read per file class, bytes written, requests."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from bench.common import (
    MANIFEST_FOLDER,
    MIB,
    SINK_ACCOUNT,
    SINK_CONTAINER,
    SOURCE_ACCOUNT,
    SOURCE_CONTAINER,
    SOURCE_FOLDER,
    WORK_ACCOUNT,
)
from bench.seeding import SeededFile

# operations whose request body is blob content
DATA_OPS = {"put-blob", "put-block", "put-appendblock", "put-page"}


def class_of(item: SeededFile, small_file_max_bytes: int) -> str:
    """How the app copies the file decides its class: a file with a stored MD5 up to
    DDD_SMALL_FILE_MAX_BYTES is checked by the service (no byte read through the app); any
    other is read once through the app."""
    if item.stored_md5 and item.size <= small_file_max_bytes:
        return f"{item.kind}, Content-MD5, <= {small_file_max_bytes // MIB} MiB (service-checked)"
    if item.stored_md5:
        return f"{item.kind}, Content-MD5, > {small_file_max_bytes // MIB} MiB (read once)"
    return f"{item.kind}, no Content-MD5 (read once)"


def file_paths(files: list[SeededFile], sink_folder: str) -> dict[str, SeededFile]:
    """The proxied paths of each file's source and destination blob."""
    paths: dict[str, SeededFile] = {}
    for item in files:
        paths[f"/{SOURCE_ACCOUNT}/{SOURCE_CONTAINER}/{SOURCE_FOLDER}/{item.relative}"] = item
        paths[f"/{SINK_ACCOUNT}/{SINK_CONTAINER}/{sink_folder}/{item.relative}"] = item
    return paths


def split_traffic(traffic: dict, files: list[SeededFile], sink_folder: str,
                  small_file_max_bytes: int) -> dict[str, Any]:
    """File bytes read per class (and the worst file's ratio), bytes sent by kind, requests."""
    paths = file_paths(files, sink_folder)
    read_by_file: dict[str, int] = defaultdict(int)
    other_blob_reads = 0
    for path, count in traffic["reads"].items():
        item = paths.get(path)
        if item is None:
            other_blob_reads += count
        else:
            read_by_file[item.relative] += count
    sums: defaultdict[str, int] = defaultdict(int)
    ops: defaultdict[str, int] = defaultdict(int)
    for key, (requests_, req_head, req_body, resp_head, resp_body) in traffic["ops"].items():
        client, account, op, area = key.split("|")
        who = "azurite" if client == "azurite" else "client"
        sums[f"{who}.requests"] += requests_
        sums[f"{who}.read"] += resp_head + resp_body
        sums[f"{who}.sent"] += req_head + req_body
        if who != "client":
            continue
        ops[op] += requests_
        sums["sent.heads"] += req_head
        if account == WORK_ACCOUNT:
            sums["sent.work_bodies"] += req_body  # plan, result and progress pages
        elif op not in DATA_OPS:
            sums["sent.control_bodies"] += req_body  # block lists and the like
        elif account == SINK_ACCOUNT and area == MANIFEST_FOLDER:
            sums["sent.manifest_bodies"] += req_body
        else:
            sums["sent.file_bodies"] += req_body  # blob content written through the client
    classes: dict[str, dict[str, float]] = {}
    for item in files:
        name = class_of(item, small_file_max_bytes)
        entry = classes.setdefault(name, {"files": 0, "bytes": 0, "read": 0, "worst": 0.0})
        read = read_by_file.get(item.relative, 0)
        entry["files"] += 1
        entry["bytes"] += item.size
        entry["read"] += read
        entry["worst"] = max(entry["worst"], read / max(item.size, 1))
    return {**sums, "ops": dict(ops), "classes": classes,
            "file_bytes_read": sum(read_by_file.values()), "other_blob_reads": other_blob_reads,
            "unparsed": sum(traffic["unparsed"]), "errors": traffic["errors"],
            "connections": traffic["connections"]}
