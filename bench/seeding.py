"""The benchmark's data: seeded once into an Azurite location (the template), then given to a
fresh Azurite for every measured run.

A fresh Azurite per run, because Azurite slows as it fills. Seeding once and copying the
template keeps every run's source identical and takes seconds: the extent files (blob content,
written once and never changed by Azurite, which opens new extents for new writes) are
hard-linked, the metadata databases (rewritten by Azurite) copied. Every run's destination is
read back and compared with the MD5s recorded here, so a template spoiled by a run would show.
"""

from __future__ import annotations

import hashlib
import os
import random
import shutil
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from bench.common import (
    ACCOUNTS,
    MIB,
    SINK_ACCOUNT,
    SINK_CONTAINER,
    SOURCE_ACCOUNT,
    SOURCE_CONTAINER,
    SOURCE_FOLDER,
    WORK_ACCOUNT,
)

SEED_BLOCK_BYTES = 8 * MIB
BLOB_EXTENTS = "__blobstorage__"


@dataclass(frozen=True)
class FileSpec:
    """One file to seed: where, how big, whether the source has a Content-MD5, its class."""

    relative: str
    size: int
    stored_md5: bool
    kind: str  # the class it is reported under ("small", "fastq.gz", "large")
    seed: int  # content: random.Random(seed)


@dataclass(frozen=True)
class SeededFile:
    relative: str
    size: int
    md5: str
    stored_md5: bool
    kind: str


def storage_client(azurite, account: str, endpoint: str | None = None, connections: int = 40,
                   single_get_bytes: int = 4 * MIB):
    """A key-authenticated client with a connection pool big enough for the threads, at
    `endpoint` (the proxy) or Azurite itself; proxy settings read once (trust_env off)."""
    import requests
    from azure.core.credentials import AzureNamedKeyCredential
    from azure.core.pipeline.transport import RequestsTransport
    from azure.storage.blob import BlobServiceClient

    session = requests.Session()
    session.trust_env = False
    adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=connections)
    session.mount("http://", adapter)
    base = endpoint or azurite.blob_endpoint(WORK_ACCOUNT).rsplit("/", 1)[0]
    return BlobServiceClient(
        f"{base}/{account}", credential=AzureNamedKeyCredential(account,
                                                                azurite.account_key(account)),
        transport=RequestsTransport(session=session, session_owner=True, use_env_settings=False,
                                    connection_data_block_size=256 * 1024),
        max_single_get_size=single_get_bytes, max_chunk_get_size=4 * MIB,
        max_block_size=SEED_BLOCK_BYTES, max_single_put_size=SEED_BLOCK_BYTES)


def content_pieces(spec: FileSpec) -> Iterator[bytes]:
    generator = random.Random(spec.seed)
    for offset in range(0, spec.size, SEED_BLOCK_BYTES):
        yield generator.randbytes(min(SEED_BLOCK_BYTES, spec.size - offset))


