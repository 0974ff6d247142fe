"""Reading Bicep files: the tree-sitter Bicep grammar parses them, this module names their parts.

No Bicep compiler can be installed here (the Bicep CLI is a download from GitHub releases), so
the checks read the templates with tree-sitter-bicep, a maintained grammar published on PyPI,
and evaluate what they need with bicep_eval.py. A file the grammar cannot parse raises
BicepSyntaxError with the place; so does a construct this module does not name.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import tree_sitter_bicep
from tree_sitter import Language, Node, Parser

_PARSER = Parser(Language(tree_sitter_bicep.language()))
_ESCAPES = {"\\\\": "\\", "\\'": "'", "\\n": "\n", "\\r": "\r", "\\t": "\t", "\\$": "$"}


class BicepSyntaxError(ValueError):
    pass


def text_of(node: Node) -> str:
    return (node.text or b"").decode("utf-8")


def where(node: Node) -> str:
    line, column = node.start_point
    return f"line {line + 1}, column {column + 1}"


def named_children(node: Node) -> list[Node]:
    """The node's named children, comments left out."""
    return [child for child in node.named_children if child.type != "comment"]


def string_parts(node: Node) -> Iterator[str | Node]:
    """A string literal's text pieces (escapes resolved) and its interpolated expressions."""
    if node.type != "string":
        raise BicepSyntaxError(f"{where(node)}: not a string: {text_of(node)}")
    source = node.text or b""
    children = node.children
    if children and children[0].type == "'''":  # multi-line: verbatim, no interpolation
        yield source[3:-3].decode("utf-8")
        return
    position, end = node.start_byte + 1, node.end_byte - 1

    def gap(until: int) -> str:  # text the grammar keeps in no child: spaces, an escaped \$
        raw = source[position - node.start_byte:until - node.start_byte].decode("utf-8")
        return _ESCAPES.get(raw, raw)

    for child in children:
        if child.type == "'":
            continue
        if child.start_byte > position:
            yield gap(child.start_byte)
        if child.type == "interpolation":
            (expression,) = named_children(child)
            yield expression
        elif child.type == "escape_sequence":
            yield _ESCAPES.get(text_of(child), text_of(child))
        else:
            yield text_of(child)
        position = child.end_byte
    if end > position:
        yield gap(end)


def plain_string(node: Node) -> str | None:
    """A string literal without interpolation, as its value; None for anything else."""
    if node.type != "string":
        return None
    parts = list(string_parts(node))
    return "".join(parts) if all(isinstance(part, str) for part in parts) else None


def property_key(node: Node) -> str | None:
    """The key of an object property: an identifier or a plain string (None: a computed one,
    such as '${identityId}')."""
    key = node.named_children[0]
    return plain_string(key) if key.type == "string" else text_of(key)


def object_entries(node: Node) -> dict[str, Node]:
    """The properties of an object literal: key -> value expression."""
    if node.type != "object":
        raise BicepSyntaxError(f"{where(node)}: not an object literal: {text_of(node)[:60]}")
    entries = {}
    for item in named_children(node):
        if item.type != "object_property":
            continue
        key = property_key(item)
        if key is None:
            raise BicepSyntaxError(f"{where(item)}: a computed key: {text_of(item)[:60]}")
        entries[key] = named_children(item)[-1]
    return entries


def array_items(node: Node) -> list[Node]:
    """The items of an array literal. tree-sitter-bicep 1.1.0 splits an item that starts with
    a call and goes on with an access, `resourceGroup().id` or `split(id, '/')[8]`, into
    several (`resourceGroup`, `().id`); Bicep puts one item on a line (or separates them with
    commas), so items sharing a line with no comma between are read again, as one expression."""
    items: list[list[Node]] = []
    comma_before = True
    for child in node.children:
        if child.type == ",":
            comma_before = True
        elif child.is_named and child.type != "comment":
            if items and not comma_before and \
                    items[-1][-1].end_point[0] == child.start_point[0]:
                items[-1].append(child)
            else:
                items.append([child])
            comma_before = False
    found = []
    for group in items:
        if len(group) == 1:
            found.append(group[0])
            continue
        source = (node.text or b"")[group[0].start_byte - node.start_byte:
                                    group[-1].end_byte - node.start_byte].decode("utf-8")
        found.append(BicepFile.parse(f"var item = {source}\n").variables["item"])
    return found


def declaration_body(value: Node) -> Node:
    """The object literal of a resource or module value, inside any `[for ...]` or `if`."""
    while value.type in ("for_statement", "if_statement"):
        value = named_children(value)[-1]
    if value.type != "object":
        raise BicepSyntaxError(f"{where(value)}: no body: {text_of(value)[:60]}")
    return value


@dataclass(frozen=True)
class Loop:
    """`[for item in collection: ...]` or `[for (item, index) in collection: ...]`."""

    names: tuple[str, ...]
    collection: Node
    body: Node


def loop_of(node: Node) -> Loop | None:
    if node.type != "for_statement":
        return None
    parts = named_children(node)
    if parts[0].type == "for_loop_parameters":
        names = tuple(text_of(name) for name in named_children(parts[0]))
    else:
        names = (text_of(parts[0]),)
    return Loop(names, parts[1], parts[2])


def condition_of(node: Node) -> tuple[Node, Node] | None:
    """`if (condition) body` -> (condition, body)."""
    if node.type != "if_statement":
        return None
    condition, body = named_children(node)
    while condition.type == "parenthesized_expression":
        (condition,) = named_children(condition)
    return condition, body


