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
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]

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


# ---------------------------------------------------------------- Bicep expressions
#
# A parser and an evaluator for the part of the Bicep expression language infra/ uses, so the
# tests can follow where a value comes from (which `param`s and `var`s it is built from) and
# compute it on sample parameters. Anything outside that part raises BicepSyntaxError or
# BicepEvaluationError instead of guessing.


class BicepEvaluationError(ValueError):
    pass


@dataclass(frozen=True)
class Str:
    parts: tuple[str | Node, ...]  # text, and the expressions of ${...} interpolations


@dataclass(frozen=True)
class Literal:
    value: int | bool | None


@dataclass(frozen=True)
class Name:
    id: str


@dataclass(frozen=True)
class Call:
    function: str
    args: tuple[Node, ...]


@dataclass(frozen=True)
class Lambda:
    params: tuple[str, ...]
    body: Node


@dataclass(frozen=True)
class Member:
    target: Node
    name: str


@dataclass(frozen=True)
class Index:
    target: Node
    index: Node


@dataclass(frozen=True)
class Array:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Object:
    entries: tuple[tuple[str, Node], ...]

    def get(self, key: str) -> Node | None:
        return next((value for name, value in self.entries if name == key), None)


@dataclass(frozen=True)
class Unary:
    op: str
    operand: Node


@dataclass(frozen=True)
class Binary:
    op: str
    left: Node
    right: Node


@dataclass(frozen=True)
class Conditional:
    test: Node
    then: Node
    otherwise: Node


@dataclass(frozen=True)
class ForLoop:
    """`[for item in collection: body]` or `[for (item, index) in collection: body]`."""

    names: tuple[str, ...]
    collection: Node
    body: Node


@dataclass(frozen=True)
class Guarded:
    """`if (condition) body`: a conditional module or resource, or a filtered loop body."""

    condition: Node
    body: Node


Node = Str | Literal | Name | Call | Lambda | Member | Index | Array | Object | Unary | Binary | \
    Conditional | ForLoop | Guarded

_OPERATORS = ("=>", "==", "!=", "=~", "!~", "<=", ">=", "&&", "||", "??", ".?",
              "(", ")", "[", "]", "{", "}", ",", ":", ".", "?", "!", "<", ">", "+", "-", "*",
              "/", "%")
_BINARY_LEVELS: tuple[tuple[str, ...], ...] = (
    ("??",), ("||",), ("&&",), ("==", "!=", "=~", "!~"), ("<", ">", "<=", ">="), ("+", "-"),
    ("*", "/", "%"),
)
_ESCAPES = {"\\": "\\", "'": "'", "n": "\n", "r": "\r", "t": "\t", "$": "$"}


@dataclass(frozen=True)
class _Token:
    kind: str  # "str", "num", "name", "op", "nl"
    value: str | Str
    at: int


def _read_string(text: str, i: int) -> tuple[Str, int]:
    """The string literal opening at `text[i]`, and the index just past it."""
    if text.startswith("'''", i):
        end = text.find("'''", i + 3)
        if end < 0:
            raise BicepSyntaxError(f"unterminated multi-line string at {i}")
        return Str((text[i + 3 : end],)), end + 3
    parts: list[str | Node] = []
    chunk: list[str] = []
    i += 1
    while i < len(text):
        char = text[i]
        if char == "\\":
            escaped = text[i + 1 : i + 2]
            if escaped not in _ESCAPES:
                raise BicepSyntaxError(f"unsupported escape \\{escaped} at {i}")
            chunk.append(_ESCAPES[escaped])
            i += 2
        elif char == "'":
            parts.append("".join(chunk))
            return Str(tuple(part for part in parts if part != "")), i + 1
        elif text.startswith("${", i):
            close = matching_close(text, i + 1)
            parts.append("".join(chunk))
            chunk = []
            parts.append(parse_expression(text[i + 2 : close]))
            i = close + 1
        elif char == "\n":
            raise BicepSyntaxError(f"newline inside a string at {i}")
        else:
            chunk.append(char)
            i += 1
    raise BicepSyntaxError("unterminated string")