def seed(azurite, specs: list[FileSpec], threads: int = 16) -> list[SeededFile]:
    """Upload every file under SOURCE_FOLDER: a file up to one seed block in one Put Blob, a
    larger one in 8 MiB blocks; a stored Content-MD5 where the spec says (for a block blob,
    set at Put Block List, as AzCopy does). Creates the sink container too."""
    from azure.storage.blob import BlobBlock, ContentSettings

    source = storage_client(azurite, SOURCE_ACCOUNT, connections=2 * threads + 4)
    container = source.get_container_client(SOURCE_CONTAINER)
    container.create_container()
    storage_client(azurite, SINK_ACCOUNT).create_container(SINK_CONTAINER)

    def content_type(spec: FileSpec) -> str:
        return "application/gzip" if spec.relative.endswith(".gz") else "application/octet-stream"

    def upload_small(spec: FileSpec) -> SeededFile:
        content = b"".join(content_pieces(spec))
        digest = hashlib.md5(content).digest()
        if not spec.stored_md5:
            # Put Blob would make the service store an MD5 it computed: upload a block and
            # commit it with no MD5, as an ADLS Gen2 upload (append + flush) leaves a file
            blob = container.get_blob_client(f"{SOURCE_FOLDER}/{spec.relative}")
            blob.stage_block("000000", content)
            blob.commit_block_list([BlobBlock("000000")], content_settings=ContentSettings(
                content_type=content_type(spec)))
            return SeededFile(spec.relative, spec.size, digest.hex(), False, spec.kind)
        container.upload_blob(f"{SOURCE_FOLDER}/{spec.relative}", content,
                              content_settings=ContentSettings(
                                  content_type=content_type(spec),
                                  content_md5=bytearray(digest)))
        return SeededFile(spec.relative, spec.size, digest.hex(), True, spec.kind)

    def upload_large(spec: FileSpec, stager: ThreadPoolExecutor) -> SeededFile:
        blob = container.get_blob_client(f"{SOURCE_FOLDER}/{spec.relative}")
        whole = hashlib.md5()
        blocks: list[BlobBlock] = []
        in_flight: deque[Future] = deque()
        for number, piece in enumerate(content_pieces(spec)):
            whole.update(piece)
            blocks.append(BlobBlock(f"{number:06d}"))
            in_flight.append(stager.submit(blob.stage_block, f"{number:06d}", piece))
            if len(in_flight) >= 4:
                in_flight.popleft().result()
        for future in in_flight:
            future.result()
        settings = ContentSettings(content_type=content_type(spec))
        if spec.stored_md5:
            settings.content_md5 = bytearray(whole.digest())
        blob.commit_block_list(blocks, content_settings=settings)
        stored = blob.get_blob_properties().content_settings.content_md5
        if bool(stored) != spec.stored_md5 or (stored and bytes(stored) != whole.digest()):
            raise RuntimeError(f"seeding {spec.relative}: Content-MD5 is {stored!r}")
        return SeededFile(spec.relative, spec.size, whole.hexdigest(), spec.stored_md5,
                          spec.kind)

    small = [spec for spec in specs if spec.size <= SEED_BLOCK_BYTES]
    large = sorted((spec for spec in specs if spec.size > SEED_BLOCK_BYTES),
                   key=lambda spec: -spec.size)
    with ThreadPoolExecutor(threads) as pool, ThreadPoolExecutor(threads) as stager:
        futures = [pool.submit(upload_small, spec) for spec in small]
        futures += [pool.submit(upload_large, spec, stager) for spec in large]
        files = [future.result() for future in futures]
    # what the listing says is what the app and the baselines will see
    listed = {blob.name[len(SOURCE_FOLDER) + 1:]: bool(blob.content_settings.content_md5)
              for blob in container.list_blobs(name_starts_with=SOURCE_FOLDER + "/")}
    wrong = [item.relative for item in files if listed.get(item.relative) != item.stored_md5]
    if wrong or len(listed) != len(files):
        raise RuntimeError(f"seeding: {len(wrong)} files listed with the wrong Content-MD5 "
                           f"state (e.g. {wrong[:3]}), {len(listed)} listed of {len(files)}")
    return sorted(files, key=lambda item: item.relative)


def seed_template(location: Path, specs: list[FileSpec]) -> list[SeededFile]:
    """Seed into a fresh Azurite at `location`, then stop it (its databases saved)."""
    from devhost.azurite import AzuriteServer

    with AzuriteServer(accounts=list(ACCOUNTS), location=location) as azurite:
        files = seed(azurite, specs)
    (location / "azurite.log").unlink(missing_ok=True)
    return files


def instantiate(template: Path, location: Path) -> None:
    """A new Azurite location holding the template's data: extents hard-linked, databases
    copied."""
    for path in template.rglob("*"):
        target = location / path.relative_to(template)
        if path.is_dir():
            target.mkdir(parents=True, exist_ok=True)
        elif BLOB_EXTENTS in path.relative_to(template).parts:
            target.parent.mkdir(parents=True, exist_ok=True)
            os.link(path, target)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)
