"""The benchmark's scenarios: the files each seeds, the app settings it runs with, the
baselines it is compared with, and its targets (ratios are the app's speed over a
baseline's: the baseline's seconds over the app's)."""

from __future__ import annotations

import argparse
import math
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from bench.common import GIB, KIB, MIB
from bench.seeding import FileSpec


@dataclass(frozen=True)
class Scenario:
    name: str
    about: str
    specs: Callable[[argparse.Namespace], list[FileSpec]]
    app_environ: Callable[[argparse.Namespace], dict[str, str]]
    baselines: tuple[str, ...]
    targets: dict[str, float] = field(default_factory=dict)  # baseline -> lowest ratio
    # several deliveries at once, one per top folder of the files (`bench.together`)
    concurrent: bool = False


def small_file_names(count: int) -> Iterator[str]:
    """Names laid out as a sequencer's run folder (lanes, cycles, tiles)."""
    for number in range(count):
        lane, rest = 1 + number % 4, number // 4
        yield (f"Data/Intensities/BaseCalls/L{lane:03d}/C{1 + rest // 25}.1/"
               f"s_{lane}_{11101 + rest % 25}.bcl.bgzf")


def small_specs(count: int, args: argparse.Namespace, *, seed: int,
                without_md5_every: int = 0) -> list[FileSpec]:
    generator = random.Random(seed)
    low, high = args.small_min_kib * KIB, args.small_max_kib * KIB
    return [FileSpec(name, generator.randint(low, high),
                     not (without_md5_every and number % without_md5_every == 0),
                     "small", generator.getrandbits(64))
            for number, name in enumerate(small_file_names(count))]


def small_10k(args: argparse.Namespace) -> list[FileSpec]:
    return small_specs(args.small_files_10k, args, seed=args.seed)


def small_100k(args: argparse.Namespace) -> list[FileSpec]:
    return small_specs(args.small_files_100k, args, seed=args.seed)


def large_4g(args: argparse.Namespace) -> list[FileSpec]:
    return [FileSpec("Analysis/fastq/Undetermined_S0_L001_R1_001.fastq.gz",
                     int(args.large_gib * GIB), False, "large", args.seed)]


def mixed(args: argparse.Namespace) -> list[FileSpec]:
    """A NextSeq-like run: fastq.gz files of 10-200 MiB (log-uniform: most are small, as with
    many samples of uneven depth), every other one without a stored MD5, plus many small
    files (BaseCalls, InterOp), one in ten without a stored MD5."""
    generator = random.Random(args.seed + 1)
    low, high = math.log(args.fastq_min_mib), math.log(args.fastq_max_mib)
    specs = []
    for number in range(args.fastq_files):
        sample, lane, read = 1 + number // 8, 1 + (number // 2) % 4, 1 + number % 2
        size = int(math.exp(generator.uniform(low, high)) * MIB) + generator.randint(0, MIB)
        specs.append(FileSpec(
            f"Analysis/fastq/Sample_{sample:03d}_S{sample}_L{lane:03d}_R{read}_001.fastq.gz",
            size, number % 2 == 0, "fastq.gz", generator.getrandbits(64)))
    return specs + small_specs(args.mixed_small_files, args, seed=args.seed + 2,
                               without_md5_every=10)


def in_folder(folder: str, specs: list[FileSpec]) -> list[FileSpec]:
    return [FileSpec(f"{folder}/{spec.relative}", spec.size, spec.stored_md5, spec.kind,
                     spec.seed) for spec in specs]


def large_pair(name: str, gib: tuple[float, float], seed: int) -> list[FileSpec]:
    """A run's two large fastq.gz files: the first without a stored MD5, the second with."""
    return [FileSpec(f"Analysis/fastq/{name}_S{number}_L001_R1_001.fastq.gz", int(size * GIB),
                     number == 2, "large", seed + number)
            for number, size in enumerate(gib, start=1)]


