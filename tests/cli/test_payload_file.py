"""`--json FILE` of `start` and `dry-run`: a file that is not a JSON object is a usage error
naming the file and the problem (exit 2, click's convention), never a traceback. Click checks
the option before anything is called, so no stack is needed."""

from __future__ import annotations

import json

import pytest

from shared.core.request import DeliveryRequest
from tests.cli.stack_commands import REPO, CommandLine

BROKEN = '{\n  "Source_StorageAccount": "sequencingcore",\n  "Sink_StorageAccount" "labsmith"\n}\n'


@pytest.fixture(params=["start", "dry-run"])
def command(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def refused(command_line: CommandLine, *args: str, stdin: str | None = None) -> str:
    """The error text of a run click refuses as a usage error."""
    answer = command_line(*args, stdin=stdin, timeout=60)
    assert answer.returncode == 2, answer.stdout + answer.stderr
    assert "Traceback" not in answer.stderr and answer.stdout == ""
    assert "Invalid value for '--json'" in answer.stderr
    return answer.stderr


def test_malformed_json_names_the_file_the_problem_and_where(command_line, command):
    (command_line.cwd / "payload.json").write_text(BROKEN)
    error = refused(command_line, command, "--json", "payload.json")
    assert "payload.json is not valid JSON: Expecting ':' delimiter at line 3, column 25" in error


def test_a_missing_file_is_named(command_line, command):
    error = refused(command_line, command, "--json", "no-such-payload.json")
    assert "'no-such-payload.json': No such file or directory" in error


@pytest.mark.parametrize(("content", "kind"), [("[1, 2]", "array"), ('"4321"', "string"),
                                                ("4321", "number"), ("null", "null")])
def test_json_that_is_not_an_object_is_refused(command_line, command, content, kind):
    (command_line.cwd / "payload.json").write_text(content)
    error = refused(command_line, command, "--json", "payload.json")
    assert f"payload.json holds a JSON {kind}, not an object with the website's keys" in error


def test_a_file_that_is_not_utf8_is_refused(command_line, command):
    (command_line.cwd / "payload.json").write_bytes(b'{"Sink_TopLevelFolder": "caf\xe9"}')
    assert "payload.json is not UTF-8 text" in refused(command_line, command, "--json",
                                                       "payload.json")


def test_malformed_json_on_stdin_is_named_stdin(command_line, command):
    error = refused(command_line, command, "--json", "-", stdin='{"Webhook_DeliveryID": ')
    assert "stdin is not valid JSON: Expecting value at line 1, column 24" in error


def test_the_shipped_payload_has_the_websites_keys_and_leaves_the_uuid_to_each_start():
    shipped = json.loads((REPO / "demo" / "payload.json").read_text())
    website_keys = {field.alias for field in DeliveryRequest.model_fields.values()}
    assert set(shipped) == website_keys - {"Webhook_TransferUUID"}