def _tokens(text: str) -> list[_Token]:
    code = strip_comments(text)
    found: list[_Token] = []
    i = 0
    while i < len(code):
        char = code[i]
        if char == "\n":
            found.append(_Token("nl", "\n", i))
            i += 1
        elif char.isspace():
            i += 1
        elif char == "'":
            string, end = _read_string(code, i)
            found.append(_Token("str", string, i))
            i = end
        elif char.isdigit():
            match = re.match(r"\d+", code[i:])
            assert match
            found.append(_Token("num", match.group(0), i))
            i += match.end()
        elif char.isalpha() or char == "_":
            match = re.match(r"[A-Za-z_][A-Za-z0-9_]*", code[i:])
            assert match
            found.append(_Token("name", match.group(0), i))
            i += match.end()
        else:
            op = next((op for op in _OPERATORS if code.startswith(op, i)), None)
            if op is None:
                raise BicepSyntaxError(f"unexpected {char!r} at {i}")
            found.append(_Token("op", op, i))
            i += len(op)
    return found


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokens(text)
        self.position = 0

    # -- token helpers

    def peek(self, skip_newlines: bool = False) -> _Token | None:
        position = self.position
        while skip_newlines and position < len(self.tokens) and self.tokens[position].kind == "nl":
            position += 1
        return self.tokens[position] if position < len(self.tokens) else None

    def at(self, kind: str, value: str | None = None, skip_newlines: bool = False) -> bool:
        token = self.peek(skip_newlines)
        return token is not None and token.kind == kind and (value is None or token.value == value)

    def take(self, kind: str, value: str | None = None) -> _Token:
        token = self.peek()
        if token is None or token.kind != kind or (value is not None and token.value != value):
            got = "the end" if token is None else repr(token.value)
            raise BicepSyntaxError(f"expected {value or kind}, got {got}")
        self.position += 1
        return token

    def skip_newlines(self) -> None:
        while self.at("nl"):
            self.position += 1

    def name(self) -> str:
        value = self.take("name").value
        assert isinstance(value, str)
        return value

    # -- grammar

    def expression(self) -> Node:
        test = self.binary(0)
        if self.at("op", "?", skip_newlines=True):
            self.skip_newlines()
            self.take("op", "?")
            self.skip_newlines()
            then = self.expression()
            self.skip_newlines()
            self.take("op", ":")
            self.skip_newlines()
            return Conditional(test, then, self.expression())
        return test

    def binary(self, level: int) -> Node:
        if level == len(_BINARY_LEVELS):
            return self.unary()
        left = self.binary(level + 1)
        while (token := self.peek()) is not None and token.kind == "op" \
                and token.value in _BINARY_LEVELS[level]:
            self.position += 1
            self.skip_newlines()
            assert isinstance(token.value, str)
            left = Binary(token.value, left, self.binary(level + 1))
        return left

    def unary(self) -> Node:
        if self.at("op", "!") or self.at("op", "-"):
            op = self.take("op").value
            assert isinstance(op, str)
            return Unary(op, self.unary())
        return self.postfix(self.primary())

    def postfix(self, node: Node) -> Node:
        while True:
            if self.at("op", "."):
                self.position += 1
                member = self.name()
                if self.at("op", "(") and isinstance(node, Name):  # a namespace: sys.split(...)
                    node = Call(f"{node.id}.{member}", self.arguments())
                else:
                    node = Member(node, member)
            elif self.at("op", "["):
                self.position += 1
                self.skip_newlines()
                index = self.expression()
                self.skip_newlines()
                self.take("op", "]")
                node = Index(node, index)
            else:
                return node

    def arguments(self) -> tuple[Node, ...]:
        self.take("op", "(")
        args: list[Node] = []
        self.skip_newlines()
        while not self.at("op", ")"):
            args.append(self.expression())
            self.skip_newlines()
            if not self.at("op", ")"):
                self.take("op", ",")
                self.skip_newlines()
        self.take("op", ")")
        return tuple(args)

    def primary(self) -> Node:
        token = self.peek()
        if token is None:
            raise BicepSyntaxError("expression expected, got the end")
        if token.kind == "str":
            self.position += 1
            assert isinstance(token.value, Str)
            return token.value
        if token.kind == "num":
            self.position += 1
            return Literal(int(str(token.value)))
        if token.kind == "name":
            word = self.name()
            if word in ("true", "false"):
                return Literal(word == "true")
            if word == "null":
                return Literal(None)
            if word == "if" and self.at("op", "("):
                self.take("op", "(")
                condition = self.expression()
                self.take("op", ")")
                self.skip_newlines()
                return Guarded(condition, self.primary())
            if self.at("op", "=>"):
                self.position += 1
                return Lambda((word,), self.expression())
            if self.at("op", "("):
                return Call(word, self.arguments())
            return Name(word)
        if token.value == "(":
            lambda_params = self.lambda_params()
            if lambda_params is not None:
                return Lambda(lambda_params, self.expression())
            self.take("op", "(")
            self.skip_newlines()
            inner = self.expression()
            self.skip_newlines()
            self.take("op", ")")
            return inner
        if token.value == "[":
            return self.array()
        if token.value == "{":
            return self.object()
        raise BicepSyntaxError(f"unexpected {token.value!r} at {token.at}")

    def lambda_params(self) -> tuple[str, ...] | None:
        """`(a, b) =>` at the current position: its names (consumed), else None."""
        start = self.position
        self.take("op", "(")
        names: list[str] = []
        while self.at("name"):
            names.append(self.name())
            if not self.at("op", ","):
                break
            self.position += 1
        if self.at("op", ")"):
            self.position += 1
            if self.at("op", "=>"):
                self.position += 1
                return tuple(names)
        self.position = start
        return None

    def separator(self, closer: str) -> None:
        """Between items of an array or object: a newline or a comma, or the closer next."""
        if self.at("op", closer):
            return
        if not (self.at("nl") or self.at("op", ",")):
            token = self.peek()
            raise BicepSyntaxError(f"expected a newline, ',' or {closer!r} at "
                                   f"{token.at if token else 'the end'}")
        self.position += 1
        self.skip_newlines()

    def array(self) -> Node:
        self.take("op", "[")
        self.skip_newlines()
        if self.at("name", "for"):
            self.position += 1
            if self.at("op", "("):
                self.position += 1
                names = [self.name()]
                while self.at("op", ","):
                    self.position += 1
                    names.append(self.name())
                self.take("op", ")")
            else:
                names = [self.name()]
            self.take("name", "in")
            collection = self.expression()
            self.take("op", ":")
            self.skip_newlines()
            body = self.expression()
            self.skip_newlines()
            self.take("op", "]")
            return ForLoop(tuple(names), collection, body)
        items: list[Node] = []
        while not self.at("op", "]"):
            items.append(self.expression())
            self.separator("]")
        self.take("op", "]")
        return Array(tuple(items))

    def object(self) -> Node:
        self.take("op", "{")
        self.skip_newlines()
        entries: list[tuple[str, Node]] = []
        while not self.at("op", "}"):
            token = self.peek()
            if token is not None and token.kind == "str":
                assert isinstance(token.value, Str)
                if not all(isinstance(part, str) for part in token.value.parts):
                    raise BicepSyntaxError(f"interpolated object key at {token.at}")
                key = "".join(str(part) for part in token.value.parts)
                self.position += 1
            else:
                key = self.name()
            self.take("op", ":")
            self.skip_newlines()
            entries.append((key, self.expression()))
            self.separator("}")
        self.take("op", "}")
        return Object(tuple(entries))