def concurrent(args: argparse.Namespace) -> list[FileSpec]:
    """Ten deliveries started together, one per top folder: a tiny one (8 small files, one
    without a stored MD5), small-file runs of `--concurrent-small` files each, and two runs of
    two large files each (`--concurrent-large-gib`, 1-4 GiB: the first without a stored MD5,
    the second with)."""
    specs = in_folder("tiny", small_specs(8, args, seed=args.seed + 3, without_md5_every=8))
    for number, count in enumerate(args.concurrent_small, start=1):
        specs += in_folder(f"small-{number}",
                           small_specs(count, args, seed=args.seed + 10 + number))
    a1, a2, b1, b2 = args.concurrent_large_gib
    specs += in_folder("large-a", large_pair("A", (a1, a2), args.seed + 30))
    specs += in_folder("large-b", large_pair("B", (b1, b2), args.seed + 40))
    return specs


def defaults(_: argparse.Namespace) -> dict[str, str]:
    return {}


def large_environ(args: argparse.Namespace) -> dict[str, str]:
    return {"DDD_CHUNK_MAX_BYTES": str(args.unit_mib * MIB)}


SCENARIOS = {scenario.name: scenario for scenario in (
    Scenario("small-10k", "10,000 small files (1-64 KiB, Content-MD5)", small_10k, defaults,
             ("tuned",), {"tuned": 1.0}),
    Scenario("small-100k", "100,000 small files (1-64 KiB, Content-MD5)", small_100k, defaults,
             ("tuned",), {"tuned": 1.0}),
    Scenario("large-4g", "one 4 GiB file without Content-MD5, in segments", large_4g,
             large_environ, ("sequential", "parallel-ranged"),
             {"sequential": 1.1, "parallel-ranged": 1.0}),
    Scenario("mixed", "a NextSeq-like run: fastq.gz of 10-200 MiB and many small files", mixed,
             defaults, ("tuned",), {}),
    Scenario("concurrent", "ten deliveries started together: a tiny one, small-file runs and "
             "two runs of 1-4 GiB files", concurrent, defaults, ("tuned",), {"tuned": 0.9},
             concurrent=True),
)}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sizes = parser.add_argument_group("scenario sizes")
    sizes.add_argument("--small-files-10k", type=int, default=10_000, metavar="N",
                       help="files in small-10k (default 10,000)")
    sizes.add_argument("--small-files-100k", type=int, default=100_000, metavar="N",
                       help="files in small-100k (default 100,000)")
    sizes.add_argument("--small-min-kib", type=int, default=1)
    sizes.add_argument("--small-max-kib", type=int, default=64)
    sizes.add_argument("--large-gib", type=float, default=4.0,
                       help="the large-4g file's size in GiB (default 4)")
    sizes.add_argument("--unit-mib", type=int, default=512,
                       help="large-4g: DDD_CHUNK_MAX_BYTES in MiB (default 512: 8 segments)")
    sizes.add_argument("--fastq-files", type=int, default=200,
                       help="mixed: fastq.gz files (default 200)")
    sizes.add_argument("--fastq-min-mib", type=float, default=10)
    sizes.add_argument("--fastq-max-mib", type=float, default=200)
    sizes.add_argument("--mixed-small-files", type=int, default=5_000,
                       help="mixed: small files (default 5,000)")
    sizes.add_argument("--concurrent-small", type=lambda text: [int(n) for n in text.split(",")],
                       default=[400, 800, 1200, 1600, 2000, 2500, 3000], metavar="N,N,...",
                       help="concurrent: the small-file runs' file counts (default "
                            "400,800,1200,1600,2000,2500,3000)")
    sizes.add_argument("--concurrent-large-gib",
                       type=lambda text: [float(n) for n in text.split(",")],
                       default=[1.0, 1.5, 2.0, 4.0], metavar="A1,A2,B1,B2",
                       help="concurrent: the large runs' file sizes in GiB (default 1,1.5,2,4)")
    sizes.add_argument("--seed", type=int, default=20261122, help="content and size seed")
