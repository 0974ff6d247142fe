"""What the app's Python code reads from the environment, found with Python's own parser.

Which setting names the code reads (an AST scan of the deployed files), and which modules
touch the process environment at all (only shared/core/config.py may). Everything takes the
repository root, so the tests run the same functions on the real tree and on small synthetic
ones.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

# Directories that hold no deployed app code: never scanned for settings.
EXCLUDED_DIRS = frozenset(
    {"devhost", "ddd_cli", "tests", "bench", "demo", "infra", "docs", "node_modules",
     "__pycache__"}
)
# The one module allowed to read the process environment.
CONFIG_MODULE = Path("shared/core/config.py")

# A string constant that *is* a setting name, e.g. "DDD_WORK_ACCOUNT" (not text mentioning one).
SETTING_NAME = re.compile(r"(?:DDD_[A-Z0-9_]+|AZURE_CLIENT_ID)")
ENVIRON_ATTRIBUTES = frozenset({"environ", "environb", "getenv", "getenvb"})



# ---------------------------------------------------------------- the app's Python


@dataclass(frozen=True, order=True)
class Place:
    path: str
    line: int

    def __str__(self) -> str:
        return f"{self.path}:{self.line}"


def app_python_files(root: Path) -> list[Path]:
    """Every .py file of the app: all of them under `root` except tooling and hidden dirs."""
    files = []
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root).parts[:-1]
        if any(part in EXCLUDED_DIRS or part.startswith(".") for part in parts):
            continue
        files.append(path)
    return files


def _os_aliases(tree: ast.AST) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "os":
                    names.add(alias.asname or "os")
    return names


def _is_os_environ(node: ast.AST, os_names: set[str]) -> bool:
    return (
        isinstance(node, ast.Attribute)
        and node.attr == "environ"
        and isinstance(node.value, ast.Name)
        and node.value.id in os_names
    )


def _literal(node: ast.AST | None) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


def settings_read(root: Path) -> dict[str, list[Place]]:
    """Setting names the app's code reads, with where.

    A name counts when it appears as a whole string constant matching DDD_* or AZURE_CLIENT_ID
    (settings models name them in aliases), or as the literal key of os.environ[...],
    os.environ.get(...) or os.getenv(...), whatever its spelling.
    """
    found: dict[str, list[Place]] = {}

    def add(name: str, path: Path, node: ast.AST) -> None:
        place = Place(path.relative_to(root).as_posix(), getattr(node, "lineno", 0))
        found.setdefault(name, []).append(place)

    for path in app_python_files(root):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        os_names = _os_aliases(tree)
        for node in ast.walk(tree):
            value = _literal(node)
            if value is not None and SETTING_NAME.fullmatch(value):
                add(value, path, node)
            elif isinstance(node, ast.Subscript) and _is_os_environ(node.value, os_names):
                key = _literal(node.slice)
                if key is not None:
                    add(key, path, node)
            elif isinstance(node, ast.Call) and node.args:
                function = node.func
                key = _literal(node.args[0])
                if key is None or not isinstance(function, ast.Attribute):
                    continue
                environ_get = function.attr == "get" and _is_os_environ(function.value, os_names)
                getenv = (
                    function.attr == "getenv"
                    and isinstance(function.value, ast.Name)
                    and function.value.id in os_names
                )
                if environ_get or getenv:
                    add(key, path, node)
    return found


def environment_readers(root: Path) -> list[tuple[Place, str]]:
    """Every place outside shared/core/config.py that touches the process environment."""
    offenders = []
    for path in app_python_files(root):
        relative = path.relative_to(root)
        if relative == CONFIG_MODULE:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        os_names = _os_aliases(tree)
        for node in ast.walk(tree):
            how = None
            if (
                isinstance(node, ast.Attribute)
                and node.attr in ENVIRON_ATTRIBUTES
                and isinstance(node.value, ast.Name)
                and node.value.id in os_names
            ):
                how = f"os.{node.attr}"
            elif isinstance(node, ast.ImportFrom) and node.module == "os":
                imported = {alias.name for alias in node.names} & ENVIRON_ATTRIBUTES
                if imported:
                    how = "from os import " + ", ".join(sorted(imported))
            if how:
                offenders.append((Place(relative.as_posix(), getattr(node, "lineno", 0)), how))
    return sorted(offenders)


# ---------------------------------------------------------------- a minimal Bicep reader
