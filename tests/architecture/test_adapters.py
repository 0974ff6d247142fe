"""The Functions modules are thin adapters: the import-linter contracts (`make lint`) keep the
layers of `shared/`; these keep each activity one small function under its name."""

from __future__ import annotations

import ast
from pathlib import Path

from shared.core.activities import Activity

REPO = Path(__file__).resolve().parents[2]
ACTIVITIES = sorted(path for path in (REPO / "activities").glob("*.py")
                    if path.name != "__init__.py")
MOST_STATEMENTS = 3  # an activity reads its settings and calls into shared/: no logic here


def test_every_activity_name_has_its_module_and_every_module_its_name() -> None:
    assert {path.stem for path in ACTIVITIES} == {activity.value for activity in Activity}


def test_an_activity_module_holds_one_short_function_registered_under_its_name() -> None:
    for path in ACTIVITIES:
        tree = ast.parse(path.read_text())
        functions = [node for node in tree.body if isinstance(node, ast.FunctionDef)]
        assert len(functions) == 1, path.name
        (function,) = functions
        body = [node for node in function.body
                if not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant))]
        assert len(body) <= MOST_STATEMENTS, f"{path.name}: logic belongs in shared/"
        names = [node for node in tree.body if isinstance(node, ast.Assign)
                 and any(isinstance(target, ast.Name) and target.id == "NAME"
                         for target in node.targets)]
        assert len(names) == 1, path.name
        assert ast.unparse(names[0].value) == f"Activity.{path.stem.upper()}.value", path.name
