"""Checks on the deployment that plain Python can make, without a Bicep compiler.

Two halves:
- which settings the app's code reads (an AST scan of its Python files), and which module
  reads the process environment at all;
- a small Bicep reader: just enough lexing (strings with ${...} interpolation, comments,
  nested brackets) to find resources, `var` values and the keys of object literals, so the
  tests can read the Function App's app settings and the role assignments out of infra/.

Everything takes the repository root (or a file) as an argument, so the tests run the same
functions against the real tree and against small synthetic ones.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]

# Directories that hold no deployed app code: never scanned for settings.
EXCLUDED_DIRS = frozenset(
    {"devhost", "tests", "bench", "demo", "infra", "docs", "node_modules", "__pycache__"}
)
# The one module allowed to read the process environment.
CONFIG_MODULE = Path("shared/config.py")

# A string constant that *is* a setting name, e.g. "DDD_WORK_ACCOUNT" (not text mentioning one).
SETTING_NAME = re.compile(r"(?:DDD_[A-Z0-9_]+|AZURE_CLIENT_ID)")
ENVIRON_ATTRIBUTES = frozenset({"environ", "environb", "getenv", "getenvb"})

# Relative to a repository root.
FUNCTION_APP_MODULE = Path("infra/modules/functionapp.bicep")


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
    """Every place outside shared/config.py that touches the process environment."""
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
                offenders.append((Place(relative.as_posix(), node.lineno), how))
    return sorted(offenders)


# ---------------------------------------------------------------- a minimal Bicep reader


class BicepSyntaxError(ValueError):
    pass


_CLOSERS = {"{": "}", "[": "]", "(": ")"}


def _skip_string(text: str, i: int) -> int:
    """`text[i]` opens a string; return the index just past it."""
    if text.startswith("'''", i):
        end = text.find("'''", i + 3)
        if end < 0:
            raise BicepSyntaxError(f"unterminated multi-line string at {i}")
        return end + 3
    i += 1
    while i < len(text):
        char = text[i]
        if char == "\\":
            i += 2
        elif char == "'":
            return i + 1
        elif text.startswith("${", i):
            i = matching_close(text, i + 1) + 1
        elif char == "\n":
            raise BicepSyntaxError(f"newline inside a string at {i}")
        else:
            i += 1
    raise BicepSyntaxError("unterminated string")


def _skip_comment(text: str, i: int) -> int | None:
    """If a comment starts at `i`, return the index just past it."""
    if text.startswith("//", i):
        end = text.find("\n", i)
        return len(text) if end < 0 else end
    if text.startswith("/*", i):
        end = text.find("*/", i + 2)
        if end < 0:
            raise BicepSyntaxError("unterminated block comment")
        return end + 2
    return None


def code_positions(text: str, start: int = 0, end: int | None = None) -> Iterator[tuple[int, int]]:
    """Yield (index, depth) for each code character (not in strings or comments).

    Depth counts the brackets open before that character, relative to `start`; a closing
    bracket is reported at the depth of its opener.
    """
    end = len(text) if end is None else end
    stack: list[str] = []
    i = start
    while i < end:
        char = text[i]
        skipped = _skip_comment(text, i)
        if skipped is not None:
            i = skipped
            continue
        if char == "'":
            yield i, len(stack)
            i = _skip_string(text, i)
            continue
        if char in _CLOSERS:
            yield i, len(stack)
            stack.append(_CLOSERS[char])
        elif char in ")]}":
            if not stack or stack.pop() != char:
                raise BicepSyntaxError(f"unbalanced {char!r} at {i}")
            yield i, len(stack)
        else:
            yield i, len(stack)
        i += 1


def matching_close(text: str, open_index: int) -> int:
    """Index of the bracket closing the one at `open_index`."""
    if text[open_index] not in _CLOSERS:
        raise BicepSyntaxError(f"no bracket at {open_index}")
    for index, depth in code_positions(text, open_index):
        if depth == 0 and index > open_index and text[index] in ")]}":
            return index
    raise BicepSyntaxError(f"bracket at {open_index} is never closed")


_KEY = re.compile(r"([A-Za-z_][A-Za-z0-9_]*|'[^'\\$]*')\s*:")


def object_entries(text: str, open_index: int) -> dict[str, str]:
    """Top-level `key: value` entries of the object literal whose `{` is at `open_index`.

    Values are returned as source text (stripped)."""
    close = matching_close(text, open_index)
    entries: dict[str, str] = {}
    # Split the body at top-level newlines and commas.
    pieces: list[tuple[int, int]] = []
    piece_start = open_index + 1
    for index, depth in code_positions(text, open_index + 1, close):
        if depth == 0 and text[index] in "\n,":
            pieces.append((piece_start, index))
            piece_start = index + 1
    pieces.append((piece_start, close))
    for piece_start, piece_end in pieces:
        # Read `key:` at the start of the piece, comments dropped.
        code = strip_comments(text[piece_start:piece_end]).strip()
        if not code:
            continue
        match = _KEY.match(code)
        if not match:
            raise BicepSyntaxError(f"not a `key: value` entry: {code[:60]!r}")
        entries[match.group(1).strip("'")] = code[match.end():].strip()
    return entries


def strip_comments(text: str) -> str:
    """The source with comments blanked out (strings kept), positions unchanged."""
    out = list(text)
    i = 0
    while i < len(text):
        skipped = _skip_comment(text, i)
        if skipped is not None:
            for j in range(i, skipped):
                if out[j] != "\n":
                    out[j] = " "
            i = skipped
        elif text[i] == "'":
            i = _skip_string(text, i)
        else:
            i += 1
    return "".join(out)


@dataclass
class Resource:
    symbol: str
    type: str
    api_version: str
    existing: bool
    body: str  # the text of its `{ ... }`, braces included
    header: str  # from `resource` to the body's `{`, e.g. loop or condition


_RESOURCE = re.compile(
    r"^[ \t]*resource\s+(\w+)\s+'([^'@]+)@([^']+)'\s+(existing\s+)?=", re.MULTILINE
)


def resources(text: str) -> list[Resource]:
    """Every `resource` declaration in a Bicep file."""
    code = strip_comments(text)
    found = []
    for match in _RESOURCE.finditer(code):
        # The body is the first `{` at the top level, or inside `[for ...: {` for a loop.
        is_loop = code[match.end():].lstrip().startswith("[")
        body_open = None
        for index, depth in code_positions(code, match.end()):
            if code[index] == "{" and depth == (1 if is_loop else 0):
                body_open = index
                break
        if body_open is None:
            raise BicepSyntaxError(f"resource {match.group(1)} has no body")
        body_close = matching_close(code, body_open)
        found.append(
            Resource(
                symbol=match.group(1),
                type=match.group(2),
                api_version=match.group(3),
                existing=bool(match.group(4)),
                body=code[body_open : body_close + 1],
                header=code[match.start() : body_open],
            )
        )
    return found


def variable(text: str, name: str) -> str:
    """The expression of `var <name> = ...` (to the end of its line, or of its brackets)."""
    code = strip_comments(text)
    match = re.search(rf"^var\s+{re.escape(name)}\s*=\s*", code, re.MULTILINE)
    if not match:
        raise KeyError(name)
    end = len(code)
    for index, depth in code_positions(code, match.end()):
        if depth == 0 and code[index] == "\n":
            end = index
            break
    return code[match.end() : end].strip()


def parameters(text: str) -> dict[str, str | None]:
    """`param` declarations: name -> default value source text (None when required)."""
    code = strip_comments(text)
    found: dict[str, str | None] = {}
    for match in re.finditer(r"^param\s+(\w+)\s+\w+(?:\s*=\s*(.+))?$", code, re.MULTILINE):
        found[match.group(1)] = match.group(2).strip() if match.group(2) else None
    return found


@dataclass
class AppSettings:
    """The Function App's app settings as the Bicep sets them: name -> value source text."""

    always: dict[str, str] = field(default_factory=dict)
    conditional: dict[str, str] = field(default_factory=dict)

    @property
    def names(self) -> set[str]:
        return set(self.always) | set(self.conditional)