def lambda_parts(node: Node) -> tuple[tuple[str, ...], Node]:
    """`x => body` or `(x, i) => body` -> (('x', 'i'), body)."""
    head, body = named_children(node)
    names = named_children(head) if head.type == "parenthesized_expression" else [head]
    return tuple(text_of(name) for name in names), body


@dataclass(frozen=True)
class Param:
    name: str
    type: str
    default: Node | None
    decorators: dict[str, list[Node]]  # decorator name -> its arguments


@dataclass(frozen=True)
class Declared:
    """A `resource` or `module` declaration."""

    symbol: str
    target: str  # a resource's type (without @version), a module's path
    existing: bool
    value: Node  # an object, or a for_statement / if_statement around one

    @property
    def body(self) -> dict[str, Node]:
        return object_entries(declaration_body(self.value))

    @property
    def params(self) -> dict[str, Node]:
        params = self.body.get("params")
        return {} if params is None else object_entries(params)


def _decorators(node: Node) -> dict[str, list[Node]]:
    found = {}
    for decorator in named_children(node):
        call = named_children(decorator)[0]
        if call.type != "call_expression":
            raise BicepSyntaxError(f"{where(decorator)}: decorator {text_of(decorator)}")
        function = call.child_by_field_name("function")
        arguments = call.child_by_field_name("arguments")
        assert function is not None and arguments is not None
        found[text_of(function)] = named_children(arguments)
    return found


@dataclass
class BicepFile:
    path: Path
    root: Node
    params: dict[str, Param] = field(default_factory=dict)
    variables: dict[str, Node] = field(default_factory=dict)
    resources: list[Declared] = field(default_factory=list)
    modules: list[Declared] = field(default_factory=list)
    outputs: dict[str, Node] = field(default_factory=dict)
    target_scope: str = "resourceGroup"

    @classmethod
    def read(cls, path: Path) -> BicepFile:
        return cls.parse(path.read_text(encoding="utf-8"), path)

    @classmethod
    def parse(cls, text: str, path: Path = Path("main.bicep")) -> BicepFile:
        root = _PARSER.parse(text.encode("utf-8")).root_node
        if root.has_error:
            bad = [node for node in walk(root) if node.is_error or node.is_missing][-1]
            raise BicepSyntaxError(f"{path}: {where(bad)}: cannot parse {text_of(bad)[:60]!r}")
        found = cls(path, root)
        decorators: dict[str, list[Node]] = {}
        for node in named_children(root):
            parts = named_children(node)
            if node.type == "decorators":
                decorators = _decorators(node)
                continue
            if node.type == "parameter_declaration":
                name, kind = text_of(parts[0]), text_of(parts[1])
                default = parts[2] if len(parts) > 2 else None
                found.params[name] = Param(name, kind, default, decorators)
            elif node.type == "variable_declaration":
                found.variables[text_of(parts[0])] = parts[-1]
            elif node.type == "output_declaration":
                found.outputs[text_of(parts[0])] = parts[-1]
            elif node.type in ("resource_declaration", "module_declaration"):
                target = plain_string(parts[1]) or ""
                declared = Declared(
                    symbol=text_of(parts[0]), target=target.split("@")[0],
                    existing=any(child.type == "existing" for child in node.children),
                    value=parts[-1])
                (found.resources if node.type == "resource_declaration"
                 else found.modules).append(declared)
            elif node.type == "target_scope_assignment":
                found.target_scope = plain_string(parts[0]) or ""
            elif node.type not in ("metadata_declaration", "type_declaration"):
                raise BicepSyntaxError(f"{path}: {where(node)}: unexpected {node.type}")
            decorators = {}
        return found

    def resources_of_type(self, resource_type: str) -> list[Declared]:
        return [declared for declared in self.resources
                if declared.target.lower() == resource_type.lower()]

    def module(self, symbol: str) -> Declared:
        for declared in self.modules:
            if declared.symbol == symbol:
                return declared
        raise KeyError(symbol)

    @property
    def symbols(self) -> set[str]:
        return {declared.symbol for declared in self.resources + self.modules}


def walk(node: Node) -> Iterator[Node]:
    """The node and everything under it, in source order."""
    yield node
    for child in node.children:
        yield from walk(child)


def free_names(node: Node, bound: frozenset[str] = frozenset()) -> set[str]:
    """The names an expression refers to (params, vars, modules, resources), without function
    names, property names, object keys, or the names its loops and lambdas bind."""
    if node.type == "identifier":
        name = text_of(node)
        return set() if name in bound else {name}
    if node.type == "call_expression":
        arguments = node.child_by_field_name("arguments")
        assert arguments is not None
        return free_names(arguments, bound)
    if node.type == "member_expression":
        target = node.child_by_field_name("object")
        assert target is not None
        return free_names(target, bound)
    if node.type == "object_property":
        return free_names(named_children(node)[-1], bound)
    if node.type == "lambda_expression":
        names, body = lambda_parts(node)
        return free_names(body, bound | set(names))
    loop = loop_of(node)
    if loop is not None:
        return free_names(loop.collection, bound) | free_names(loop.body, bound | set(loop.names))
    found: set[str] = set()
    for child in array_items(node) if node.type == "array" else named_children(node):
        found |= free_names(child, bound)
    return found
