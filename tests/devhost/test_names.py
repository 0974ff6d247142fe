"""Function and binding names the Functions host rejects stop devhost at start, named.

azure-functions-host ``src/WebJobs.Script/Utility.cs``: ``FunctionNameValidationRegex``
``^[a-z][a-z0-9_\\-]{0,127}$(?<!^host$)`` (ignore case), ``ValidateName`` ("'{0}' is not a
valid function name."), ``ValidateBinding`` ("The binding name {0} is invalid. Please assign a
valid name to the binding."); ``WorkerFunctionMetadataProvider.ValidateMetadata`` /
``ValidateBindings`` ("Multiple bindings with name '{0}' discovered. Binding names must be
unique."); ``ScriptHostLoggerExtension`` ("The '{functionName}' function is in error: ...").
Binding names: ``^(?!.*__)([a-zA-Z_][a-zA-Z0-9_]{0,127}|\\$return)$`` since host 4.1038
(azure-functions-host pull request #10764, "Allow snake case for binding names").
"""

import pytest

from devhost.functions import name_errors
from devhost.launcher import DevHostProcess

BAD_APP = '''
import azure.durable_functions as df
import azure.functions as func

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.function_name(name="bad.name")
@app.activity_trigger(input_name="value")
def bad_name(value: int) -> int:
    return value


@app.activity_trigger(input_name="my__value")
def double_underscore(my__value: int) -> int:
    return my__value


@app.activity_trigger(input_name="fine_value")
def snake_case_is_fine(fine_value: int) -> int:
    return fine_value
'''


def test_names_the_host_rejects_stop_devhost_at_start(tmp_path):
    app_dir = tmp_path / "app"
    app_dir.mkdir()
    (app_dir / "function_app.py").write_text(BAD_APP)
    host = DevHostProcess(app_dir / "function_app.py", tmp_path / "state")
    try:
        with pytest.raises(RuntimeError, match="devhost exited at start"):
            host.start(timeout=30)
    finally:
        host.stop()  # in case it did start
    logs = host.logs()
    assert host.process is not None and host.process.returncode == 1
    assert ("The 'bad.name' function is in error: 'bad.name' is not a valid function name."
            in logs)
    assert ("The 'double_underscore' function is in error: The binding name my__value is "
            "invalid. Please assign a valid name to the binding." in logs)
    assert "snake_case_is_fine" not in logs  # valid names are not reported
    assert "Traceback" not in logs  # a clear error, not a crash


@pytest.mark.parametrize(("name", "valid"), [
    ("copy_chunk", True), ("Copy-Chunk", True), ("a" * 128, True),
    ("a" * 129, False), ("host", False), ("HOST", False), ("hosts", True),
    ("1chunk", False), ("_chunk", False), ("copy.chunk", False), ("cöpy", False),
])
def test_function_names_as_the_host_checks_them(name, valid):
    errors = name_errors(name, [{"type": "activityTrigger", "name": "value"}])
    assert (errors == []) is valid, errors


@pytest.mark.parametrize(("binding", "valid"), [
    ("value", True), ("chunk_input", True), ("_", True), ("_private", True), ("$return", True),
    ("a" * 128, True), ("a" * 129, False), ("my__value", False), ("__", False),
    ("1value", False), ("my-value", False), ("$other", False),
])
def test_binding_names_as_the_host_checks_them(binding, valid):
    errors = name_errors("fine", [{"type": "activityTrigger", "name": binding}])
    assert (errors == []) is valid, errors


def test_duplicate_binding_names_are_refused_ignoring_case():
    errors = name_errors("fine", [{"type": "httpTrigger", "name": "req"},
                                  {"type": "durableClient", "name": "Req"}])
    assert errors == ["The 'fine' function is in error: Multiple bindings with name 'Req' "
                      "discovered. Binding names must be unique."]