def _outside_objects(expression: str) -> str:
    """The expression with strings, comments and everything inside `{...}` blanked out."""
    out = [" "] * len(expression)
    stack: list[str] = []
    for index, _ in code_positions(expression):
        char = expression[index]
        if char == "'":
            continue
        if char in ")]}":
            stack.pop()
        if "{" not in stack:
            out[index] = char
        if char in "{[(":
            stack.append(char)
    return "".join(out)


def _collect_settings(text: str, expression: str, conditional: bool, into: AppSettings) -> None:
    """Add the keys an app-settings expression can produce: object literals, `var`s holding
    them, union(...) of those, and `cond ? {...} : {...}` (whose keys are conditional)."""
    top = _outside_objects(expression)
    is_conditional = conditional or "?" in top
    target = into.conditional if is_conditional else into.always
    for index, depth in code_positions(expression):
        if depth == 0 and expression[index] == "{":
            target.update(object_entries(expression, index))
    # Identifiers outside object literals that name a `var` (not functions, not parameters).
    for match in re.finditer(r"\b([A-Za-z_]\w*)\b(?!\s*\()", top):
        try:
            value = variable(text, match.group(1))
        except KeyError:
            continue
        _collect_settings(text, value, is_conditional, into)


def app_settings(bicep_file: Path) -> AppSettings:
    """Read the app settings the Function App module sets.

    Looks for the `Microsoft.Web/sites/config` resource named 'appsettings' (and, if present,
    `siteConfig.appSettings` name/value pairs on a `Microsoft.Web/sites` resource)."""
    text = bicep_file.read_text(encoding="utf-8")
    result = AppSettings()
    found = False
    for resource in resources(text):
        if resource.type.lower() == "microsoft.web/sites/config":
            entries = object_entries(resource.body, 0)
            if entries.get("name", "").strip("'") != "appsettings":
                continue
            found = True
            _collect_settings(text, entries.get("properties", ""), False, result)
        elif resource.type.lower() == "microsoft.web/sites":
            for name in re.findall(r"name:\s*'([^']+)'\s*\n\s*value:", resource.body):
                found = True
                result.always[name] = "(siteConfig.appSettings)"
    if not found:
        raise BicepSyntaxError(f"{bicep_file}: no app settings found")
    return result


def missing_settings(root: Path, allowed_unset: set[str]) -> dict[str, list[Place]]:
    """Settings the code under `root` reads that the Function App module does not set."""
    settings = app_settings(root / FUNCTION_APP_MODULE)
    return {
        name: places
        for name, places in sorted(settings_read(root).items())
        if name not in settings.names and name not in allowed_unset
    }
