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

An arena also keeps the pages of the ranges freed in its middle, where glibc gives back only
what is free at its top; `give_back_free_memory` (`malloc_trim(0)`, a few times a second at
most, after a range is freed) returns them, so the process's RSS follows the ranges alive
rather than the most it ever held.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import platform
import threading
import time
from collections.abc import Callable

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


# at most this often: each call walks the arenas' free lists (well under a millisecond here)
TRIM_EVERY_SECONDS = 0.25


@functools.cache
def _trim() -> Callable[[int], int] | None:
    if platform.libc_ver()[0] != "glibc":
        return None
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    libc.malloc_trim.argtypes = [ctypes.c_size_t]
    libc.malloc_trim.restype = ctypes.c_int
    trim: Callable[[int], int] = libc.malloc_trim
    return trim


_trimmed_at = 0.0
_trim_lock = threading.Lock()


def give_back_free_memory() -> None:
    """Return the C heap's free pages to the system (glibc's `malloc_trim(0)`), unless that was
    done less than TRIM_EVERY_SECONDS ago; nothing elsewhere than glibc."""
    global _trimmed_at
    trim = _trim()
    if trim is None:
        return
    now = time.monotonic()
    with _trim_lock:
        if now - _trimmed_at < TRIM_EVERY_SECONDS:
            return
        _trimmed_at = now
    trim(0)
