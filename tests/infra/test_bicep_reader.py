"""The Bicep reader and evaluator the other checks stand on: they read what infra/ writes, and
refuse loudly what they do not know instead of guessing."""

from __future__ import annotations

import pytest
from bicep import BicepFile, BicepSyntaxError, free_names, plain_string
from bicep_eval import BicepEvaluationError, Deployment, Scope, Unknown
from deployment import app_settings

FUNCTION_APP_BICEP = """\
var base = {
  // a comment with DDD_COMMENTED: 'x'
  DDD_PRESENT: 'https://{account}.blob.${environment().suffixes.storage}'
  'DDD_QUOTED': string(5)
  DDD_NESTED: union(tags, { DDD_NOT_A_SETTING: 'tag' })
}
var extra = enabled ? {
  DDD_OPTIONAL: 'x'
} : {}
resource siteSettings 'Microsoft.Web/sites/config@2024-04-01' = {
  parent: site
  name: 'appsettings'
  properties: union(base, extra)
}
"""


def _evaluate(source: str, name: str, **given: object) -> object:
    return Scope(BicepFile.parse(source), given).lookup(name)


def test_the_app_settings_reader_reads_keys_not_values_or_comments(tmp_path):
    bicep = tmp_path / "functionapp.bicep"
    bicep.write_text(FUNCTION_APP_BICEP)
    settings = app_settings(bicep)
    assert set(settings.always) == {"DDD_PRESENT", "DDD_QUOTED", "DDD_NESTED"}
    assert set(settings.conditional) == {"DDD_OPTIONAL"}


def test_unreadable_bicep_fails_loudly(tmp_path):
    bicep = tmp_path / "functionapp.bicep"
    bicep.write_text("resource site 'Microsoft.Web/sites@2024-04-01' = {\n  name: 'x'\n}\n")
    with pytest.raises(BicepSyntaxError, match="no app settings"):
        app_settings(bicep)
    with pytest.raises(BicepSyntaxError, match="cannot parse"):
        BicepFile.parse("var a = {\n  b: 'unterminated\n}\n")


@pytest.mark.parametrize(("source", "expected"), [
    ("var x = 'it\\'s ${p}/${toLower(\"A\")}'", None),  # not Bicep: double quotes
    ("var x = 'it\\'s ${p}!'", "it's v!"),
    ("var x = '''\nno ${p} here\n'''", "\nno ${p} here\n"),
    ("var x = filter(split('a,,b,', ','), e => !empty(e))", ["a", "b"]),
    ("var x = map(['a/b', 'c/d'], e => split(e, '/')[1])", ["b", "d"]),
    ("var x = replace('a b , c', ' ', '')", "ab,c"),
    ("var x = [\n  split('a/b', '/')[1]\n  resourceGroup().name\n  'c', 'd'\n]",
     ["b", "rg-ddd-test", "c", "d"]),
    ("var x = [for (e, i) in ['a', 'b']: '${i}${e}']", ["0a", "1b"]),
    ("var x = length(split('/s/x', '/')) > 2 ? 'long' : 'short'", "long"),
    ("var x = max(1, 2) == 2 && !empty(p) || false", True),
    ("var x = indexOf(['a', 'b', 'a'], 'a')", 0),
    ("var x = join(take(split('/a/b/c', '/'), 3), '/')", "/a/b"),
    ("var x = {\n  a: null\n}.?b ?? 'default'", "default"),
    # tree-sitter-bicep reads these accesses as applied to the whole condition or comparison
    ("var o = {\n  p: 'x'\n  n: 1\n}\nvar x = [true ? 'a' : o.p, false ? 'a' : o.p, 1 == o.n]",
     ["a", "x", True]),
    ("var o = {\n  f: [false]\n}\nvar x = !o.f[0] && ((o).f == [false])", True),
])
def test_expressions_evaluate_as_arm_would(source, expected):
    if expected is None:
        with pytest.raises(BicepSyntaxError):
            BicepFile.parse(source)
        return
    assert _evaluate(source + "\n", "x", p="v") == expected


def test_the_evaluator_refuses_what_it_does_not_know():
    source = ("param p string\nvar unknown = reduce([1], 0, (a, b) => a)\n"
              "var short = split('a/b', '/')[8]\nvar sum = 'a' == 1 ? 1 : 2\n"
              "var ambiguous = true && [1][0] == 1\n"
              "resource r 'x@1' existing = {\n  name: 'r'\n}\nvar late = r.id == 'x'\n")
    scope = Scope(BicepFile.parse(source), {})
    for name in ("unknown", "short", "p", "late"):
        with pytest.raises(BicepEvaluationError):
            scope.lookup(name)
    with pytest.raises(BicepEvaluationError, match="add parentheses"):
        scope.lookup("ambiguous")
    assert scope.lookup("sum") == 2


def test_deployment_time_values_stay_symbolic_and_the_context_is_the_deployments():
    source = ("resource r 'x@1' existing = {\n  name: 'r'\n}\n"
              "var id = guid(r.id, 'role')\n"
              "var role = 'sender ${guid(subscription().id, resourceGroup().id)}'\n")
    one = Scope(BicepFile.parse(source), {}, deployment=Deployment(resource_group="rg-a"))
    assert one.lookup("id") == Unknown("guid(r.id, 'role')")
    other = Scope(BicepFile.parse(source), {}, deployment=Deployment(resource_group="rg-b"))
    assert one.lookup("role") != other.lookup("role")
    assert plain_string(BicepFile.parse("var s = 'plain'\n").variables["s"]) == "plain"


def test_free_names_leave_out_what_loops_and_lambdas_bind():
    file = BicepFile.parse(
        "var x = [for (id, i) in ids: filter(split(id, sep), e => !empty(e) && e != other)]\n")
    assert free_names(file.variables["x"]) == {"ids", "sep", "other"}
