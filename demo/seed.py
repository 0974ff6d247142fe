"""Seed a realistic sequencing run (an Illumina NextSeq output folder) into a source account."""

from __future__ import annotations

import gzip
import hashlib
import os
import random

from azure.storage.blob import BlobBlock, BlobServiceClient, ContentSettings

SOURCE_CONTAINER = "deliveries"
SOURCE_FOLDER = "jdoe/mouse-rnaseq"
LARGE_FILE = "Data/Intensities/BaseCalls/Undetermined_S0_L001_R1_001.fastq.gz"
LARGE_FILE_BYTES = 64 * 2**20 + 12345
BLOCK_BYTES = 4 * 2**20
# Azurite's published development key (not a secret), as local.settings.json.example uses it
AZURITE_WELL_KNOWN_KEY = ("Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/"
                          "K1SZFPTOtr/KBHBeksoGMGw==")


def fastq_gz(sample: str, reads: int, seed: int) -> bytes:
    generator = random.Random(seed)
    lines = []
    for number in range(reads):
        sequence = "".join(generator.choice("ACGT") for _ in range(76))
        quality = "".join(generator.choice("FFFF:,") for _ in range(76))
        lines.append(f"@NB551234:42:HXXXXXXXX:1:11101:{number}:1000 1:N:0:{sample}\n"
                     f"{sequence}\n+\n{quality}\n")
    return gzip.compress("".join(lines).encode(), mtime=0)


def run_files() -> dict[str, bytes]:
    samples = ["Ctrl_1", "Ctrl_2", "KO_1", "KO_2"]
    files: dict[str, bytes] = {
        "RunInfo.xml": b'<?xml version="1.0"?>\n<RunInfo Version="5"><Run Id="261120_NB551234_'
                       b'0042_AHXXXXXXXX" Number="42"/></RunInfo>\n',
        "RunParameters.xml": b'<?xml version="1.0"?>\n<RunParameters><Chemistry>NextSeq High'
                             b'</Chemistry></RunParameters>\n',
        "RunCompletionStatus.xml": b'<?xml version="1.0"?>\n<RunCompletionStatus><Completion'
                                   b'Status>CompletedAsPlanned</CompletionStatus>'
                                   b'</RunCompletionStatus>\n',
        "CopyComplete.txt": b"",
        "SampleSheet.csv": ("[Header]\nIEMFileVersion,5\nExperiment Name,mouse-rnaseq\n"
                            "[Data]\nSample_ID,Sample_Name,index\n"
                            + "".join(f"{s},{s},ACGTAC{i}\n" for i, s in enumerate(samples))
                            ).encode(),
        "Notes/Résumé du run – Müller lab.txt": "Läuft gut. Qualität über Q30.\n".encode(),
        "InterOp/QMetricsOut.bin": os.urandom(40_000),
    }
    for index, sample in enumerate(samples):
        for read in ("R1", "R2"):
            name = f"Data/Intensities/BaseCalls/{sample}_S{index + 1}_L001_{read}_001.fastq.gz"
            files[name] = fastq_gz(sample, 400 + 50 * index, seed=index * 2 + (read == "R2"))
    return files


def seed_run(source: BlobServiceClient, container_name: str = SOURCE_CONTAINER,
             folder: str = SOURCE_FOLDER, *, flags_last: tuple[str, ...] = ()) -> dict[str, bytes]:
    """Upload the run into `folder` (the container is created if missing); returns every
    seeded file's relative path and bytes.

    Small files go up with their Content-MD5 set (as azcopy --put-md5 does); the large file is
    uploaded block by block with no Content-MD5, as many tools leave it. `flags_last`: files
    uploaded after all the others, as an instrument writes its completion flag.
    """
    container = source.get_container_client(container_name)
    if not container.exists():
        container.create_container()
    container.upload_blob("other-netid/other-project/README.txt", b"another delivery\n",
                          overwrite=True)
    files = run_files()
    for relative, content in files.items():
        if relative in flags_last:
            continue
        container.upload_blob(
            f"{folder}/{relative}", content, overwrite=True,
            content_settings=ContentSettings(
                content_type=_content_type(relative),
                content_md5=bytearray(hashlib.md5(content).digest())))
    large = container.get_blob_client(f"{folder}/{LARGE_FILE}")
    generator = random.Random(7)
    block_ids, pieces = [], []
    for offset in range(0, LARGE_FILE_BYTES, BLOCK_BYTES):
        piece = generator.randbytes(min(BLOCK_BYTES, LARGE_FILE_BYTES - offset))
        block_id = f"{offset // BLOCK_BYTES:08d}"
        large.stage_block(block_id, piece)
        block_ids.append(block_id)
        pieces.append(piece)
    large.commit_block_list([BlobBlock(block_id) for block_id in block_ids],
                            content_settings=ContentSettings(content_type="application/gzip"))
    files[LARGE_FILE] = b"".join(pieces)
    for relative in flags_last:
        container.upload_blob(
            f"{folder}/{relative}", files[relative], overwrite=True,
            content_settings=ContentSettings(
                content_type=_content_type(relative),
                content_md5=bytearray(hashlib.md5(files[relative]).digest())))
    return files


def _content_type(name: str) -> str:
    if name.endswith(".gz"):
        return "application/gzip"
    if name.endswith(".xml"):
        return "application/xml"
    if name.endswith(".csv"):
        return "text/csv"
    if name.endswith(".txt"):
        return "text/plain"
    return "application/octet-stream"


def main() -> None:
    """``python -m demo.seed``: seed the run into an Azurite started by hand (see README)."""
    import argparse

    from azure.core.credentials import AzureNamedKeyCredential

    parser = argparse.ArgumentParser(prog="python -m demo.seed")
    parser.add_argument("--endpoint-template", default="http://127.0.0.1:10000/{account}")
    parser.add_argument("--key", default=AZURITE_WELL_KNOWN_KEY,
                        help="the key Azurite was given for sequencingcore and labsmith")
    options = parser.parse_args()

    def service(account: str) -> BlobServiceClient:
        return BlobServiceClient(options.endpoint_template.format(account=account),
                                 credential=AzureNamedKeyCredential(account, options.key))

    seeded = seed_run(service("sequencingcore"))
    service("labsmith").create_container("incoming")
    print(f"seeded {len(seeded)} files under sequencingcore/{SOURCE_CONTAINER}/{SOURCE_FOLDER}; "
          "created labsmith/incoming")


if __name__ == "__main__":
    main()
