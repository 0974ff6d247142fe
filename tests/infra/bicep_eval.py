"""Evaluating Bicep expressions on sample parameters, as Azure Resource Manager would.

The part of the language infra/ uses: literals, strings with interpolation, arrays, objects,
member and index access, the operators, for-expressions, lambdas, and the functions in
FUNCTIONS. What only a deployment knows (a module output, a resource's id) evaluates to
Unknown; what subscription(), resourceGroup() and tenant() answer comes from a Deployment.
Anything else raises BicepEvaluationError instead of guessing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

from arm import (
    CONTEXT,
    FUNCTIONS,
    OPERATORS,
    SYMBOLIC,
    BicepEvaluationError,
    Deployment,
    DeploymentFailure,
    Unknown,
    text,
)
from bicep import (
    BicepFile,
    Declared,
    Node,
    array_items,
    condition_of,
    declaration_body,
    lambda_parts,
    loop_of,
    named_children,
    property_key,
    string_parts,
    text_of,
    where,
)


@dataclass(frozen=True)
class _Closure:
    names: tuple[str, ...]
    body: Node
    scope: Scope
    bound: dict[str, object]
    accesses: tuple[Node, ...] = ()  # see Scope.evaluate: they belong to the body

    def __call__(self, *args: object) -> object:
        return self.scope.evaluate(self.body, {**self.bound, **bind(self.names, *args)},
                                   self.accesses)


@dataclass(frozen=True)
class ModuleDeployment:
    """One deployment of a module: its loop variables in the parent, and its own scope."""

    bound: dict[str, object]
    scope: Scope


@dataclass
class Scope:
    """The names of one Bicep file with given parameter values; vars evaluate on demand.

    `passed` gives a parameter's value from the parent (for a module: the expression its
    parent passes in), raising KeyError for one it does not pass."""

    file: BicepFile
    given: Mapping[str, object] = field(default_factory=dict)
    passed: Callable[[str], object] | None = None
    deployment: Deployment = field(default_factory=Deployment)
    _cache: dict[str, object] = field(default_factory=dict, repr=False)

    def lookup(self, name: str) -> object:
        if name in self.given:
            return self.given[name]
        if name in self._cache:
            return self._cache[name]
        if name in self.file.variables:
            value = self.evaluate(self.file.variables[name])
        elif name in self.file.params:
            value = self._param(name)
        elif name in self.file.symbols:
            value = Unknown(name)
        else:
            raise BicepEvaluationError(f"{self.file.path.name}: unknown name {name}")
        self._cache[name] = value
        return value

    def _param(self, name: str) -> object:
        if self.passed is not None:
            try:
                return self.passed(name)
            except KeyError:
                pass
        default = self.file.params[name].default
        if default is None:
            raise BicepEvaluationError(f"{self.file.path.name}: parameter {name} has no value")
        return self.evaluate(default)

    def evaluate(self, node: Node, bound: dict[str, object] | None = None,
                 accesses: tuple[Node, ...] = ()) -> object:
        """The value of an expression; `bound` holds loop and lambda variables, `accesses`
        member and index accesses (`.name`, `[index]`) to apply to it.

        tree-sitter-bicep 1.1.0 gives those accesses a lower precedence than the operators:
        it reads `c ? a : b.name` as `(c ? a : b).name`, `x == y[0]` as `(x == y)[0]`, and
        `id => split(id, '/')[8]` as an index of the lambda. Bicep hangs an access on the
        operand just before it, so an access found above an operator, a condition or a
        lambda is applied to its rightmost operand; a parenthesized one keeps its own."""
        bound = bound or {}
        if node.type in ("member_expression", "subscript_expression"):
            target = node.child_by_field_name("object")
            assert target is not None
            return self.evaluate(target, bound, (node, *accesses))
        if node.type in ("ternary_expression", "binary_expression", "unary_expression",
                         "lambda_expression"):
            return self._operator(node, bound, accesses)
        value = self._value(node, bound)
        for access in accesses:
            value = self.access(access, value, bound)
        return value

    def _value(self, node: Node, bound: dict[str, object]) -> object:
        kind = node.type
        parts = named_children(node)
        if kind == "number":
            return int(text_of(node))
        if kind == "boolean":
            return text_of(node) == "true"
        if kind == "null":
            return None
        if kind == "identifier":
            name = text_of(node)
            return bound[name] if name in bound else self.lookup(name)
        if kind == "parenthesized_expression":
            return self.evaluate(parts[0], bound)
        if kind == "string":
            pieces = [part if isinstance(part, str) else self.evaluate(part, bound)
                      for part in string_parts(node)]
            if any(isinstance(piece, Unknown) for piece in pieces):
                return Unknown("".join(p.path if isinstance(p, Unknown) else text(p)
                                       for p in pieces))
            return "".join(text(piece) for piece in pieces)
        if kind == "array":
            return [self.evaluate(item, bound) for item in array_items(node)]
        if kind == "object":
            found = {}
            for item in parts:
                if item.type == "object_property":
                    key, *_, value = named_children(item)
                    name = property_key(item)
                    if name is None:  # a computed key: '${identityId}'
                        computed = self.evaluate(key, bound)
                        name = computed.path if isinstance(computed, Unknown) else text(computed)
                    found[name] = self.evaluate(value, bound)
            return found
        if kind == "call_expression":
            return self._call(node, bound)
        loop = loop_of(node)
        if loop is not None:
            results = []
            for position, item in enumerate(self._list(loop.collection, bound)):
                inner = {**bound, **bind(loop.names, item, position)}
                guarded = condition_of(loop.body)
                if guarded is None:
                    results.append(self.evaluate(loop.body, inner))
                elif self._boolean(guarded[0], inner):
                    results.append(self.evaluate(guarded[1], inner))
            return results
        raise BicepEvaluationError(f"{where(node)}: cannot evaluate {text_of(node)[:60]}")

    def _operator(self, node: Node, bound: dict[str, object],
                  accesses: tuple[Node, ...]) -> object:
        """A condition, an operator or a lambda; `accesses` go to its rightmost operand."""
        if node.type == "lambda_expression":
            names, body = lambda_parts(node)
            return _Closure(names, body, self, dict(bound), accesses)
        if node.type == "ternary_expression":
            if self._boolean(node.child_by_field_name("condition"), bound):
                consequence = node.child_by_field_name("consequence")
                assert consequence is not None
                return self.evaluate(consequence, bound)
            alternative = node.child_by_field_name("alternative")
            assert alternative is not None
            return self.evaluate(alternative, bound, accesses)
        if node.type == "unary_expression":
            operator = node.child_by_field_name("operator")
            if operator is not None and text_of(operator) == "!":
                return not self._boolean(node.child_by_field_name("argument"), bound, accesses)
            raise BicepEvaluationError(f"{where(node)}: cannot evaluate {text_of(node)}")
        return self._binary(node, bound, accesses)

    def _boolean(self, node: Node | None, bound: dict[str, object],
                 accesses: tuple[Node, ...] = ()) -> bool:
        assert node is not None
        value = self.evaluate(node, bound, accesses)
        if not isinstance(value, bool):
            raise BicepEvaluationError(f"{where(node)}: {text_of(node)} is {value!r}, not bool")
        return value

    def _list(self, node: Node, bound: dict[str, object]) -> list[object]:
        value = self.evaluate(node, bound)
        if not isinstance(value, list):
            raise BicepEvaluationError(f"{where(node)}: not an array: {value!r}")
        return value

    def access(self, node: Node, target: object, bound: dict[str, object]) -> object:
        """`target.name`, `target.?name` or `target[index]`, `node` being that expression."""
        if node.type == "subscript_expression":
            index = node.child_by_field_name("index")
            assert index is not None
            return _index(target, self.evaluate(index, bound), node)
        name_node = node.child_by_field_name("property")
        assert name_node is not None
        name = text_of(name_node)
        safe = any(child.type == ".?" for child in node.children)
        if isinstance(target, Unknown):
            return Unknown(f"{target.path}.{name}")
        if isinstance(target, dict) and name in target:
            return target[name]
        if safe and (target is None or isinstance(target, dict)):
            return None
        raise BicepEvaluationError(f"{where(node)}: no property {name} in {target!r}")

    def _call(self, node: Node, bound: dict[str, object]) -> object:
        function_node = node.child_by_field_name("function")
        arguments = node.child_by_field_name("arguments")
        assert function_node is not None and arguments is not None
        name = text_of(function_node)
        args = [self.evaluate(argument, bound) for argument in named_children(arguments)]
        if name in CONTEXT and not args:
            return self.deployment.context(name)
        if name == "resourceGroup" and len(args) == 2:  # the scope of a module
            return {"subscription": args[0], "name": args[1]}
        if name in ("filter", "map") and len(args) == 2 and isinstance(args[1], _Closure):
            items = args[0] if isinstance(args[0], list) else []
            mapped = [args[1](item) for item in items]
            if name == "map":
                return mapped
            return [item for item, keep in zip(items, mapped, strict=True) if keep is True]
        if any(isinstance(arg, Unknown) for arg in args):
            if name in SYMBOLIC:
                return Unknown(f"{name}({', '.join(_describe(arg) for arg in args)})")
            raise BicepEvaluationError(f"{where(node)}: {name}() of a deployment-time value")
        if name not in FUNCTIONS:
            raise BicepEvaluationError(f"{where(node)}: function {name}() is not known here")
        try:
            return FUNCTIONS[name](*args)
        except (TypeError, AttributeError, IndexError, ValueError) as error:
            raise BicepEvaluationError(f"{where(node)}: {name}({args!r}): {error}") from None

    def _binary(self, node: Node, bound: dict[str, object],
                accesses: tuple[Node, ...]) -> object:
        operator_node = node.child_by_field_name("operator")
        left_node, right_node = (node.child_by_field_name(side) for side in ("left", "right"))
        assert operator_node is not None and left_node is not None and right_node is not None
        operator = text_of(operator_node)
        _check_left_operand(node, operator, left_node)
        if operator in ("&&", "||"):
            left = self._boolean(left_node, bound)
            if left is (operator == "||"):  # false && ..., true || ...
                return left
            return self._boolean(right_node, bound, accesses)
        left = self.evaluate(left_node, bound)
        if operator == "??":
            return self.evaluate(right_node, bound, accesses) if left is None else left
        right = self.evaluate(right_node, bound, accesses)
        if isinstance(left, Unknown) or isinstance(right, Unknown):
            raise BicepEvaluationError(f"{where(node)}: {text_of(node)} at deployment time")
        if operator in ("==", "!="):
            return (left == right) == (operator == "==")
        if operator in ("=~", "!~"):
            return (text(left).lower() == text(right).lower()) == (operator == "=~")
        if operator in OPERATORS:
            return OPERATORS[operator](left, right)
        raise BicepEvaluationError(f"{where(node)}: operator {operator}")

    # ------------------------------------------------------------ declarations

    def instances(self, value: Node, bound: dict[str, object] | None = None
                  ) -> list[dict[str, object]]:
        """The loop variables of each deployment of a resource or module value (none when
        its `if` is false)."""
        bound = bound or {}
        loop = loop_of(value)
        if loop is not None:
            found = []
            for position, item in enumerate(self._list(loop.collection, bound)):
                inner = {**bound, **bind(loop.names, item, position)}
                found += self.instances(loop.body, inner)
            return found
        guarded = condition_of(value)
        if guarded is not None:
            return self.instances(guarded[1], bound) if self._boolean(guarded[0], bound) else []
        return [bound]

    def resource_bodies(self, declared: Declared) -> list[dict[str, object]]:
        """Each deployment of a resource, its body evaluated."""
        body = declaration_body(declared.value)
        return [_as_dict(self.evaluate(body, bound)) for bound in self.instances(declared.value)]

    def module_deployments(self, symbol: str) -> list[ModuleDeployment]:
        """Each deployment of a module: its file evaluated with what this file passes it."""
        module = self.file.module(symbol)
        child = BicepFile.read(self.file.path.parent / module.target)
        found = []
        for bound in self.instances(module.value):
            def passed(name: str, bound: dict[str, object] = bound) -> object:
                return self.evaluate(module.params[name], bound)  # KeyError: not passed
            found.append(ModuleDeployment(bound, Scope(
                child, passed=passed, deployment=self._module_target(module, bound))))
        return found

    def _module_target(self, module: Declared, bound: dict[str, object]) -> Deployment:
        """Where a module deploys: the resource group its `scope:` names, else this one's."""
        scope = module.body.get("scope")
        if scope is None:
            return self.deployment
        if scope.type == "identifier" and text_of(scope) in self.file.symbols:
            (group,) = (r for r in self.file.resources if r.symbol == text_of(scope))
            name = self.evaluate(group.body["name"])
            return replace(self.deployment, resource_group=text(name))
        value = self.evaluate(scope, bound)
        if isinstance(value, dict) and "subscription" in value:
            return replace(self.deployment, subscription_id=text(value["subscription"]),
                           resource_group=text(value["name"]))
        raise BicepEvaluationError(f"{where(scope)}: module scope {text_of(scope)}")