def parse_expression(text: str) -> Node:
    """Parse one Bicep expression (comments allowed)."""
    parser = _Parser(text)
    parser.skip_newlines()
    node = parser.expression()
    parser.skip_newlines()
    if parser.peek() is not None:
        raise BicepSyntaxError(f"unexpected {parser.peek()!r} after the expression in {text!r}")
    return node


def free_names(node: Node, bound: frozenset[str] = frozenset()) -> set[str]:
    """The names an expression refers to (params, vars, modules, resources): not function
    names, not property or key names, not lambda or loop variables."""
    match node:
        case Name(id=name):
            return set() if name in bound else {name}
        case Literal():
            return set()
        case Str(parts=parts):
            return set().union(*(free_names(p, bound) for p in parts if not isinstance(p, str)))
        case Call(args=args) | Array(items=args):
            return set().union(*(free_names(arg, bound) for arg in args))
        case Lambda(params=params, body=body):
            return free_names(body, bound | set(params))
        case Member(target=target):
            return free_names(target, bound)
        case Index(target=target, index=index) | Binary(left=target, right=index):
            return free_names(target, bound) | free_names(index, bound)
        case Unary(operand=operand):
            return free_names(operand, bound)
        case Object(entries=entries):
            return set().union(*(free_names(value, bound) for _, value in entries))
        case Conditional(test=test, then=then, otherwise=otherwise):
            return free_names(test, bound) | free_names(then, bound) | \
                free_names(otherwise, bound)
        case ForLoop(names=names, collection=collection, body=body):
            return free_names(collection, bound) | free_names(body, bound | set(names))
        case Guarded(condition=condition, body=body):
            return free_names(condition, bound) | free_names(body, bound)
    raise TypeError(node)


