"""tests/infra: checks on infra/ and on the settings the app reads.

Its helpers (bicep.py, bicep_eval.py, deployment.py, grants.py, app_code.py) live next to
these tests; this file makes them importable whatever pytest's import mode, and puts the pinned
Bicep grammar (requirements-bicep.txt) on the path first, installing it on first use."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REQUIREMENTS = HERE / "requirements-bicep.txt"
PACKAGES = HERE.parents[1] / ".venv" / "bicep-reader"


def _bicep_grammar_on_path() -> None:
    stamp = PACKAGES / "requirements.sha256"
    digest = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()
    if not (stamp.exists() and stamp.read_text() == digest):
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
             "--upgrade", "--target", str(PACKAGES), "-r", str(REQUIREMENTS)],
            check=True, timeout=600,
        )
        stamp.write_text(digest)
    sys.path.insert(0, str(PACKAGES))


_bicep_grammar_on_path()
sys.path.insert(0, str(HERE))

from bicep import BicepFile  # noqa: E402  (the grammar is on the path only now)
from deployment import MAIN_BICEP, REPO_ROOT, account_id  # noqa: E402


@pytest.fixture(scope="session")
def main_bicep() -> BicepFile:
    return BicepFile.read(REPO_ROOT / MAIN_BICEP)


@pytest.fixture
def given() -> dict[str, object]:
    """The required parameters of infra/main.bicep, as azd passes them (the others default)."""
    return {
        "environmentName": "ddd-test",
        "location": "eastus2",
        "sourceStorageAccountIds": account_id("sequencingcore"),
        "sinkStorageAccountIds": ",".join([account_id("labsmith"), account_id("otherlab")]),
        "websiteUrl": "https://ddd.example.edu",
        "deployerPrincipalId": "00000000-0000-0000-0000-00000000d0d0",
    }