# The binary operators' precedences in tree-sitter-bicep's grammar (its PREC table).
_PRECEDENCE = {"??": 0, "||": 1, "&&": 2, "==": 6, "!=": 6, "=~": 6, "!~": 6, ">": 7, ">=": 7,
               "<": 7, "<=": 7, "+": 10, "-": 10, "*": 11, "/": 11, "%": 11}


def _check_left_operand(node: Node, operator: str, left: Node) -> None:
    """Refuse `x && y.z == w`: the grammar reads it `((x && y).z) == w`, and hanging `.z` on
    `y` (see Scope.evaluate) would still leave `==` outside the `&&` that Bicep puts it in.
    Parentheses, `x && (y.z == w)`, say it unambiguously."""
    target = left
    while target.type in ("member_expression", "subscript_expression"):
        found = target.child_by_field_name("object")
        assert found is not None
        target = found
    if target is left or target.type not in ("binary_expression", "ternary_expression",
                                             "unary_expression", "lambda_expression"):
        return
    inner = target.child_by_field_name("operator")
    inner_precedence = _PRECEDENCE.get(text_of(inner), 13) if inner is not None else -1
    if target.type in ("ternary_expression", "lambda_expression") or \
            _PRECEDENCE[operator] > inner_precedence:
        raise BicepEvaluationError(
            f"{where(node)}: {text_of(node)[:60]} is read differently by tree-sitter-bicep "
            "and by Bicep: add parentheses")


def bind(names: tuple[str, ...], *values: object) -> dict[str, object]:
    """Loop or lambda variables: `(item, index)` binds as many values as it names."""
    return dict(zip(names, values[:len(names)], strict=True))


def _describe(value: object) -> str:
    return value.path if isinstance(value, Unknown) else repr(value)


def _as_dict(value: object) -> dict[str, object]:
    if not isinstance(value, dict):
        raise BicepEvaluationError(f"not an object: {value!r}")
    return value


def _index(value: object, key: object, node: Node) -> object:
    if isinstance(value, Unknown):
        return Unknown(f"{value.path}[{_describe(key)}]")
    if isinstance(value, list) and isinstance(key, int) and not isinstance(key, bool) \
            and 0 <= key < len(value):
        return value[key]
    if isinstance(value, dict) and isinstance(key, str):
        if key not in value:
            raise DeploymentFailure(f"The language expression property '{key}' doesn't exist, "
                                    f"available properties are '{', '.join(value)}'.")
        return value[key]
    raise BicepEvaluationError(f"{where(node)}: index {key!r} out of {value!r}")