# ---------------------------------------------------------------- Bicep declarations


@dataclass(frozen=True)
class Module:
    symbol: str
    path: str  # as written, relative to the declaring file
    value: Node  # an Object, or a Guarded / ForLoop around one

    @property
    def body(self) -> Object:
        node = self.value
        while isinstance(node, Guarded | ForLoop):
            node = node.body
        if not isinstance(node, Object):
            raise BicepSyntaxError(f"module {self.symbol}: no body")
        return node

    @property
    def loop(self) -> ForLoop | None:
        return self.value if isinstance(self.value, ForLoop) else None

    @property
    def params(self) -> Object:
        params = self.body.get("params") or Object(())
        if not isinstance(params, Object):
            raise BicepSyntaxError(f"module {self.symbol}: params is not an object literal")
        return params


def modules(text: str) -> list[Module]:
    """Every `module` declaration of a Bicep file, its value parsed."""
    code = strip_comments(text)
    found = []
    for match in re.finditer(r"^module\s+(\w+)\s+'([^']+)'\s*=", code, re.MULTILINE):
        # The value ends where its body's bracket closes (after any `if (...)`).
        start = match.end()
        condition = re.compile(r"\s*if\s*(?=\()").match(code, start)
        first = matching_close(code, condition.end()) + 1 if condition else start
        first += len(code[first:]) - len(code[first:].lstrip())
        end = matching_close(code, first) + 1
        found.append(Module(match.group(1), match.group(2), parse_expression(code[start:end])))
    return found


def declarations(text: str) -> tuple[dict[str, Node | None], dict[str, Node], set[str]]:
    """(params: name -> default or None, vars: name -> value, other symbols: modules and
    resources) of a Bicep file."""
    params = {name: None if default is None else parse_expression(default)
              for name, default in parameters(text).items()}
    code = strip_comments(text)
    variables = {name: parse_expression(variable(text, name))
                 for name in re.findall(r"^var\s+(\w+)\s*=", code, re.MULTILINE)}
    symbols = set(re.findall(r"^(?:module|resource)\s+(\w+)\s", code, re.MULTILINE))
    return params, variables, symbols


# ---------------------------------------------------------------- evaluating on sample values


@dataclass(frozen=True)
class Unknown:
    """A value known only at deployment (a module output, a resource property): stands for
    itself, e.g. Unknown('storage.outputs.name')."""

    path: str


@dataclass(frozen=True)
class _Closure:
    params: tuple[str, ...]
    body: Node
    scope: Scope
    bound: dict[str, object]


def _text_of(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int):
        return str(value)
    raise BicepEvaluationError(f"cannot make text of {value!r}")


