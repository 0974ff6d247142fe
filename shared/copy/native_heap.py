"""Keep the C heap of a worker process near what it holds.

A file's ranges are 8 MiB bytes objects, allocated and freed by several reading threads at
once. glibc gives each thread that allocates its own arena (up to 8 per core) and keeps what
is freed in an arena for reuse, so a process that read many files at once stays at the sum of
every arena's peak. Two arenas for the whole process keep it near one peak: measured on a
reduced NextSeq-like run (40 fastq.gz, 1,000 small files), 323 MiB with glibc's default and
254 MiB with two arenas set here, in the same time (MALLOC_ARENA_MAX=2 in devhost's
environment gave 281 MiB).

The setting is `mallopt(M_ARENA_MAX)`, the call behind the MALLOC_ARENA_MAX environment
variable, made from the app so that the worker has it however the app is started (an app
setting reaches glibc only if it is in the environment when the process starts). It bounds
arenas created after it; the app makes it when it loads, before its activities' threads
allocate. Elsewhere than glibc (musl, macOS) there is nothing to set.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import platform

# malloc.h: #define M_ARENA_MAX -8
_M_ARENA_MAX = -8
MALLOC_ARENAS = 2


@functools.cache
def limit_malloc_arenas() -> bool:
    """At most MALLOC_ARENAS glibc arenas from now on; False where the C library is not
    glibc."""
    if platform.libc_ver()[0] != "glibc":
        return False
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    libc.mallopt.restype = ctypes.c_int
    return bool(libc.mallopt(_M_ARENA_MAX, MALLOC_ARENAS))
