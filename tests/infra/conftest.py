"""tests/infra: checks on infra/ and on the settings the app reads. Its helpers live in
infra_checks.py next to these tests; make it importable whatever pytest's import mode."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