def _union(*values: object) -> object:
    if all(isinstance(value, list) for value in values):
        merged: list[object] = []
        for value in values:
            assert isinstance(value, list)
            merged.extend(item for item in value if item not in merged)
        return merged
    if all(isinstance(value, dict) for value in values):
        result: dict[str, object] = {}
        for value in values:
            assert isinstance(value, dict)
            result.update(value)
        return result
    raise BicepEvaluationError(f"union() of {values!r}")


def _last(value: object) -> object:
    if isinstance(value, list | str) and value:
        return value[-1]
    raise BicepEvaluationError(f"last() of {value!r}")


def _string_function(name: str, function: object) -> object:
    def checked(*args: object) -> object:
        if not all(isinstance(arg, str) for arg in args):
            raise BicepEvaluationError(f"{name}() takes strings, got {args!r}")
        assert callable(function)
        return function(*args)
    return checked


_FUNCTIONS: dict[str, object] = {
    "split": _string_function("split", lambda text, delimiter: text.split(delimiter)),
    "replace": _string_function("replace", lambda text, old, new: text.replace(old, new)),
    "toLower": _string_function("toLower", str.lower),
    "join": lambda items, delimiter: delimiter.join(_text_of(item) for item in items),
    "empty": lambda value: value in ("", [], {}, None),
    "last": _last,
    "union": _union,
    "concat": lambda *values: (
        [item for value in values for item in value] if all(isinstance(v, list) for v in values)
        else "".join(_text_of(value) for value in values)),
}


class Scope:
    """The names of one Bicep file, with given parameter values; vars are evaluated on demand.

    `outer` resolves a parameter that is not given and has no default (for a module: the value
    its parent passes in). Module and resource symbols evaluate to Unknown."""

    def __init__(self, text: str, given: dict[str, object],
                 outer: Callable[[str], object] | None = None) -> None:
        self.params, self.variables, self.symbols = declarations(text)
        self.given = given
        self.outer = outer
        self._cache: dict[str, object] = {}

    def lookup(self, name: str) -> object:
        if name in self.given:
            return self.given[name]
        if name not in self._cache:
            if name in self.variables:
                self._cache[name] = self.evaluate(self.variables[name])
            elif name in self.params:
                default = self.params[name]
                if default is not None:
                    self._cache[name] = self.evaluate(default)
                elif self.outer is not None:
                    self._cache[name] = self.outer(name)
                else:
                    raise BicepEvaluationError(f"parameter {name} has no value")
            elif name in self.symbols:
                self._cache[name] = Unknown(name)
            else:
                raise BicepEvaluationError(f"unknown name {name}")
        return self._cache[name]

    def evaluate(self, node: Node, bound: dict[str, object] | None = None) -> object:
        """The value of `node`; `bound` holds lambda and loop variables."""
        bound = bound or {}

        def ev(inner: Node) -> object:
            return self.evaluate(inner, bound)

        match node:
            case Literal(value=constant):
                return constant
            case Name(id=name):
                return bound[name] if name in bound else self.lookup(name)
            case Str(parts=parts):
                return "".join(part if isinstance(part, str) else _text_of(ev(part))
                               for part in parts)
            case Array(items=elements):
                return [ev(element) for element in elements]
            case Object(entries=entries):
                return {key: ev(value) for key, value in entries}
            case Member(target=target, name=member):
                value = ev(target)
                if isinstance(value, Unknown):
                    return Unknown(f"{value.path}.{member}")
                if isinstance(value, dict) and member in value:
                    return value[member]
                raise BicepEvaluationError(f"no property {member} in {value!r}")
            case Index(target=target, index=subscript):
                value, key = ev(target), ev(subscript)
                if isinstance(value, list) and isinstance(key, int) and \
                        not isinstance(key, bool) and 0 <= key < len(value):
                    return value[key]
                if isinstance(value, dict) and isinstance(key, str) and key in value:
                    return value[key]
                raise BicepEvaluationError(f"index {key!r} out of {value!r}")
            case Conditional(test=test, then=then, otherwise=otherwise):
                condition = ev(test)
                if not isinstance(condition, bool):
                    raise BicepEvaluationError(f"condition is {condition!r}")
                return ev(then) if condition else ev(otherwise)
            case Unary(op="!", operand=operand):
                value = ev(operand)
                if not isinstance(value, bool):
                    raise BicepEvaluationError(f"!{value!r}")
                return not value
            case Binary(op=op, left=left, right=right) if op in ("==", "!=", "&&", "||"):
                a = ev(left)
                if op in ("==", "!="):
                    return (a == ev(right)) == (op == "==")
                if not isinstance(a, bool):
                    raise BicepEvaluationError(f"{a!r} {op} ...")
                if a is (op == "||"):  # false && ..., true || ...
                    return a
                b = ev(right)
                if not isinstance(b, bool):
                    raise BicepEvaluationError(f"{a!r} {op} {b!r}")
                return b
            case Lambda(params=params, body=body):
                return _Closure(params, body, self, dict(bound))
            case ForLoop(names=names, collection=collection, body=body):
                results = []
                for position, item in enumerate(self._list(ev(collection))):
                    inner = {**bound, names[0]: item}
                    if len(names) > 1:
                        inner[names[1]] = position
                    if isinstance(body, Guarded):
                        if self.evaluate(body.condition, inner) is not True:
                            continue
                        results.append(self.evaluate(body.body, inner))
                    else:
                        results.append(self.evaluate(body, inner))
                return results
            case Call(function="map", args=(collection, mapper)):
                return [self._apply(ev(mapper), item) for item in self._list(ev(collection))]
            case Call(function=name, args=args) if name in _FUNCTIONS:
                values = [ev(arg) for arg in args]
                if any(isinstance(value, Unknown | _Closure) for value in values):
                    raise BicepEvaluationError(f"{name}() of {values!r}")
                function = _FUNCTIONS[name]
                assert callable(function)
                try:
                    return function(*values)
                except (TypeError, AttributeError) as error:
                    raise BicepEvaluationError(f"{name}({values!r}): {error}") from None
        raise BicepEvaluationError(f"cannot evaluate {node!r}")

    @staticmethod
    def _list(value: object) -> list[object]:
        if not isinstance(value, list):
            raise BicepEvaluationError(f"not an array: {value!r}")
        return value

    @staticmethod
    def _apply(function: object, item: object) -> object:
        if not isinstance(function, _Closure) or len(function.params) != 1:
            raise BicepEvaluationError(f"not a one-parameter lambda: {function!r}")
        return function.scope.evaluate(function.body, {**function.bound,
                                                        function.params[0]: item})


