"""A delivery's progress as one line for people, from its status answer (GET
/api/deliveries/{id}) and what a watcher saw of it so far:

    copying          1.2 GiB of 4.0 GiB (30%), 120 of 400 files, 45.0 MiB/s, about 1 min left
    delivered        64.2 MiB of 64.2 MiB (100%), 16 of 16 files

Bytes are counted as the status counts them: `copied.bytes` includes what the units in flight
have moved so far. The rate and the time left are shown only when they mean something: while
the delivery copies (never once it has ended, nor while it plans, verifies or reports), after
`ETA_MIN_FRACTION` of its bytes and `ETA_MIN_SECONDS` of copying seen, and when the rate is
steady (`copy_rate`). Pure functions: the caller polls and keeps the samples.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

BYTE_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")
ETA_MIN_FRACTION = 0.05  # of the planned bytes copied before any estimate
ETA_MIN_SECONDS = 20.0  # of copying seen before any estimate
RATE_WINDOW_SECONDS = 60.0  # the rate is measured over the last minute seen
STEADY_RATE_RATIO = 1.5  # the window's older and newer halves within this factor
STALL_SECONDS = 30.0  # no byte moved for this long: no estimate


@dataclass(frozen=True)
class Sample:
    """The bytes done (`bytes_done`) as a status answer showed them at `at` (seconds, any
    monotonic clock)."""

    at: float
    bytes_done: int


def format_bytes(count: float) -> str:
    """`count` bytes in binary units: 512 B, 588.0 KiB, 64.2 MiB, 1.0 GiB."""
    if count < 1024:
        return f"{int(count)} B"
    value, unit = float(count), 0
    while round(value, 1) >= 1024 and unit < len(BYTE_UNITS) - 1:
        value /= 1024
        unit += 1
    return f"{value:.1f} {BYTE_UNITS[unit]}"


def format_duration(seconds: float) -> str:
    """A rough duration: 10 s, 45 s (up in 5 s steps), 3 min, 1 h 20 min."""
    if seconds < 57.5:
        return f"{max(5, 5 * math.ceil(seconds / 5))} s"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


def bytes_done(view: Mapping[str, Any]) -> int:
    """Bytes copied (those of units in flight included) or verified, whichever is further: a
    folder delivered before is verified without being copied."""
    return max(view["copied"]["bytes"] or 0, view["verified"]["bytes"] or 0)


def files_done(view: Mapping[str, Any]) -> int:
    return max(view["copied"]["files"] or 0, view["verified"]["files"] or 0)


def copy_rate(samples: Sequence[Sample]) -> float | None:
    """Bytes per second over the last `RATE_WINDOW_SECONDS` of `samples` (oldest first, the
    last one now), or None unless the rate is steady: at least three moves seen in the window,
    none backwards (a unit started again), the last within `STALL_SECONDS`, and the rates of
    the window's older and newer moves within `STEADY_RATE_RATIO` of each other.

    The status moves in steps (each unit reports its bytes now and then), so rates are taken
    between the samples at which it moved, not over the time in between."""
    if not samples:
        return None
    now = samples[-1].at
    window = [sample for sample in samples if sample.at >= now - RATE_WINDOW_SECONDS]
    pairs = list(zip(window, window[1:], strict=False))
    if any(later.bytes_done < earlier.bytes_done for earlier, later in pairs):
        return None
    moves = [later for earlier, later in pairs if later.bytes_done > earlier.bytes_done]
    if len(moves) < 3 or now - moves[-1].at > STALL_SECONDS:
        return None
    middle = len(moves) // 2
    older, newer = _rate(moves[0], moves[middle]), _rate(moves[middle], moves[-1])
    if older is None or newer is None or max(older, newer) > STEADY_RATE_RATIO * min(older, newer):
        return None
    return _rate(moves[0], moves[-1])


def _rate(first: Sample, last: Sample) -> float | None:
    seconds = last.at - first.at
    return (last.bytes_done - first.bytes_done) / seconds if seconds > 0 else None


def seconds_left(view: Mapping[str, Any], samples: Sequence[Sample]) -> float | None:
    """The time the copy should still take, or None when no estimate means anything: the
    delivery is not running and copying, its size is not known yet, too little of it is done
    or has been seen, or the rate is not steady (`copy_rate`)."""
    total = view["planned"]["bytes"]
    if view.get("runtimeStatus") != "Running" or view.get("phase") != "copying" or not total:
        return None
    done = bytes_done(view)
    if done >= total or done < ETA_MIN_FRACTION * total:
        return None
    if not samples or samples[-1].at - samples[0].at < ETA_MIN_SECONDS:
        return None
    rate = copy_rate(samples)
    return None if rate is None else (total - done) / rate


def progress_line(view: Mapping[str, Any], samples: Sequence[Sample] = ()) -> str:
    """One line for people: phase, bytes done of planned (with the percentage), files done of
    planned, failed files, and the rate and time left when they mean something
    (`seconds_left`). `samples`: the watcher's `Sample`s of this delivery, oldest first."""
    phase = view.get("phase") or ("starting" if view.get("runtimeStatus") in
                                  (None, "Pending", "Running") else view["runtimeStatus"])
    parts = []
    done, total = bytes_done(view), view["planned"]["bytes"]
    if total is not None:
        percent = 100 if total == 0 else min(100, math.floor(100 * done / total))
        parts.append(f"{format_bytes(done)} of {format_bytes(total)} ({percent}%)")
    elif done:
        parts.append(format_bytes(done))
    if view["planned"]["files"] is not None:
        parts.append(f"{files_done(view):,} of {view['planned']['files']:,} files")
    failed = view.get("failed", {}).get("files")
    if failed:
        parts.append(f"{failed:,} failed")
    left = seconds_left(view, samples)
    if left is not None:
        rate = copy_rate(samples) or 0
        parts.append(f"{format_bytes(rate)}/s, about {format_duration(left)} left")
    return f"{phase:<16} {', '.join(parts)}".rstrip()
