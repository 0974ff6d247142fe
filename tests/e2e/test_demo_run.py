"""`make demo` as a newcomer reads it: the verdict is the last thing printed, below the manifest,
the operators' e-mail and the note of devhost's log, once everything it started has stopped."""

from __future__ import annotations

import subprocess
import sys

import pytest

from demo.__main__ import Outcome, verdict
from tests.e2e.conftest import REPO

pytestmark = pytest.mark.slow


def test_the_demo_prints_its_verdict_last(tmp_path):
    work_dir = tmp_path / "demo"
    run = subprocess.run([sys.executable, "-m", "demo", "--work-dir", str(work_dir)],
                         capture_output=True, text=True, timeout=600, cwd=REPO)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    lines = run.stdout.rstrip("\n").splitlines()
    assert lines[-1] == ("OK: all 16 files arrived and verified; the website recorded the "
                         "manifest and the operators got their e-mail.")
    above = lines[:-1]
    order = [next(i for i, line in enumerate(above) if line.startswith(start)) for start in (
        "7. the manifest the website received:",
        "8. checked 16 delivered files byte for byte",
        "9. the operators' e-mail",
        "   | Delivery 4321 was delivered.",
        "   (devhost log: ")]
    assert order == sorted(order)
    assert "   delivered        64.2 MiB of 64.2 MiB (100%), 16 of 16 files" in above
    assert (work_dir / "devhost" / "devhost.log").exists()  # the demo used the folder it was given
    survivors = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert str(work_dir) not in survivors


def test_a_failed_demo_says_so_with_every_problem():
    text = verdict(Outcome(["a.txt: not in the manifest", "the e-mail stand-in got 0 mails"],
                           16))
    assert text.splitlines() == ["FAILED:", "   a.txt: not in the manifest",
                                 "   the e-mail stand-in got 0 mails"]