# ---------------------------------------------------------------- allow-lists and role assignments
#
# DDD_SOURCE_ACCOUNTS and DDD_SINK_ACCOUNTS name the accounts the app may read from and write
# to. They must name exactly the accounts main.bicep grants source and sink roles on, so both
# must come from the lists the role modules loop over. Two checks: where the settings' values
# come from (followed through the Bicep text), and what they are on sample parameters.

MAIN_BICEP = Path("infra/main.bicep")
ROLE_MODULE = "modules/roles.bicep"  # as main.bicep names it
# What a storage role lets the app do with an account: read from it, or write to it.
SOURCE_ROLES = frozenset({"StorageBlobDataReader", "StorageBlobDelegator"})
SINK_ROLES = frozenset({"StorageBlobDataContributor", "StorageBlobDataOwner"})
ALLOW_LISTS = {"source": "DDD_SOURCE_ACCOUNTS", "sink": "DDD_SINK_ACCOUNTS"}


def _side(roles: set[str]) -> str | None:
    """"sink" for roles that write, "source" for read-only ones, None for other roles."""
    if roles & SINK_ROLES:
        return "sink"
    if roles & SOURCE_ROLES:
        return "source"
    return None


@dataclass(frozen=True)
class RoleLoop:
    """A roles.bicep module deployed once per item of a list (one per source or sink id)."""

    module: str
    side: str | None
    collection: frozenset[str]  # the names its loop collection is built from
    loop_names: tuple[str, ...]
    accounts: tuple[Node, ...]  # the `account:` of each storage role it grants


