"""The progress line of `ddd-transfer status`: sizes in binary units, files, phase, the bytes of
units in flight counted, and a rate and time left only while the copy runs steadily."""

from __future__ import annotations

import pytest

from ddd_cli.progress import (
    ETA_MIN_SECONDS,
    Sample,
    copy_rate,
    format_bytes,
    format_duration,
    progress_line,
    seconds_left,
)

MIB, GIB = 2**20, 2**30


def status_answer(phase: str | None, runtime: str = "Running", *, planned_bytes: int | None,
                  copied_bytes: int = 0, verified_bytes: int = 0, planned_files: int | None,
                  copied_files: int = 0, verified_files: int = 0, failed_files: int = 0) -> dict:
    """A GET /api/deliveries/{id} answer, with the fields the line reads."""
    return {"id": "delivery-4321-9f1c", "runtimeStatus": runtime, "phase": phase,
            "planned": {"files": planned_files, "bytes": planned_bytes},
            "copied": {"files": copied_files, "bytes": copied_bytes},
            "verified": {"files": verified_files, "bytes": verified_bytes},
            "failed": {"files": failed_files}}


def steady(seconds: float, *, bytes_per_second: float, step_seconds: float = 5,
           start_bytes: int = 0, poll_seconds: float = 0.5) -> list[Sample]:
    """What a watcher polling every `poll_seconds` sees of a copy whose status moves every
    `step_seconds` (units report their bytes now and then)."""
    samples, at = [], 0.0
    while at <= seconds:
        moved = int(at // step_seconds) * step_seconds * bytes_per_second
        samples.append(Sample(at, start_bytes + int(moved)))
        at += poll_seconds
    return samples


@pytest.mark.parametrize(("count", "shown"), [
    (0, "0 B"), (1023, "1023 B"), (1024, "1.0 KiB"), (602112, "588.0 KiB"),
    (1048575, "1.0 MiB"), (67354051, "64.2 MiB"), (1074356224, "1.0 GiB"),
    (5 * 2**40, "5.0 TiB")])
def test_sizes_are_in_binary_units(count, shown):
    assert format_bytes(count) == shown


@pytest.mark.parametrize(("seconds", "shown"), [
    (0.4, "5 s"), (42, "45 s"), (59, "1 min"), (170, "3 min"), (4800, "1 h 20 min"),
    (7200, "2 h")])
def test_durations_are_rough(seconds, shown):
    assert format_duration(seconds) == shown


def test_the_issue_s_delivery_reads_in_units_with_files_and_no_estimate_yet():
    view = status_answer("copying", planned_bytes=1074356224, copied_bytes=602112,
                         planned_files=40, copied_files=3, verified_files=3)
    line = progress_line(view, [Sample(0, 0), Sample(0.5, 602112)])
    assert line == "copying          588.0 KiB of 1.0 GiB (0%), 3 of 40 files"


def test_bytes_of_units_in_flight_count():
    # one large file half copied: no file has ended, its bytes are in copied.bytes already
    view = status_answer("copying", planned_bytes=2 * GIB, copied_bytes=GIB, planned_files=1)
    assert "1.0 GiB of 2.0 GiB (50%), 0 of 1 files" in progress_line(view)


def test_a_steady_copy_shows_its_rate_and_time_left():
    samples = steady(60, bytes_per_second=2 * MIB)  # 120 MiB seen in a minute
    view = status_answer("copying", planned_bytes=1000 * MIB, copied_bytes=300 * MIB,
                         planned_files=400, copied_files=120)
    assert copy_rate(samples) == pytest.approx(2 * MIB)
    assert seconds_left(view, samples) == pytest.approx(350)
    assert progress_line(view, samples) == ("copying          300.0 MiB of 1000.0 MiB (30%), "
                                            "120 of 400 files, 2.0 MiB/s, about 6 min left")


def test_no_estimate_once_the_delivery_has_ended():
    samples = steady(60, bytes_per_second=2 * MIB)
    ended = status_answer("delivered", "Completed", planned_bytes=1000 * MIB,
                          copied_bytes=1000 * MIB, verified_bytes=1000 * MIB,
                          planned_files=400, copied_files=400, verified_files=400)
    assert seconds_left(ended, samples) is None
    assert progress_line(ended, samples) == \
        "delivered        1000.0 MiB of 1000.0 MiB (100%), 400 of 400 files"
    failed = status_answer("failed", "Failed", planned_bytes=1000 * MIB,
                           copied_bytes=300 * MIB, planned_files=400, failed_files=2)
    assert seconds_left(failed, samples) is None
    assert progress_line(failed, samples).endswith("0 of 400 files, 2 failed")


def test_no_estimate_outside_the_copy_while_it_runs():
    samples = steady(60, bytes_per_second=2 * MIB)
    for phase in ("planning", "writing-manifest", "reporting", "verifying"):
        view = status_answer(phase, planned_bytes=1000 * MIB, copied_bytes=300 * MIB,
                             planned_files=400)
        assert seconds_left(view, samples) is None, phase
        assert "left" not in progress_line(view, samples)


def test_no_estimate_before_enough_is_done():
    samples = steady(60, bytes_per_second=0.25 * MIB)  # 15 MiB of 1000: 1.5%
    view = status_answer("copying", planned_bytes=1000 * MIB, copied_bytes=15 * MIB,
                         planned_files=400)
    assert copy_rate(samples) is not None and seconds_left(view, samples) is None


def test_no_estimate_before_enough_time_is_seen():
    samples = steady(ETA_MIN_SECONDS - 1, bytes_per_second=20 * MIB, step_seconds=2,
                     start_bytes=300 * MIB)
    view = status_answer("copying", planned_bytes=1000 * MIB,
                         copied_bytes=samples[-1].bytes_done, planned_files=400)
    assert copy_rate(samples) is not None and seconds_left(view, samples) is None


def test_no_estimate_while_the_rate_changes():
    fast = steady(30, bytes_per_second=10 * MIB)
    slow = [Sample(30.5 + s.at, fast[-1].bytes_done + s.bytes_done)
            for s in steady(30, bytes_per_second=1 * MIB)]
    view = status_answer("copying", planned_bytes=2000 * MIB,
                         copied_bytes=slow[-1].bytes_done, planned_files=400)
    assert copy_rate(fast + slow) is None
    assert "left" not in progress_line(view, fast + slow)


def test_no_estimate_when_the_copy_stalls():
    moving = steady(40, bytes_per_second=2 * MIB, start_bytes=200 * MIB)
    stalled = moving + [Sample(40 + s, moving[-1].bytes_done) for s in range(1, 32)]
    assert copy_rate(moving) is not None and copy_rate(stalled) is None


def test_no_estimate_when_bytes_go_back():
    # a unit tried again starts its count over
    samples = steady(60, bytes_per_second=2 * MIB, start_bytes=300 * MIB)
    samples[80] = Sample(samples[80].at, samples[79].bytes_done - 50 * MIB)
    assert copy_rate(samples) is None


def test_a_delivery_that_has_not_planned_yet():
    assert progress_line(status_answer(None, "Pending", planned_bytes=None,
                                       planned_files=None)) == "starting"
    assert progress_line(status_answer("planning", planned_bytes=None,
                                       planned_files=None)) == "planning"


def test_a_folder_delivered_before_counts_what_is_verified():
    view = status_answer("verifying", planned_bytes=64 * MIB, verified_bytes=16 * MIB,
                         planned_files=16, verified_files=8)
    assert progress_line(view) == "verifying        16.0 MiB of 64.0 MiB (25%), 8 of 16 files"


def test_an_empty_folder_is_all_done():
    view = status_answer("delivered", "Completed", planned_bytes=0, planned_files=0)
    assert progress_line(view) == "delivered        0 B of 0 B (100%), 0 of 0 files"
