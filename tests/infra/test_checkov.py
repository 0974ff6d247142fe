"""Static check of infra/ with checkov (bicep framework): no failed check, no parse error,
and every skipped check named with its reason in an inline `checkov:skip` comment.

checkov runs from its own virtualenv (.venv/checkov), built from requirements-checkov.txt the
first time (about half a minute): it cannot share the app's .venv (see that file). Set
CHECKOV_BIN to use another checkov executable instead.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from deployment import REPO_ROOT

REQUIREMENTS = Path(__file__).with_name("requirements-checkov.txt")
TOOL_VENV = REPO_ROOT / ".venv" / "checkov"
INFRA = REPO_ROOT / "infra"
SKIP_COMMENT = re.compile(r"checkov:skip=([A-Z0-9_]+):(.*)")


def _pinned_version() -> str:
    match = re.search(r"^checkov==(\S+)$", REQUIREMENTS.read_text(), re.MULTILINE)
    assert match, f"{REQUIREMENTS.name} pins no checkov version"
    return match.group(1)


def _checkov_executable() -> str:
    override = os.environ.get("CHECKOV_BIN")
    if override:
        return override
    executable = TOOL_VENV / "bin" / "checkov"
    stamp = TOOL_VENV / "requirements.sha256"
    digest = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()
    if executable.exists() and stamp.exists() and stamp.read_text() == digest:
        return str(executable)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(TOOL_VENV)], check=True)
    install = subprocess.run(
        [str(TOOL_VENV / "bin" / "python"), "-m", "pip", "install", "--quiet",
         "--disable-pip-version-check", "-r", str(REQUIREMENTS)],
        capture_output=True, text=True, timeout=900,
    )
    assert install.returncode == 0, f"installing checkov failed:\n{install.stderr[-3000:]}"
    stamp.write_text(digest)
    return str(executable)


@pytest.fixture(scope="module")
def checkov_report() -> dict:
    executable = _checkov_executable()
    version = subprocess.run([executable, "--version"], capture_output=True, text=True,
                             timeout=120)
    if not os.environ.get("CHECKOV_BIN"):
        assert version.stdout.strip() == _pinned_version(), version.stdout + version.stderr
    result = subprocess.run(
        [executable, "--directory", str(INFRA), "--framework", "bicep", "--output", "json",
         "--skip-download"],  # no calls to the Prisma Cloud API for guidelines
        capture_output=True, text=True, timeout=300,
        env={**os.environ, "LOG_LEVEL": "WARNING"},
    )
    assert result.stdout.strip(), f"checkov printed no report:\n{result.stderr[-3000:]}"
    report = json.loads(result.stdout)
    if isinstance(report, list):  # one report per framework; only bicep was asked for
        (report,) = report
    report["returncode"] = result.returncode
    return report


def _inline_skips() -> set[tuple[str, str]]:
    skips = set()
    for path in INFRA.rglob("*.bicep"):
        for check_id, reason in SKIP_COMMENT.findall(path.read_text(encoding="utf-8")):
            skips.add(("/" + path.relative_to(INFRA).as_posix(), check_id))
            assert len(reason.strip()) >= 20, f"{path.name}: {check_id} needs a real reason"
    return skips


@pytest.mark.slow
def test_checkov_passes_on_infra(checkov_report):
    summary = checkov_report["summary"]
    failed = [
        f"{check['check_id']} {check['resource']} ({check['file_path']}): {check['check_name']}"
        for check in checkov_report["results"]["failed_checks"]
    ]
    assert not failed, "checkov failed checks:\n  " + "\n  ".join(failed)
    assert checkov_report["returncode"] == 0
    assert summary["parsing_errors"] == 0, "checkov could not parse a Bicep file"
    # A report with nothing passed would mean nothing was scanned.
    assert summary["passed"] > 0
    assert summary["resource_count"] > 0


@pytest.mark.slow
def test_every_bicep_file_with_resources_is_scanned(checkov_report):
    results = checkov_report["results"]
    scanned = {check["file_path"] for kind in ("passed_checks", "skipped_checks", "failed_checks")
               for check in results[kind]}
    for name in ("functionapp.bicep", "storage.bicep", "keyvault.bicep"):
        assert f"/modules/{name}" in scanned


@pytest.mark.slow
def test_each_skipped_check_has_its_reason_in_the_bicep(checkov_report):
    skipped = checkov_report["results"]["skipped_checks"]
    for check in skipped:
        reason = check["check_result"].get("suppress_comment", "")
        assert reason and reason != "No comment provided", check["check_id"]
    used = {(check["file_path"], check["check_id"]) for check in skipped}
    declared = _inline_skips()
    assert used == declared, (
        f"skip comments with no matching check: {sorted(declared - used)}; "
        f"skips without a comment: {sorted(used - declared)}"
    )