def role_loops(main_text: str) -> list[RoleLoop]:
    loops = []
    for module in modules(main_text):
        loop = module.loop
        if module.path != ROLE_MODULE or loop is None:
            continue
        roles = module.params.get("storageRoles") or Array(())
        if not isinstance(roles, Array) or not all(isinstance(i, Object) for i in roles.items):
            raise BicepSyntaxError(f"{module.symbol}: storageRoles is not a list of objects")
        items = [item for item in roles.items if isinstance(item, Object)]
        role_names = set()
        for item in items:
            role = item.get("role")
            if not (isinstance(role, Str) and len(role.parts) == 1
                    and isinstance(role.parts[0], str)):
                raise BicepSyntaxError(f"{module.symbol}: a storage role is not a plain name")
            role_names.add(role.parts[0])
        loops.append(RoleLoop(
            module=module.symbol,
            side=_side(role_names),
            collection=frozenset(free_names(loop.collection)),
            loop_names=loop.names,
            accounts=tuple(item.get("account") or Literal(None) for item in items),
        ))
    return loops


def _function_app_module(main_text: str) -> Module:
    path = FUNCTION_APP_MODULE.relative_to("infra").as_posix()
    found = [module for module in modules(main_text) if module.path == path]
    if len(found) != 1:
        raise BicepSyntaxError(f"main.bicep deploys {path} {len(found)} times, not once")
    return found[0]


def setting_inputs(root: Path, setting: str, stop: set[str]) -> set[str]:
    """What main.bicep builds the app setting `setting` from: its value followed through
    functionapp.bicep's vars to its params, to what main.bicep passes them, through
    main.bicep's vars, down to params, modules, or the names in `stop` (kept as they are).
    A name of functionapp.bicep that leads nowhere in main.bicep comes back as
    'functionapp.bicep:<name>'."""
    main_text = (root / MAIN_BICEP).read_text(encoding="utf-8")
    app_text = (root / FUNCTION_APP_MODULE).read_text(encoding="utf-8")
    _, main_vars, _ = declarations(main_text)
    app_params, app_vars, _ = declarations(app_text)
    passed = _function_app_module(main_text).params
    module_name = FUNCTION_APP_MODULE.name

    def in_main(node: Node, seen: frozenset[str]) -> set[str]:
        found: set[str] = set()
        for name in free_names(node):
            if name in stop or name not in main_vars or name in seen:
                found.add(name)
            else:
                found |= in_main(main_vars[name], seen | {name})
        return found

    def in_app(node: Node, seen: frozenset[str]) -> set[str]:
        found: set[str] = set()
        for name in free_names(node):
            if name in app_vars and name not in seen:
                found |= in_app(app_vars[name], seen | {name})
            elif name in app_params and passed.get(name) is not None:
                given = passed.get(name)
                assert given is not None
                found |= in_main(given, frozenset())
            else:  # a default, a resource, or unknown
                found.add(f"{module_name}:{name}")
        return found

    settings = app_settings(root / FUNCTION_APP_MODULE)
    value = settings.always.get(setting, settings.conditional.get(setting))
    if value is None:
        raise KeyError(setting)
    return in_app(parse_expression(value), frozenset())


def allow_list_wiring_problems(root: Path) -> list[str]:
    """Why the allow-list settings could name other accounts than the role assignments do;
    empty when each is built from exactly the lists the role modules of its side loop over."""
    main_text = (root / MAIN_BICEP).read_text(encoding="utf-8")
    settings = app_settings(root / FUNCTION_APP_MODULE)
    problems = []
    feeds: dict[str, set[str]] = {side: set() for side in ALLOW_LISTS}
    for loop in role_loops(main_text):
        if loop.side is not None:
            feeds[loop.side] |= loop.collection
        for account in loop.accounts:
            other = free_names(account) - set(loop.loop_names)
            if other or not free_names(account):
                problems.append(f"{loop.module}: its accounts are not built from its loop item "
                                f"alone (also from {sorted(other)})")
    for side, setting in ALLOW_LISTS.items():
        if not feeds[side]:
            problems.append(f"no role module loops over {side} accounts")
        if setting not in settings.always:
            problems.append(f"{setting} is not always set by {FUNCTION_APP_MODULE}")
            continue
        inputs = setting_inputs(root, setting, feeds["source"] | feeds["sink"])
        if inputs != feeds[side]:
            problems.append(f"{setting} is built from {sorted(inputs)}, but the {side} role "
                            f"assignments from {sorted(feeds[side])}")
    return problems


def function_app_setting(root: Path, setting: str, given: dict[str, object]) -> object:
    """The value of an app setting when main.bicep is deployed with the parameters `given`
    (the others take their defaults); Unknown(...) for what only a deployment knows."""
    main_text = (root / MAIN_BICEP).read_text(encoding="utf-8")
    main = Scope(main_text, given)
    passed = _function_app_module(main_text).params

    def from_main(name: str) -> object:
        value = passed.get(name)
        if value is None:
            raise BicepEvaluationError(f"main.bicep passes no {name} to the Function App")
        return main.evaluate(value)

    app = Scope((root / FUNCTION_APP_MODULE).read_text(encoding="utf-8"), {}, outer=from_main)
    value = app_settings(root / FUNCTION_APP_MODULE).always.get(setting)
    if value is None:
        raise KeyError(setting)
    return app.evaluate(parse_expression(value))


def _instances(scope: Scope, node: Node, bound: dict[str, object]) -> list[dict[str, object]]:
    """The loop variables of each deployment of a module value (none when its `if` is false)."""
    if isinstance(node, Guarded):
        condition = scope.evaluate(node.condition, bound)
        return _instances(scope, node.body, bound) if condition is True else []
    if isinstance(node, ForLoop):
        items = scope.evaluate(node.collection, bound)
        if not isinstance(items, list):
            raise BicepEvaluationError(f"a module loops over {items!r}")
        found = []
        for index, item in enumerate(items):
            inner = {**bound, node.names[0]: item}
            if len(node.names) > 1:
                inner[node.names[1]] = index
            found += _instances(scope, node.body, inner)
        return found
    return [bound]


def storage_role_grants(root: Path, given: dict[str, object]) -> dict[str, set[object]]:
    """side -> the accounts main.bicep grants a role of that side on, deployed with `given`:
    names, or Unknown(...) for an account known only at deployment (the app's own)."""
    main_text = (root / MAIN_BICEP).read_text(encoding="utf-8")
    main = Scope(main_text, given)
    grants: dict[str, set[object]] = {side: set() for side in ALLOW_LISTS}
    for module in modules(main_text):
        if module.path != ROLE_MODULE:
            continue
        roles = module.params.get("storageRoles") or Array(())
        for bound in _instances(main, module.value, {}):
            for item in Scope._list(main.evaluate(roles, bound)):
                if not isinstance(item, dict):
                    raise BicepEvaluationError(f"{module.symbol}: storage role {item!r}")
                side = _side({str(item["role"])})
                if side is not None:
                    grants[side].add(item["account"])
    return grants


def allow_list_mismatches(root: Path, given: dict[str, object]) -> list[str]:
    """Deployed with `given`, where the allow-lists and the role assignments disagree: an
    allowed account without the roles of its side, or an account with them that is not
    allowed (the app's own work account aside: the code never allows it)."""
    work_account = function_app_setting(root, "DDD_WORK_ACCOUNT", given)
    grants = storage_role_grants(root, given)
    problems = []
    for side, setting in ALLOW_LISTS.items():
        value = function_app_setting(root, setting, given)
        if not isinstance(value, str):
            problems.append(f"{setting} is {value!r}, not text")
            continue
        allowed: set[object] = {entry.strip() for entry in value.split(",") if entry.strip()}
        granted = {account.lower() if isinstance(account, str) else account
                   for account in grants[side]} - {work_account}
        if allowed != granted:
            problems.append(
                f"{setting}={value!r}: allowed without {side} roles: "
                f"{sorted(map(str, allowed - granted))}; with {side} roles but not allowed: "
                f"{sorted(map(str, granted - allowed))}")
    return problems
